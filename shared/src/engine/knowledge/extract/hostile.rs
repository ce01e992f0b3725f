//! Hostile inputs per parser: nesting 100,000 deep (each would overflow the
//! stack of a recursive walk), endless words (quadratic re-splitting before),
//! and inputs at the size limits. Each must end in bounded time with a
//! document or a clear error, never a crash.

use std::io::Write;

use super::tests::{docx, pdf_writer};
use super::*;
use crate::engine::knowledge::chunk_document;

const DEPTH: usize = 100_000;
const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// Extracts and chunks; every chunk keeps to the chunker's size.
fn read(bytes: &[u8], mime: &str) -> Result<ExtractedDocument, ExtractError> {
    let doc = extract(bytes, mime, None)?;
    for chunk in chunk_document(&doc) {
        assert!(chunk.tokens <= 600, "chunk of {} tokens", chunk.tokens);
    }
    Ok(doc)
}

fn nested(open: &str, middle: &str, close: &str) -> String {
    let mut s = String::with_capacity((open.len() + close.len()) * DEPTH + middle.len());
    for _ in 0..DEPTH {
        s.push_str(open);
    }
    s.push_str(middle);
    for _ in 0..DEPTH {
        s.push_str(close);
    }
    s
}

#[test]
fn one_endless_word_is_cut_not_rescanned() {
    let word = "x".repeat(1024 * 1024);
    for mime in ["text/plain", "text/markdown", "text/html", "text/csv"] {
        let doc = read(word.as_bytes(), mime).unwrap();
        let text = doc.text();
        assert_eq!(text.chars().count(), MAX_WORD_CHARS, "{mime}");
    }
    let doc = read(
        &docx(&format!("<w:p><w:r><w:t>{word}</w:t></w:r></w:p>")),
        DOCX,
    )
    .unwrap();
    assert_eq!(doc.text().len(), MAX_WORD_CHARS);
}

#[test]
fn the_chunker_cuts_a_word_longer_than_a_chunk() {
    // Straight to the chunker, past the extraction's word cap.
    let doc = ExtractedDocument {
        format: DocumentFormat::Text,
        title: None,
        blocks: vec![Block::new(BlockKind::Paragraph, "y".repeat(200_000))],
    };
    let chunks = chunk_document(&doc);
    assert!(chunks.len() > 50);
    assert!(chunks.iter().all(|c| c.tokens <= 450));
    let total: usize = chunks.iter().map(|c| c.text.len()).sum();
    assert_eq!(total, 200_000, "nothing lost, nothing repeated");
}

#[test]
fn deeply_nested_html_reads_without_recursion() {
    for (open, close) in [
        ("<div>", "</div>"),
        ("<span>", "</span>"),
        ("<ul><li>", "</li></ul>"),
        ("<table><tr><td>", "</td></tr></table>"),
    ] {
        let html = nested(open, "deep text", close);
        let doc = read(html.as_bytes(), "text/html").unwrap();
        assert!(doc.text().contains("deep text"), "{open}");
    }
}

#[test]
fn deeply_nested_markdown_reads() {
    for (open, close) in [("> ", ""), ("- ", ""), ("1. ", ""), ("*", "*"), ("[", "]")] {
        let md = nested(open, " deep text ", close);
        let doc = read(md.as_bytes(), "text/markdown").unwrap();
        assert!(doc.text().contains("deep text"), "{open}");
    }
}

#[test]
fn deeply_nested_docx_xml_reads() {
    let xml = nested(
        "<w:tbl><w:tr><w:tc>",
        "<w:p><w:r><w:t>deep text</w:t></w:r></w:p>",
        "</w:tc></w:tr></w:tbl>",
    );
    let doc = read(&docx(&xml), DOCX).unwrap();
    assert!(doc.text().contains("deep text"));
}

#[test]
fn a_docx_bomb_stops_inflating_at_the_limit() {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(b"<w:document><w:body><w:p><w:r><w:t>")
        .unwrap();
    let block = vec![b'a'; 1024 * 1024];
    for _ in 0..(docx::MAX_DOCUMENT_XML / (1024 * 1024) + 2) {
        zip.write_all(&block).unwrap();
    }
    zip.write_all(b"</w:t></w:r></w:p></w:body></w:document>")
        .unwrap();
    zip.finish().unwrap();
    let bomb = out.into_inner();
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    let err = extract(&bomb, "", Some("bomb.docx")).unwrap_err();
    assert_eq!(
        err,
        ExtractError::TooLarge {
            what: "word/document.xml",
            limit_mb: 32
        }
    );
    assert_eq!(
        err.to_string(),
        "the document is too large: word/document.xml exceeds 32 MB"
    );
}

