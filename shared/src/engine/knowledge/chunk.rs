//! Chunking that respects structure. A document's blocks are grouped into
//! sections by their heading path; a chunk never spans two sections. Inside a
//! section, paragraphs are cut into sentences (UAX #29) and sentences, list
//! items and table rows are packed into chunks of about `target_tokens`;
//! consecutive chunks of running text share about `overlap_tokens` of whole
//! sentences. Each chunk's text starts with its heading path (`# Pricing >
//! Plans`), so a chunk retrieved alone still says what it is about.
//!
//! Sizes are in the active embedder's own tokens when it can count them
//! ([`chunk_for_model`], [`ChunkOptions::for_window`]): a chunk, with the
//! document title and heading path it is embedded with, then fits the
//! model's window, so no answer sits in a tail the model never reads. An
//! embedder that cannot count gets estimated tokens ([`estimate_tokens`])
//! and the default sizes.

use unicode_segmentation::UnicodeSegmentation;

use super::embed::Embedder;
use super::extract::{BlockKind, ExtractedDocument};
use super::terms::estimate_tokens;

/// How big chunks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// A chunk is closed at the first block boundary past this size.
    pub target_tokens: usize,
    /// A chunk never grows past this size (a longer sentence is cut by words).
    pub max_tokens: usize,
    /// Whole sentences of about this size repeat at the start of the next
    /// chunk of the same section.
    pub overlap_tokens: usize,
    /// Table rows (each self-contained: `plan: Pro; price: $49`) are packed
    /// into smaller chunks of about this size, so a question about one row
    /// is not diluted by many others.
    pub table_target_tokens: usize,
}

impl ChunkOptions {
    /// Sizes for a model reading `window` tokens: a chunk never exceeds the
    /// window (title and heading path included) and is closed at the first
    /// block boundary past about half of it, so a chunk is a paragraph or a
    /// few rather than a page (measured on the retrieval evaluation's dev
    /// split: BENCHMARKS.md, issue 16).
    pub fn for_window(window: usize) -> ChunkOptions {
        let window = window.max(16);
        ChunkOptions {
            target_tokens: window / 2,
            max_tokens: window,
            overlap_tokens: window / 8,
            table_target_tokens: window / 2,
        }
    }
}

impl Default for ChunkOptions {
    fn default() -> ChunkOptions {
        ChunkOptions {
            target_tokens: 300,
            max_tokens: 450,
            overlap_tokens: 50,
            table_target_tokens: 300,
        }
    }
}

/// One retrievable piece of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Position in the document, from 0.
    pub index: usize,
    /// What is indexed, embedded and returned: the heading path line (when
    /// there is one) and the body.
    pub text: String,
    /// Tokens of `text` (the model's when it counts them, else estimated).
    pub tokens: usize,
    /// The heading path, outermost first, joined by ` > `.
    pub heading: Option<String>,
    /// The document's title, embedded in front of the text (see
    /// [`Chunk::embedding_text`]) but not part of it.
    pub title: Option<String>,
    /// Character offset (Unicode scalar values) of the body's start in
    /// [`ExtractedDocument::text`].
    pub char_start: usize,
    /// Character offset just past the body's end.
    pub char_end: usize,
}

impl Chunk {
    /// What the embedder reads: the document title (when there is one) on
    /// its own line, then the text with its heading path, so a chunk about
    /// "Fees" of one business is told from the same heading of another.
    pub fn embedding_text(&self) -> String {
        match &self.title {
            Some(title) => format!("{title}\n{}", self.text),
            None => self.text.clone(),
        }
    }
}

/// A document's name as the title its chunks are embedded with: the name
/// without a file extension (`Harbor Dental fees.pdf` → `Harbor Dental
/// fees`); `None` when nothing is left.
pub fn title_from_name(name: &str) -> Option<String> {
    let name = name.trim();
    let stem = match name.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            stem
        }
        _ => name,
    };
    let title = stem.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// A sentence, list item or table row with its place in the document.
