use std::io::Write;

use lopdf::dictionary;

use super::*;

#[path = "../../../../tests/support/pdf.rs"]
pub(super) mod pdf_writer;

fn kinds(doc: &ExtractedDocument) -> Vec<(BlockKind, &str)> {
    doc.blocks
        .iter()
        .map(|b| (b.kind.clone(), b.text.as_str()))
        .collect()
}

#[test]
fn format_comes_from_magic_then_mime_then_extension() {
    use DocumentFormat::*;
    assert_eq!(
        DocumentFormat::detect(b"%PDF-1.7 ...", "text/plain", Some("a.txt")),
        Some(Pdf)
    );
    assert_eq!(
        DocumentFormat::detect(b"a,b", "text/csv; charset=utf-8", None),
        Some(Csv)
    );
    assert_eq!(
        DocumentFormat::detect(b"# x", "application/octet-stream", Some("Notes.MD")),
        Some(Markdown)
    );
    assert_eq!(
        DocumentFormat::detect(b"# x", "text/plain", Some("notes.md")),
        Some(Markdown)
    );
    assert_eq!(DocumentFormat::detect(b"x", "text/plain", None), Some(Text));
    assert_eq!(
        DocumentFormat::detect(b"PK..", "", Some("offer.docx")),
        Some(Docx)
    );
    assert_eq!(
        DocumentFormat::detect(b"GIF89a", "image/gif", Some("x.gif")),
        None
    );
}

#[test]
fn an_unknown_type_names_the_accepted_ones() {
    let err = extract(b"GIF89a", "image/gif", Some("cat.gif")).unwrap_err();
    assert_eq!(
        err,
        ExtractError::Unsupported {
            accepted: ACCEPTED_TYPES
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("application/pdf") && message.contains("text/csv"),
        "{message}"
    );
    assert!(matches!(
        crate::Error::from(err),
        crate::Error::UnsupportedMediaType(_)
    ));
}

#[test]
fn plain_text_paragraphs_and_bullets() {
    let doc = extract(
        b"\xEF\xBB\xBFFirst line\nstill first.\n\n- one\n- two\n\nLast.",
        "text/plain",
        None,
    )
    .unwrap();
    assert_eq!(
        kinds(&doc),
        vec![
            (BlockKind::Paragraph, "First line still first."),
            (BlockKind::ListItem, "one"),
            (BlockKind::ListItem, "two"),
            (BlockKind::Paragraph, "Last."),
        ]
    );
    assert_eq!(doc.text(), "First line still first.\none\ntwo\nLast.");
}

#[test]
fn plain_text_title_lines_become_headings() {
    let doc = extract(
        b"Kessler Auto Works\n\nPaying\n\nPayment is due when you collect the car.\n\n\
          Opening hours\n\nMonday to Friday 8 to 6\n\nSaturday 9 to 1\n\nDeposits\n\n- parts\n",
        "text/plain",
        None,
    )
    .unwrap();
    assert_eq!(
        kinds(&doc),
        vec![
            // The file's title, over the first section's heading.
            (BlockKind::Heading(1), "Kessler Auto Works"),
            (BlockKind::Heading(2), "Paying"),
            (
                BlockKind::Paragraph,
                "Payment is due when you collect the car."
            ),
            // Lines of a list without bullets are content, never headings.
            (BlockKind::Paragraph, "Opening hours"),
            (BlockKind::Paragraph, "Monday to Friday 8 to 6"),
            (BlockKind::Paragraph, "Saturday 9 to 1"),
            (BlockKind::Heading(2), "Deposits"),
            (BlockKind::ListItem, "parts"),
        ]
    );
    let titled = extract(b"Terms\n\nWe bill monthly.", "text/plain", None).unwrap();
    assert_eq!(titled.blocks[0].kind, BlockKind::Heading(1));
}

#[test]
fn empty_files_have_no_text() {
    assert_eq!(
        extract(b"  \n\n ", "text/plain", None),
        Err(ExtractError::NoText)
    );
}

#[test]
fn csv_rows_carry_their_header_names() {
    let doc = extract(
        b"plan,price,seats\nPro,$49,5\n\nTeam, $99 ,20\n",
        "text/csv",
        None,
    )
    .unwrap();
    let texts: Vec<&str> = doc.blocks.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "plan: Pro; price: $49; seats: 5",
            "plan: Team; price: $99; seats: 20"
        ]
    );
    assert_eq!(
        doc.blocks[0].kind,
        BlockKind::TableRow {
            headers: vec!["plan".into(), "price".into(), "seats".into()],
            cells: vec!["Pro".into(), "$49".into(), "5".into()],
        }
    );
}