#[test]
fn csv_with_an_unbalanced_quote_or_a_huge_header_reads() {
    let mut csv = String::from("name,notes\nann,\"never closed ");
    while csv.len() < 1024 * 1024 {
        csv.push_str("more words, and commas\n");
    }
    let doc = read(csv.as_bytes(), "text/csv").unwrap();
    assert_eq!(doc.blocks.len(), 1);

    // 100,000 columns named once, 2,000 rows of one cell: each row costs its
    // own size, not the header's.
    let mut csv = (0..DEPTH)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    for i in 0..2_000 {
        csv.push_str(&format!("\nv{i}"));
    }
    let doc = read(csv.as_bytes(), "text/csv").unwrap();
    assert_eq!(doc.blocks.len(), 2_000);
    assert_eq!(doc.blocks[5].text, "c0: v5");
}

#[test]
fn deeply_nested_and_cyclic_pdfs_fail_cleanly() {
    // Arrays nested 100,000 deep inside an object.
    let mut pdf = pdf_writer::pdf_from_pages(&[vec!["Hello there.".into()]]);
    let deep = nested("[", "1", "]");
    pdf.extend_from_slice(format!("\n99 0 obj\n{deep}\nendobj\n").as_bytes());
    let doc = read(&pdf, "application/pdf");
    assert!(doc.is_ok() || matches!(doc, Err(ExtractError::Corrupt { .. })));

    // A page tree whose node is its own kid.
    let cyclic = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
2 0 obj << /Type /Pages /Kids [2 0 R 2 0 R] /Count 2 >> endobj\n\
trailer << /Root 1 0 R >>\n%%EOF\n";
    let err = read(cyclic, "application/pdf").unwrap_err();
    assert!(
        matches!(err, ExtractError::NoText | ExtractError::Corrupt { .. }),
        "{err:?}"
    );
}

#[test]
fn a_spent_budget_stops_every_parser() {
    let budget = Budget::within(std::time::Duration::ZERO);
    let text = "word ".repeat(10_000);
    for format in [
        DocumentFormat::Text,
        DocumentFormat::Csv,
        DocumentFormat::Markdown,
        DocumentFormat::Html,
    ] {
        let err = extract_as_within(text.as_bytes(), format, &budget).unwrap_err();
        assert_eq!(err, ExtractError::TooSlow, "{format:?}");
    }
    let err = extract_as_within(&docx("<w:p/>"), DocumentFormat::Docx, &budget).unwrap_err();
    assert_eq!(err, ExtractError::TooSlow);
    let cancelled = Budget::unlimited();
    cancelled.cancel();
    let pdf = pdf_writer::pdf_from_pages(&[vec!["Hello there.".into()]]);
    let err = extract_as_within(&pdf, DocumentFormat::Pdf, &cancelled).unwrap_err();
    assert_eq!(err, ExtractError::TooSlow);
}

/// A small DOCX whose one text run is a 1 MB word, written with and without
/// zip64 headers (Word writes either): it reads, its word cut into pieces.
#[test]
fn a_small_docx_holding_a_one_megabyte_word_reads() {
    for zip64 in [false, true] {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(zip64);
        zip.start_file("word/document.xml", options).unwrap();
        zip.write_all(b"<w:document><w:body><w:p><w:r><w:t>")
            .unwrap();
        zip.write_all(&vec![b'a'; 1024 * 1024]).unwrap();
        zip.write_all(b"</w:t></w:r></w:p></w:body></w:document>")
            .unwrap();
        zip.finish().unwrap();
        let small = out.into_inner();
        assert!(small.len() < 4_096, "{} bytes", small.len());
        let doc = extract(&small, "", Some("word.docx")).unwrap();
        assert!(!crate::engine::knowledge::chunk_document(&doc).is_empty());
    }
}

/// A paragraph of unmatched inline delimiters (`*[`), on one line or many, is
/// read as text in linear time: pulldown-cmark's inline pass would take seconds
/// and gigabytes on 25 MB of it. Ordinary paragraphs keep their markup parsed.
#[test]
fn a_huge_paragraph_of_unmatched_delimiters_reads_as_text() {
    let one_line = "*[".repeat(1024 * 1024);
    let many_lines = "*[ *[ *[ *[ *[ *[ *[ *[\n".repeat(50_000);
    for input in [one_line, many_lines] {
        let doc = read(
            format!("# Notes\n\nSome *emphasis* here.\n\n{input}\n\n- after").as_bytes(),
            "text/markdown",
        )
        .unwrap();
        let text = doc.text();
        assert!(
            text.contains("Some emphasis here."),
            "markup outside is parsed"
        );
        assert!(
            text.contains("*[*[") || text.contains("*[ *["),
            "the huge paragraph is text"
        );
        assert!(text.contains("after"));
    }
}
