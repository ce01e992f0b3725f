//! PDF: `lopdf` loads (and detects encryption), `pdf-extract` lays out the
//! text of each page. Both can panic on malformed files, so the whole read
//! runs under `catch_unwind`. `lopdf` bounds the nesting of objects it
//! parses and walks the page tree with a depth and an iteration limit (a
//! cycle ends the walk);
//! the budget is checked between pages and the text kept is metered.
//! Compressed streams are inflated here first, against one byte limit for the
//! whole file ([`MAX_INFLATED_BYTES`]): `lopdf` would inflate each without a
//! bound, so a few kilobytes of Flate could ask for gigabytes. Object streams,
//! which `lopdf` inflates while it loads the file, are measured in the raw
//! bytes before it does.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use flate2::read::ZlibDecoder;
use lopdf::{Document, Object, Stream};

use super::guard::TextMeter;
use super::{Block, BlockKind, Budget, ExtractError, collapse_whitespace};

const FORMAT: &str = "PDF";

/// The most bytes the compressed streams of one PDF (page contents, fonts'
/// character maps, forms) may inflate to, all together.
pub const MAX_INFLATED_BYTES: usize = 128 * 1024 * 1024;

pub(super) fn blocks(bytes: &[u8], budget: &Budget) -> Result<Vec<Block>, ExtractError> {
    let pages = catch_unwind(AssertUnwindSafe(|| page_texts(bytes, budget))).map_err(|_| {
        ExtractError::Corrupt {
            format: FORMAT,
            reason: "the file is malformed".to_owned(),
        }
    })??;
    let mut blocks = Vec::new();
    for page in &pages {
        page_blocks(page, &mut blocks);
    }
    Ok(blocks)
}

fn page_texts(bytes: &[u8], budget: &Budget) -> Result<Vec<String>, ExtractError> {
    measure_object_streams(bytes, budget, MAX_INFLATED_BYTES)?;
    let mut doc = Document::load_mem(bytes).map_err(|err| match err {
        lopdf::Error::Decryption(_) | lopdf::Error::InvalidPassword => {
            ExtractError::Encrypted { format: FORMAT }
        }
        other => ExtractError::Corrupt {
            format: FORMAT,
            reason: other.to_string(),
        },
    })?;
    // An owner-password-only PDF opens with the empty user password; any
    // other encrypted PDF cannot be read without its password.
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(ExtractError::Encrypted { format: FORMAT });
    }
    inflate_streams(&mut doc, budget, MAX_INFLATED_BYTES)?;
    let mut texts = Vec::new();
    let mut meter = TextMeter::default();
    for page_number in doc.get_pages().keys() {
        budget.check()?;
        let mut text = String::new();
        let mut output = pdf_extract::PlainTextOutput::new(&mut text);
        pdf_extract::output_doc_page(&doc, &mut output, *page_number).map_err(|err| {
            ExtractError::Corrupt {
                format: FORMAT,
                reason: err.to_string(),
            }
        })?;
        meter.add(text.len())?;
        texts.push(text);
    }
    Ok(texts)
}

/// Inflates every Flate stream that text extraction may read, within `limit`
/// bytes for the whole file ([`MAX_INFLATED_BYTES`]). A plain Flate stream is stored
/// back inflated (so `lopdf` does not inflate it again, unbounded); one with
/// predictor parameters is only measured, since its inflated size bounds what
/// `lopdf` will produce from it. Images are skipped: text extraction never
/// decodes them. A stream that does not inflate is left for `lopdf` to report.
fn inflate_streams(doc: &mut Document, budget: &Budget, limit: usize) -> Result<(), ExtractError> {
    let mut total = 0usize;
    for object in doc.objects.values_mut() {
        let Ok(stream) = object.as_stream_mut() else {
            continue;
        };
        if is_image(stream) || !starts_with_flate(stream) {
            continue;
        }
        budget.check()?;
        let room = limit - total;
        let mut inflated = Vec::new();
        let decoder = ZlibDecoder::new(stream.content.as_slice());
        if decoder
            .take(room as u64 + 1)
            .read_to_end(&mut inflated)
            .is_err()
        {
            continue;
        }
        if inflated.len() > room {
            return Err(too_much_compressed(limit));
        }
        total += inflated.len();
        let plain_flate = matches!(stream.filters(), Ok(f) if f == [b"FlateDecode".as_slice()])
            && stream.dict.get(b"DecodeParms").is_err();
        if plain_flate {
            stream.set_plain_content(inflated);
        }
    }
    Ok(())
}

/// How far after `/ObjStm` its dictionary may still run before `stream`.
const MAX_DICTIONARY_BYTES: usize = 4096;