#[derive(Debug, Clone)]
struct Unit {
    text: String,
    tokens: usize,
    block: usize,
    char_start: usize,
    char_end: usize,
    /// Running text may overlap into the next chunk; rows and items do not.
    prose: bool,
    /// A table row (packed to the smaller table target).
    table_row: bool,
}

/// Cuts a document into chunks with [`ChunkOptions::default`].
pub fn chunk_document(document: &ExtractedDocument) -> Vec<Chunk> {
    chunk_with(document, &ChunkOptions::default())
}

/// Cuts a document into chunks, sizes in estimated tokens.
pub fn chunk_with(document: &ExtractedDocument, options: &ChunkOptions) -> Vec<Chunk> {
    chunk_counted(document, options, &estimate_tokens)
}

/// Cuts a document into chunks that `embedder` reads whole: sized by its
/// own token count to its window ([`ChunkOptions::for_window`]), or the
/// default sizes in estimated tokens when it reports no window.
pub fn chunk_for_model(document: &ExtractedDocument, embedder: &dyn Embedder) -> Vec<Chunk> {
    match embedder.max_tokens() {
        Some(window) if embedder.count_tokens("").is_some() => {
            let count = |text: &str| {
                embedder
                    .count_tokens(text)
                    .unwrap_or_else(|| estimate_tokens(text))
            };
            chunk_counted(document, &ChunkOptions::for_window(window), &count)
        }
        _ => chunk_document(document),
    }
}

/// Cuts a document into chunks whose sizes `count` measures (special
/// tokens included: `count("")` is what every text costs besides its words).
pub fn chunk_counted(
    document: &ExtractedDocument,
    options: &ChunkOptions,
    count: &dyn Fn(&str) -> usize,
) -> Vec<Chunk> {
    let mut packer = Packer::new(options, count, document.title.clone());
    let mut headings: Vec<(u8, String)> = Vec::new();
    let mut offset = 0usize;
    for (block_index, block) in document.blocks.iter().enumerate() {
        let block_chars = block.text.chars().count();
        match &block.kind {
            BlockKind::Heading(level) => {
                packer.close_section();
                headings.retain(|(l, _)| l < level);
                headings.push((*level, block.text.clone()));
                packer.set_heading(Some(
                    headings
                        .iter()
                        .map(|(_, t)| t.as_str())
                        .collect::<Vec<_>>()
                        .join(" > "),
                ));
            }
            BlockKind::Paragraph => {
                let mut chars_before = 0usize;
                let mut last_byte = 0usize;
                for (byte, sentence) in block.text.split_sentence_bound_indices() {
                    chars_before += block.text[last_byte..byte].chars().count();
                    last_byte = byte;
                    let trimmed = sentence.trim();
                    if trimmed.is_empty() {
                        continue;
                    }
                    let lead = sentence.len() - sentence.trim_start().len();
                    let start = offset + chars_before + lead;
                    packer.add(Unit {
                        tokens: packer.measure(trimmed),
                        text: trimmed.to_owned(),
                        block: block_index,
                        char_start: start,
                        char_end: start + trimmed.chars().count(),
                        prose: true,
                        table_row: false,
                    });
                }
            }
            BlockKind::ListItem | BlockKind::TableRow { .. } => packer.add(Unit {
                tokens: packer.measure(&block.text),
                text: block.text.clone(),
                block: block_index,
                char_start: offset,
                char_end: offset + block_chars,
                prose: false,
                table_row: matches!(block.kind, BlockKind::TableRow { .. }),
            }),
        }
        offset += block_chars + 1;
    }
    packer.close_section();
    packer.chunks
}

struct Packer<'o> {
    options: &'o ChunkOptions,
    count: &'o dyn Fn(&str) -> usize,
    /// What every counted text costs besides its words (special tokens).
    fixed: usize,
    title: Option<String>,
    heading: Option<String>,
    /// Most tokens of a chunk's body: the window less the title and heading
    /// path it is embedded with.
    max: usize,
    current: Vec<Unit>,
    current_tokens: usize,
    /// The units of the chunk emitted last (the overlap comes from them).
    last_units: Vec<Unit>,
    chunks: Vec<Chunk>,
}

