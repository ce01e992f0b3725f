//! Property tests of every text parser a user's upload reaches: for any
//! bytes (and for inputs shaped like each format), extraction and chunking
//! never panic, and what they produce is bounded by what came in.

use proptest::prelude::*;

use super::tests::docx;
use super::*;
use crate::engine::knowledge::chunk_document;

/// Reads `bytes` as `format` and checks the output's bounds.
fn read_bounded(bytes: &[u8], format: DocumentFormat) {
    let Ok(doc) = extract_as(bytes, format) else {
        return;
    };
    let text = doc.text();
    // Lossy decoding may turn a byte into U+FFFD (3 bytes); table rows
    // repeat their column names; nothing else adds text.
    assert!(text.len() <= 3 * bytes.len() + 64 * 1024 || format == DocumentFormat::Csv);
    // (A table row adds a colon to a column name.)
    assert!(
        text.split_whitespace()
            .all(|w| w.chars().count() <= MAX_WORD_CHARS + 1)
    );
    for chunk in chunk_document(&doc) {
        assert!(chunk.tokens <= 600, "chunk of {} tokens", chunk.tokens);
    }
}

/// Strings built from the characters that matter to each format's syntax.
fn markup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "<", ">", "</", "/>", "<div>", "</div>", "<p>", "<li>", "<ul>", "<table>", "<tr>", "<td>",
        "<th>", "<script>", "&amp;", "&#", "\"", ",", "\n", "\r\n", " ", "#", "- ", "> ", "* ",
        "|", "---", "`", "[", "](", ")", "word", "x", "é", "\u{0}", "\u{FEFF}",
    ]);
    prop::collection::vec(pieces, 0..200).prop_map(|p| p.concat())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_read_as_any_text_format(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        for format in [
            DocumentFormat::Text,
            DocumentFormat::Csv,
            DocumentFormat::Markdown,
            DocumentFormat::Html,
            DocumentFormat::Docx,
        ] {
            read_bounded(&bytes, format);
        }
    }

    #[test]
    fn markup_shaped_input_reads(text in markup()) {
        for format in [
            DocumentFormat::Text,
            DocumentFormat::Csv,
            DocumentFormat::Markdown,
            DocumentFormat::Html,
        ] {
            read_bounded(text.as_bytes(), format);
        }
    }

    #[test]
    fn csv_shaped_input_reads(
        rows in prop::collection::vec(
            prop::collection::vec("[a-z\" ,\n]{0,12}", 0..8),
            0..30,
        )
    ) {
        let csv: String = rows.iter().map(|r| r.join(",") + "\n").collect();
        read_bounded(csv.as_bytes(), DocumentFormat::Csv);
    }

    #[test]
    fn docx_shaped_input_reads(text in markup()) {
        let xml = format!("<w:document><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:body></w:document>");
        read_bounded(&docx(&xml), DocumentFormat::Docx);
        read_bounded(&docx(&text), DocumentFormat::Docx);
    }
}

/// Found by `any_bytes_read_as_any_text_format`: Markdown whose first line is
/// a heading of 1,270 bytes of noise. Its heading path is embedded with every
/// chunk, and took most of the window on top of the body's share.
#[test]
fn a_huge_heading_leaves_every_chunk_within_the_window() {
    let bytes = include_bytes!("regressions/chunk-over-window.bin");
    for format in [DocumentFormat::Markdown, DocumentFormat::Text] {
        read_bounded(bytes, format);
        let doc = extract_as(bytes, format).expect("it reads");
        for chunk in chunk_document(&doc) {
            let max = crate::engine::knowledge::ChunkOptions::default().max_tokens;
            assert!(
                chunk.tokens <= max,
                "{format:?}: chunk of {} tokens",
                chunk.tokens
            );
        }
    }
}