#[test]
fn markdown_keeps_headings_lists_and_tables() {
    let md = "# Acme\n\nWe bake **bread** daily.\n\n## Hours\n\n- Mon: 9-5\n- Sat: `10-2`\n\n| Plan | Price |\n|---|---|\n| Pro | $49 |\n";
    let doc = extract(md.as_bytes(), "text/markdown", None).unwrap();
    assert_eq!(
        kinds(&doc),
        vec![
            (BlockKind::Heading(1), "Acme"),
            (BlockKind::Paragraph, "We bake bread daily."),
            (BlockKind::Heading(2), "Hours"),
            (BlockKind::ListItem, "Mon: 9-5"),
            (BlockKind::ListItem, "Sat: 10-2"),
            (
                BlockKind::TableRow {
                    headers: vec!["Plan".into(), "Price".into()],
                    cells: vec!["Pro".into(), "$49".into()]
                },
                "Plan: Pro; Price: $49"
            ),
        ]
    );
}

#[test]
fn html_drops_chrome_and_keeps_structure() {
    let html = r#"<html><head><title>Acme Bakery</title><style>p{color:red}</style></head>
      <body><nav><a href="/">Home</a> <a href="/menu">Menu</a></nav>
      <script>var x = "secret";</script>
      <h1>Welcome</h1><div>Fresh <b>bread</b> every day.<p>Open &amp; friendly.</p></div>
      <ul><li>Rye<ul><li>Dark rye</li></ul></li><li>Spelt</li></ul>
      <table><tr><th>Item</th><th>Price</th></tr><tr><td>Loaf</td><td>$4</td></tr></table>
      <footer>Call 555-0100</footer></body></html>"#;
    let doc = extract(html.as_bytes(), "text/html", None).unwrap();
    assert_eq!(doc.title.as_deref(), Some("Acme Bakery"));
    assert_eq!(
        kinds(&doc),
        vec![
            (BlockKind::Heading(1), "Welcome"),
            (BlockKind::Paragraph, "Fresh bread every day."),
            (BlockKind::Paragraph, "Open & friendly."),
            (BlockKind::ListItem, "Rye"),
            (BlockKind::ListItem, "Dark rye"),
            (BlockKind::ListItem, "Spelt"),
            (
                BlockKind::TableRow {
                    headers: vec!["Item".into(), "Price".into()],
                    cells: vec!["Loaf".into(), "$4".into()]
                },
                "Item: Loaf; Price: $4"
            ),
            (BlockKind::Paragraph, "Call 555-0100"),
        ]
    );
    let text = html_to_text(html);
    assert!(
        text.starts_with("Welcome\n\nFresh bread every day."),
        "{text}"
    );
    assert!(!text.contains("secret") && !text.contains("Menu") && !text.contains("color"));
}

pub(super) fn docx(document_xml: &str) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(b"<Types/>").unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(document_xml.as_bytes()).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