impl<'o> Packer<'o> {
    fn new(
        options: &'o ChunkOptions,
        count: &'o dyn Fn(&str) -> usize,
        title: Option<String>,
    ) -> Packer<'o> {
        // The title and heading path are embedded with every chunk: each is
        // cut to a share of the window, so the body always keeps room.
        let window = options.max_tokens;
        let title = title
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty())
            .map(|t| cut_to_budget(&t, window / 4, count));
        let mut packer = Packer {
            options,
            count,
            fixed: count(""),
            title,
            heading: None,
            max: options.max_tokens,
            current: Vec::new(),
            current_tokens: 0,
            last_units: Vec::new(),
            chunks: Vec::new(),
        };
        packer.set_heading(None);
        packer
    }

    /// Tokens of a unit of text, without the fixed cost of a text.
    fn measure(&self, text: &str) -> usize {
        (self.count)(text).saturating_sub(self.fixed)
    }

    /// Starts a section under `heading`; its chunks' bodies get the window
    /// less what the title and heading line take (at least a quarter of it).
    fn set_heading(&mut self, heading: Option<String>) {
        let budget = self.options.max_tokens / 4;
        self.heading = heading.map(|h| cut_to_budget(&h, budget, self.count));
        let prefix = self.prefix();
        let taken = if prefix.is_empty() {
            0
        } else {
            // The line break after the prefix costs nothing in word pieces.
            (self.count)(&prefix)
        };
        let window = self.options.max_tokens;
        self.max = window.saturating_sub(taken).max(window / 4).max(1);
    }

    /// The title and heading lines a chunk is embedded with.
    fn prefix(&self) -> String {
        let mut prefix = String::new();
        if let Some(title) = &self.title {
            prefix.push_str(title);
            prefix.push('\n');
        }
        if let Some(path) = &self.heading {
            prefix.push_str("# ");
            prefix.push_str(path);
        }
        prefix
    }

    fn add(&mut self, unit: Unit) {
        let max = self.max;
        if unit.tokens > max {
            self.add_long(unit, max, (max * 3 / 4).max(1), 0);
        } else {
            self.add_fitting(unit, max);
        }
    }

    /// Adds a unit longer than `max`: cut into pieces of about `cut`
    /// estimated tokens, each measured; a piece the model still counts over
    /// `max` is cut again, finer (at most three times: `split_long` cuts even
    /// a single long word, so the pieces shrink every time).
    fn add_long(&mut self, unit: Unit, max: usize, cut: usize, depth: u8) {
        for mut piece in split_long(unit, cut) {
            piece.tokens = self.measure(&piece.text);
            if piece.tokens > max && depth < 3 && cut > 1 {
                self.add_long(piece, max, (cut / 2).max(1), depth + 1);
            } else {
                self.add_fitting(piece, max);
            }
        }
    }

    /// Adds a unit of at most `max` tokens.
    fn add_fitting(&mut self, unit: Unit, max: usize) {
        let new_block = self.current.last().is_some_and(|u| u.block != unit.block);
        let target = if unit.table_row {
            self.options
                .table_target_tokens
                .min(self.options.target_tokens)
        } else {
            self.options.target_tokens
        }
        .min(max);
        let full = self.current_tokens + unit.tokens > max
            || (self.current_tokens >= target && new_block)
            || (unit.table_row && self.current_tokens + unit.tokens > target);
        if full && !self.current.is_empty() {
            self.emit();
            self.start_with_overlap(unit.tokens);
        }
        self.current_tokens += unit.tokens;
        self.current.push(unit);
    }

    /// Starts the next chunk with the last sentences of the one just emitted.
    fn start_with_overlap(&mut self, incoming_tokens: usize) {
        let budget = self
            .options
            .overlap_tokens
            .min(self.max.saturating_sub(incoming_tokens));
        let mut kept: Vec<Unit> = Vec::new();
        let mut tokens = 0;
        for unit in self.last_units.iter().rev() {
            if !unit.prose || tokens + unit.tokens > budget {
                break;
            }
            tokens += unit.tokens;
            kept.push(unit.clone());
        }
        kept.reverse();
        self.current_tokens = tokens;
        self.current = kept;
    }

    fn close_section(&mut self) {
        if !self.current.is_empty() {
            self.emit();
        }
        self.current.clear();
        self.current_tokens = 0;
        self.last_units.clear();
    }

    fn emit(&mut self) {
        let units = std::mem::take(&mut self.current);
        self.current_tokens = 0;
        let mut body = String::new();
        for (i, unit) in units.iter().enumerate() {
            if i > 0 {
                body.push(if units[i - 1].block == unit.block {
                    ' '
                } else {
                    '\n'
                });
            }
            body.push_str(&unit.text);
        }
        let text = match &self.heading {
            Some(path) => format!("# {path}\n{body}"),
            None => body,
        };
        let (Some(first), Some(last)) = (units.first(), units.last()) else {
            return;
        };
        let tokens = (self.count)(&text);
        self.chunks.push(Chunk {
            index: self.chunks.len(),
            tokens,
            heading: self.heading.clone(),
            title: self.title.clone(),
            char_start: first.char_start,
            char_end: last.char_end,
            text,
        });
        self.last_units = units;
    }
}

