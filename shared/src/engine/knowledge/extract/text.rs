//! The text formats: plain text, CSV and Markdown.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::{Block, BlockKind, Budget, ExtractError, collapse_whitespace};

/// Plain text: blank lines separate paragraphs; lines starting with a bullet
/// (`-`, `*`, `•`, `1.`) are list items; a title line — a paragraph of one
/// short line without closing punctuation, followed by running text or a
/// list — is a heading (the first line of the file the top one), so the
/// chunks under it carry it in their heading path as Markdown's do.
pub(super) fn plain_blocks(text: &str, budget: &Budget) -> Result<Vec<Block>, ExtractError> {
    let mut blocks = Vec::new();
    // Whether each block was a paragraph of a single line.
    let mut single_line: Vec<bool> = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Block>, single: &mut Vec<bool>| {
        if !paragraph.is_empty() {
            blocks.push(Block::new(
                BlockKind::Paragraph,
                collapse_whitespace(&paragraph.join(" ")),
            ));
            single.push(paragraph.len() == 1);
            paragraph.clear();
        }
    };
    for line in text.lines() {
        budget.check()?;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut paragraph, &mut blocks, &mut single_line);
        } else if let Some(item) = list_item(trimmed) {
            flush(&mut paragraph, &mut blocks, &mut single_line);
            blocks.push(Block::new(BlockKind::ListItem, collapse_whitespace(item)));
            single_line.push(false);
        } else {
            paragraph.push(trimmed);
        }
    }
    flush(&mut paragraph, &mut blocks, &mut single_line);
    // From the end, so the file's first line knows whether a heading follows.
    for i in (0..blocks.len()).rev() {
        let body_follows = blocks.get(i + 1).is_some_and(|next| match next.kind {
            BlockKind::ListItem => true,
            BlockKind::Paragraph => {
                next.text.len() > blocks[i].text.len() && next.text.ends_with(['.', '!', '?', ':'])
            }
            // Only the title of the whole file may stand over a heading.
            BlockKind::Heading(_) => i == 0,
            BlockKind::TableRow { .. } => false,
        });
        if single_line[i] && body_follows && is_title_line(&blocks[i].text) {
            blocks[i].kind = BlockKind::Heading(if i == 0 { 1 } else { 2 });
        }
    }
    Ok(blocks)
}

/// A line that reads as a title: at most 12 words, no closing punctuation.
fn is_title_line(line: &str) -> bool {
    line.split_whitespace().count() <= 12
        && !line.ends_with(['.', '!', '?', ',', ';', ':'])
        && line.chars().next().is_some_and(char::is_alphanumeric)
}

/// The item text when `line` starts with a list bullet.
fn list_item(line: &str) -> Option<&str> {
    for bullet in ["- ", "* ", "• ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return Some(rest);
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let rest = &line[digits..];
        if let Some(item) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some(item);
        }
    }
    None
}

/// CSV: the first record names the columns; every other record is a table
/// row whose text pairs each cell with its column name. The reader is a
/// streaming state machine: an unbalanced quote makes one long field (cut
/// into words like any text), never a rescan.
pub(super) fn csv_blocks(text: &str, budget: &Budget) -> Result<Vec<Block>, ExtractError> {
    let corrupt = |err: csv::Error| ExtractError::Corrupt {
        format: "CSV",
        reason: err.to_string(),
    };
    budget.check()?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(corrupt)?
        .iter()
        .map(collapse_whitespace)
        .collect();
    let mut blocks = Vec::new();
    for record in reader.records() {
        budget.check()?;
        let record = record.map_err(corrupt)?;
        let cells: Vec<String> = record.iter().map(collapse_whitespace).collect();
        if cells.iter().all(String::is_empty) {
            continue;
        }
        blocks.push(Block::table_row_under(&headers, cells));
    }
    if blocks.is_empty() && headers.iter().any(|h| !h.is_empty()) {
        // A header with no rows is still some text.
        blocks.push(Block::new(BlockKind::Paragraph, headers.join(", ")));
    }
    Ok(blocks)
}

