//! DOCX: a zip archive (`zip`) whose `word/document.xml` (`quick-xml`) holds
//! paragraphs (`w:p`) with a style (`w:pStyle`: `Heading1`.., `Title`,
//! `ListParagraph`), runs of text (`w:t`) and tables (`w:tbl` / `w:tr` /
//! `w:tc`). Heading styles become heading blocks; the first table row names
//! the columns of the rest.

use std::io::{BufRead, BufReader, Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::guard::TextMeter;
use super::{Block, BlockKind, Budget, ExtractError, collapse_whitespace};

const FORMAT: &str = "DOCX";
/// Most `word/document.xml` is inflated to. The XML is parsed as it inflates
/// (never held whole), so this bounds CPU; memory is bounded by the text kept
/// ([`super::MAX_TEXT_BYTES`]). A zip bomb fails at this limit.
pub(super) const MAX_DOCUMENT_XML: u64 = 32 * 1024 * 1024;

fn corrupt(reason: impl ToString) -> ExtractError {
    ExtractError::Corrupt {
        format: FORMAT,
        reason: reason.to_string(),
    }
}

fn too_large() -> ExtractError {
    ExtractError::TooLarge {
        what: "word/document.xml",
        limit_mb: (MAX_DOCUMENT_XML / (1024 * 1024)) as usize,
    }
}

pub(super) fn blocks(bytes: &[u8], budget: &Budget) -> Result<Vec<Block>, ExtractError> {
    // A password-protected Word file is an OLE compound file, not a zip.
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(ExtractError::Encrypted { format: FORMAT });
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    let entry = archive
        .by_name("word/document.xml")
        .map_err(|_| corrupt("word/document.xml is missing"))?;
    // The size the archive declares can lie; the bounded reader cannot.
    if entry.size() > MAX_DOCUMENT_XML {
        return Err(too_large());
    }
    let mut limited = BufReader::new(entry.take(MAX_DOCUMENT_XML + 1));
    let parsed = parse_document(&mut limited, budget);
    // Whatever the parser left unread must still fit under the limit; a
    // parse cut short by the limit is a size error, not a syntax error.
    if parsed.is_ok() {
        std::io::copy(&mut limited, &mut std::io::sink()).map_err(corrupt)?;
    }
    if limited.get_ref().limit() == 0 {
        return Err(too_large());
    }
    parsed
}

/// The paragraph being read.
#[derive(Default)]
struct Paragraph {
    text: String,
    style: Option<String>,
    numbered: bool,
}

impl Paragraph {
    fn kind(&self) -> BlockKind {
        let style = self
            .style
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if style == "title" {
            return BlockKind::Heading(1);
        }
        if let Some(level) = style
            .strip_prefix("heading")
            .and_then(|n| n.trim().parse::<u8>().ok())
        {
            return BlockKind::Heading(level.clamp(1, 6));
        }
        if self.numbered || style.starts_with("list") {
            return BlockKind::ListItem;
        }
        BlockKind::Paragraph
    }
}

fn parse_document(xml: impl BufRead, budget: &Budget) -> Result<Vec<Block>, ExtractError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut meter = TextMeter::default();
    let mut blocks = Vec::new();
    let mut paragraph: Option<Paragraph> = None;
    let mut in_text = false;
    // Table state: depth of `w:tbl` nesting, the current row's cells, the
    // current cell's text and the header row of the outermost table.
    let mut table_depth = 0usize;
    let mut headers: Option<Vec<String>> = None;
    let mut row: Vec<String> = Vec::new();
    let mut cell: Option<String> = None;

    loop {
        budget.check()?;
        buf.clear();
        let event = reader.read_event_into(&mut buf).map_err(corrupt)?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().as_ref() {
                    "p" if !empty => paragraph = Some(Paragraph::default()),
                    "pStyle" => {
                        if let Some(p) = paragraph.as_mut() {
                            p.style = attribute(e, "val");
                        }
                    }
                    "numPr" => {
                        if let Some(p) = paragraph.as_mut() {
                            p.numbered = true;
                        }
                    }
                    "t" if !empty => in_text = true,
                    "tab" | "br" | "cr" => {
                        if let Some(p) = paragraph.as_mut() {
                            p.text.push(' ');
                        }
                    }
                    "tbl" if !empty => {
                        table_depth += 1;
                        if table_depth == 1 {
                            headers = None;
                        }
                    }
                    "tr" if !empty => row.clear(),
                    "tc" if !empty => cell = Some(String::new()),
                    _ => {}
                }
            }
            Event::Text(ref t) if in_text => {
                if let Some(p) = paragraph.as_mut() {
                    let text = t.xml10_content();
                    meter.add(text.len())?;
                    p.text.push_str(&text);
                }
            }
            Event::GeneralRef(ref r) if in_text => {
                let resolved = match r.resolve_char_ref().map_err(corrupt)? {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r.xml10_content())
                        .unwrap_or_default()
                        .to_owned(),
                };
                if let Some(p) = paragraph.as_mut() {
                    meter.add(resolved.len())?;
                    p.text.push_str(&resolved);
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                "t" => in_text = false,
                "p" => {
                    if let Some(p) = paragraph.take() {
                        let text = collapse_whitespace(&p.text);
                        if let Some(cell) = cell.as_mut() {
                            if !cell.is_empty() && !text.is_empty() {
                                cell.push(' ');
                            }
                            cell.push_str(&text);
                        } else if !text.is_empty() {
                            blocks.push(Block::new(p.kind(), text));
                        }
                    }
                }
                "tc" => {
                    if let Some(text) = cell.take() {
                        row.push(text);
                    }
                }
                "tr" => {
                    let cells = std::mem::take(&mut row);
                    if cells.iter().all(String::is_empty) {
                        continue;
                    }
                    match headers.as_ref() {
                        None => headers = Some(cells),
                        Some(h) => blocks.push(Block::table_row_under(h, cells)),
                    }
                }
                "tbl" => {
                    table_depth = table_depth.saturating_sub(1);
                    // A table of one row has no data rows: keep its text.
                    if table_depth == 0
                        && let Some(h) = headers.take().filter(|_| !blocks_has_rows(&blocks))
                    {
                        blocks.push(Block::new(BlockKind::Paragraph, h.join("; ")));
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(blocks)
}

/// Whether the last block is a table row (the table just closed had data).
fn blocks_has_rows(blocks: &[Block]) -> bool {
    matches!(
        blocks.last().map(|b| &b.kind),
        Some(BlockKind::TableRow { .. })
    )
}

fn attribute(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .map(|a| a.value.into_owned())
}