/// `text` whole when `count` measures it at most `budget` tokens, else its
/// longest beginning that fits (a heading or title of thousands of words
/// would otherwise leave no room for the chunk it labels). Binary search:
/// O(log n) counts.
fn cut_to_budget(text: &str, budget: usize, count: &dyn Fn(&str) -> usize) -> String {
    if count(text) <= budget {
        return text.to_owned();
    }
    let ends: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .skip(1)
        .chain([text.len()])
        .collect();
    let (mut fits, mut over) = (0usize, ends.len());
    while over - fits > 1 {
        let middle = (fits + over) / 2;
        if count(&text[..ends[middle - 1]]) <= budget {
            fits = middle;
        } else {
            over = middle;
        }
    }
    match fits {
        0 => String::new(),
        n => text[..ends[n - 1]].trim_end().to_owned(),
    }
}

/// Cuts a unit longer than `max` tokens into pieces of whole words; a word
/// that alone is longer than `max` is cut into pieces of characters. One pass
/// over the text: a 25 MB "word" costs linear time, not a rescan per piece.
fn split_long(unit: Unit, max: usize) -> Vec<Unit> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut tokens = 0usize;
    let mut start: Option<usize> = None;
    let mut end = 0usize;
    let mut position = 0usize;
    // The longest run of word characters that still estimates to `max`.
    let piece_chars = 7 * (max - 1) + 1;
    for segment in unit.text.split_word_bounds() {
        for word in char_pieces(segment, max, piece_chars) {
            let chars = word.chars().count();
            let word_tokens = estimate_tokens(word);
            if tokens + word_tokens > max && tokens > 0 {
                pieces.push(Unit {
                    text: text.trim_end().to_owned(),
                    tokens,
                    block: unit.block,
                    char_start: unit.char_start + start.unwrap_or(position),
                    char_end: unit.char_start + end,
                    prose: unit.prose,
                    table_row: unit.table_row,
                });
                text.clear();
                tokens = 0;
                start = None;
            }
            if word.trim().is_empty() {
                if start.is_some() {
                    text.push_str(word);
                }
            } else {
                start.get_or_insert(position);
                text.push_str(word);
                tokens += word_tokens;
                end = position + chars;
            }
            position += chars;
        }
    }
    if tokens > 0 {
        pieces.push(Unit {
            text: text.trim_end().to_owned(),
            tokens,
            block: unit.block,
            char_start: unit.char_start + start.unwrap_or(0),
            char_end: unit.char_start + end,
            prose: unit.prose,
            table_row: unit.table_row,
        });
    }
    pieces
}

/// `segment` whole when it fits in `max` tokens, else cut every
/// `piece_chars` characters.
fn char_pieces(segment: &str, max: usize, piece_chars: usize) -> Vec<&str> {
    if estimate_tokens(segment) <= max {
        return vec![segment];
    }
    let mut pieces = Vec::new();
    let mut rest = segment;
    while !rest.is_empty() {
        let end = rest
            .char_indices()
            .nth(piece_chars)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

#[cfg(test)]
mod tests;