/// Markdown, parsed by `pulldown-cmark` (tables on): headings, paragraphs,
/// list items and table rows become blocks; inline markup is dropped. The
/// parser yields a flat event stream, so nesting depth costs no stack here.
pub(super) fn markdown_blocks(text: &str, budget: &Budget) -> Result<Vec<Block>, ExtractError> {
    let mut blocks = Vec::new();
    let mut copied = 0;
    for run in huge_paragraphs(text) {
        markup_blocks(&text[copied..run.start], budget, &mut blocks)?;
        blocks.extend(plain_blocks(&text[run.clone()], budget)?);
        copied = run.end;
    }
    markup_blocks(&text[copied..], budget, &mut blocks)?;
    Ok(blocks)
}

/// The blocks of Markdown `text` (with no huge paragraph), appended to `blocks`.
fn markup_blocks(text: &str, budget: &Budget, blocks: &mut Vec<Block>) -> Result<(), ExtractError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    let mut buffer = String::new();
    // Nesting of list items: text of an outer item is flushed when an inner
    // list starts, so items stay separate blocks.
    let mut item_depth = 0usize;
    let mut headers: Vec<String> = Vec::new();
    let mut cells: Vec<String> = Vec::new();
    let mut in_head = false;
    let flush = |buffer: &mut String, kind: BlockKind, blocks: &mut Vec<Block>| {
        let text = collapse_whitespace(buffer);
        buffer.clear();
        if !text.is_empty() {
            blocks.push(Block::new(kind, text));
        }
    };
    for event in parser {
        budget.check()?;
        match event {
            Event::Start(Tag::Heading { .. }) => {
                let kind = paragraph_or_item(item_depth);
                flush(&mut buffer, kind, blocks);
            }
            Event::End(TagEnd::Heading(level)) => {
                flush(
                    &mut buffer,
                    BlockKind::Heading(heading_level(level)),
                    blocks,
                );
            }
            Event::Start(Tag::Item) => {
                let kind = paragraph_or_item(item_depth);
                flush(&mut buffer, kind, blocks);
                item_depth += 1;
            }
            Event::End(TagEnd::Item) => {
                flush(&mut buffer, BlockKind::ListItem, blocks);
                item_depth = item_depth.saturating_sub(1);
            }
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::BlockQuote(_)) => {
                if item_depth == 0 {
                    flush(&mut buffer, BlockKind::Paragraph, blocks);
                } else {
                    buffer.push(' ');
                }
            }
            Event::Start(Tag::Table(_)) => {
                flush(&mut buffer, paragraph_or_item(item_depth), blocks);
                headers.clear();
            }
            Event::Start(Tag::TableHead) => in_head = true,
            Event::End(TagEnd::TableHead) => {
                in_head = false;
                headers = std::mem::take(&mut cells);
            }
            Event::End(TagEnd::TableCell) => {
                cells.push(collapse_whitespace(&buffer));
                buffer.clear();
            }
            Event::End(TagEnd::TableRow) if !in_head => {
                let row = std::mem::take(&mut cells);
                if row.iter().any(|c| !c.is_empty()) {
                    blocks.push(Block::table_row_under(&headers, row));
                }
            }
            Event::Text(text) | Event::Code(text) => buffer.push_str(&text),
            Event::SoftBreak | Event::HardBreak => buffer.push(' '),
            _ => {}
        }
    }
    flush(&mut buffer, BlockKind::Paragraph, blocks);
    Ok(())
}

fn paragraph_or_item(item_depth: usize) -> BlockKind {
    if item_depth > 0 {
        BlockKind::ListItem
    } else {
        BlockKind::Paragraph
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Bytes of one paragraph (a run of non-blank lines) above which its inline
/// markup is not parsed.
const MAX_MARKUP_PARAGRAPH: usize = 64 * 1024;

/// pulldown-cmark's inline pass is far from linear on paragraphs made of
/// unmatched delimiters (25 MB of `*[` took it 6.9 s and 2.9 GB), and even
/// escaped, each marker costs it a node (2.5 GB for the same input). A
/// paragraph no person writes by hand (over [`MAX_MARKUP_PARAGRAPH`]) is
/// therefore read as plain text, in one linear pass; these are the byte
/// ranges of such paragraphs, in order.
fn huge_paragraphs(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut len) = (0usize, 0usize);
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            if len > MAX_MARKUP_PARAGRAPH {
                runs.push(start..offset);
            }
            start = offset + line.len();
            len = 0;
        } else {
            len += line.len();
        }
        offset += line.len();
    }
    if len > MAX_MARKUP_PARAGRAPH {
        runs.push(start..offset);
    }
    runs
}