#[test]
fn docx_heading_styles_lists_and_tables() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Returns</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Returns within </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>30 days</w:t></w:r><w:r><w:t> &amp; free.</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="0"/></w:numPr></w:pPr><w:r><w:t>Keep the receipt</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Fees</w:t></w:r></w:p>
<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Item</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Fee</w:t></w:r></w:p></w:tc></w:tr>
<w:tr><w:tc><w:p><w:r><w:t>Sofa</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>$25</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
<w:p/>
</w:body></w:document>"#;
    let doc = extract(&docx(xml), "application/octet-stream", Some("policy.docx")).unwrap();
    assert_eq!(doc.format, DocumentFormat::Docx);
    assert_eq!(
        kinds(&doc),
        vec![
            (BlockKind::Heading(1), "Returns"),
            (BlockKind::Paragraph, "Returns within 30 days & free."),
            (BlockKind::ListItem, "Keep the receipt"),
            (BlockKind::Heading(2), "Fees"),
            (
                BlockKind::TableRow {
                    headers: vec!["Item".into(), "Fee".into()],
                    cells: vec!["Sofa".into(), "$25".into()]
                },
                "Item: Sofa; Fee: $25"
            ),
        ]
    );
}

#[test]
fn a_broken_docx_is_a_clear_error() {
    let err = extract(b"PK\x03\x04 not really", "", Some("x.docx")).unwrap_err();
    assert!(
        matches!(err, ExtractError::Corrupt { format: "DOCX", .. }),
        "{err:?}"
    );
    let err = extract(&[0xD0, 0xCF, 0x11, 0xE0, 0, 0], "", Some("locked.docx")).unwrap_err();
    assert_eq!(err, ExtractError::Encrypted { format: "DOCX" });
}

#[test]
fn pdf_text_comes_out_in_paragraphs() {
    let pdf = pdf_writer::pdf_from_pages(&[
        vec![
            "Delivery Areas".into(),
            "We deliver within 10 miles of the shop. Orders over $30 ship free.".into(),
        ],
        vec!["Second page text.".into()],
    ]);
    let doc = extract(&pdf, "application/pdf", Some("d.pdf")).unwrap();
    assert_eq!(
        kinds(&doc),
        vec![
            (BlockKind::Heading(2), "Delivery Areas"),
            (
                BlockKind::Paragraph,
                "We deliver within 10 miles of the shop. Orders over $30 ship free."
            ),
            (BlockKind::Paragraph, "Second page text."),
        ]
    );
}

#[test]
fn corrupt_and_encrypted_pdfs_fail_cleanly() {
    for bytes in [
        &b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj trailer"[..],
        b"%PDF-",
        b"%PDF-1.7\n%\xff\xff\n",
    ] {
        let err = extract(bytes, "application/pdf", None).unwrap_err();
        assert!(
            matches!(
                err,
                ExtractError::Corrupt { format: "PDF", .. } | ExtractError::NoText
            ),
            "{err:?}"
        );
    }
    // A real PDF whose pages are truncated away.
    let pdf = pdf_writer::pdf_from_pages(&[vec!["Hello there.".into()]]);
    let err = extract(&pdf[..pdf.len() / 2], "application/pdf", None);
    assert!(err.is_err());

    let mut doc = lopdf::Document::load_mem(&pdf).unwrap();
    let encrypt = doc.add_object(dictionary! {
        "Filter" => "Standard", "V" => 1, "R" => 2, "P" => -4,
        "O" => lopdf::Object::string_literal(vec![7u8; 32]),
        "U" => lopdf::Object::string_literal(vec![9u8; 32]),
    });
    doc.trailer.set("Encrypt", encrypt);
    doc.trailer.set(
        "ID",
        vec![
            lopdf::Object::string_literal(vec![1u8; 16]),
            lopdf::Object::string_literal(vec![1u8; 16]),
        ],
    );
    let mut locked = Vec::new();
    doc.save_to(&mut locked).unwrap();
    assert_eq!(
        extract(&locked, "application/pdf", None),
        Err(ExtractError::Encrypted { format: "PDF" })
    );
}