/// Inflates (into nothing) every object stream (`/Type /ObjStm`) of the raw
/// file, failing it when they would hold more than `limit` bytes together:
/// `lopdf` inflates them whole while loading, before [`inflate_streams`] can
/// see them. A stream that does not inflate (not Flate, encrypted) counts as
/// its raw size, which `lopdf` then reads as it is.
fn measure_object_streams(bytes: &[u8], budget: &Budget, limit: usize) -> Result<(), ExtractError> {
    let mut total = 0usize;
    for at in memchr::memmem::find_iter(bytes, b"/ObjStm") {
        budget.check()?;
        let after = &bytes[at..];
        let window = &after[..after.len().min(MAX_DICTIONARY_BYTES)];
        let Some(keyword) = memchr::memmem::find(window, b"stream") else {
            continue;
        };
        let mut data = &after[keyword + b"stream".len()..];
        data = data.strip_prefix(b"\r").unwrap_or(data);
        data = data.strip_prefix(b"\n").unwrap_or(data);
        let room = limit - total;
        let mut decoder = ZlibDecoder::new(data).take(room as u64 + 1);
        let inflated = std::io::copy(&mut decoder, &mut std::io::sink()).unwrap_or(0) as usize;
        if inflated > room {
            return Err(too_much_compressed(limit));
        }
        total += inflated;
    }
    Ok(())
}

fn too_much_compressed(limit: usize) -> ExtractError {
    ExtractError::TooLarge {
        what: "its compressed content",
        limit_mb: limit.div_ceil(1024 * 1024),
    }
}

fn is_image(stream: &Stream) -> bool {
    matches!(stream.dict.get(b"Subtype"), Ok(Object::Name(name)) if name == b"Image")
}

fn starts_with_flate(stream: &Stream) -> bool {
    matches!(stream.filters(), Ok(f) if f.first() == Some(&b"FlateDecode".as_slice()))
}

/// A page's text comes as laid-out lines; blank lines separate paragraphs.
/// A paragraph that is one short line without closing punctuation reads as a
/// heading (PDF keeps no structure, so this is a heuristic).
fn page_blocks(page: &str, blocks: &mut Vec<Block>) {
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |lines: &mut Vec<&str>| {
        if lines.is_empty() {
            return;
        }
        let text = collapse_whitespace(&lines.join(" "));
        let kind = if lines.len() == 1 && looks_like_heading(&text) {
            BlockKind::Heading(2)
        } else {
            BlockKind::Paragraph
        };
        lines.clear();
        if !text.is_empty() {
            blocks.push(Block::new(kind, text));
        }
    };
    for line in page.lines() {
        if line.trim().is_empty() {
            flush(&mut lines);
        } else {
            lines.push(line.trim());
        }
    }
    flush(&mut lines);
}

fn looks_like_heading(text: &str) -> bool {
    let words = text.split_whitespace().count();
    (1..=8).contains(&words)
        && text.chars().count() <= 60
        && !text.ends_with(['.', ',', ';', ':', '?', '!'])
        && text.chars().next().is_some_and(char::is_uppercase)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use lopdf::{Document, Stream, dictionary};

    use super::super::tests::pdf_writer;
    use super::*;

    fn compressed(size: usize) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..size / chunk.len() {
            encoder.write_all(&chunk).unwrap();
        }
        encoder.finish().unwrap()
    }

    /// A Flate stream of a few kilobytes that inflates past the limit fails the
    /// file as too large, before `lopdf` inflates it whole.
    #[test]
    fn a_flate_bomb_stops_at_the_limit() {
        let mut doc = Document::with_version("1.5");
        let bomb = compressed(4 * 1024 * 1024);
        assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
        doc.add_object(Stream::new(dictionary! { "Filter" => "FlateDecode" }, bomb));
        let err = inflate_streams(&mut doc, &Budget::unlimited(), 1024 * 1024).unwrap_err();
        assert!(
            matches!(err, ExtractError::TooLarge { limit_mb: 1, .. }),
            "{err:?}"
        );
    }

    /// An object stream that inflates past the limit fails the file before
    /// `lopdf` loads it (and inflates it whole).
    #[test]
    fn an_object_stream_bomb_stops_before_loading() {
        let bomb = compressed(4 * 1024 * 1024);
        let mut pdf = b"%PDF-1.5\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>\nstream\r\n".to_vec();
        pdf.extend_from_slice(&bomb);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        let err = measure_object_streams(&pdf, &Budget::unlimited(), 1024 * 1024).unwrap_err();
        assert!(
            matches!(err, ExtractError::TooLarge { limit_mb: 1, .. }),
            "{err:?}"
        );
        assert!(measure_object_streams(&pdf, &Budget::unlimited(), 8 * 1024 * 1024).is_ok());
        let err = page_texts(&pdf, &Budget::unlimited()).unwrap_err();
        assert!(
            !matches!(err, ExtractError::TooLarge { .. }),
            "4 MB is under the real limit"
        );
    }

    /// Compressed page contents are inflated once, stored plain, and read.
    #[test]
    fn compressed_pages_read_after_inflating() {
        let pdf = pdf_writer::pdf_from_pages(&[vec!["Opening hours are nine to five.".into()]]);
        let mut doc = Document::load_mem(&pdf).unwrap();
        for object in doc.objects.values_mut() {
            if let Ok(stream) = object.as_stream_mut() {
                let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
                encoder.write_all(&stream.content).unwrap();
                stream.set_content(encoder.finish().unwrap());
                stream.dict.set("Filter", "FlateDecode");
            }
        }
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        assert!(out.windows(11).any(|w| w == b"FlateDecode"));
        let pages = page_texts(&out, &Budget::unlimited()).unwrap();
        assert!(pages[0].contains("nine to five"), "{pages:?}");
    }
}
