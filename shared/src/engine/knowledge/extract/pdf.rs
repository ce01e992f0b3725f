//! PDF: `lopdf` loads (and detects encryption), `pdf-extract` lays out the
//! text of each page. Both can panic on malformed files, so the whole read
//! runs under `catch_unwind`. `lopdf` bounds the nesting of objects it
//! parses and walks the page tree with a depth and an iteration limit (a
//! cycle ends the walk);
//! the budget is checked between pages and the text kept is metered.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::Document;

use super::guard::TextMeter;
use super::{Block, BlockKind, Budget, ExtractError, collapse_whitespace};

const FORMAT: &str = "PDF";

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
