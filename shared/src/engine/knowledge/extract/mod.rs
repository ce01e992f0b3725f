//! Text extraction: an uploaded file (PDF, DOCX, TXT, CSV, Markdown, HTML)
//! becomes an [`ExtractedDocument`], a list of structural [`Block`]s
//! (headings, paragraphs, list items, table rows) that the chunker keeps apart.
//!
//! Each format is read by a well-kept crate (`pdf-extract`/`lopdf`, `zip` +
//! `quick-xml`, `csv`, `pulldown-cmark`, `scraper`); this module only maps
//! what they produce onto blocks. Bad input is an [`ExtractError`], never a
//! panic: the PDF reader is run under `catch_unwind` because it can panic on
//! malformed files.
//!
//! Hostile input costs bounded work: no walk recurses over the input's
//! nesting (HTML is walked with an explicit stack; Markdown, DOCX and CSV
//! are read as event streams; `lopdf` bounds its own nesting), words are cut
//! at [`MAX_WORD_CHARS`], compressed content stops inflating at its limit,
//! and every loop checks a [`Budget`] so abandoned work stops.

mod docx;
mod guard;
mod html;
mod html_depth;
mod pdf;
mod text;

pub use guard::{Budget, MAX_TEXT_BYTES, MAX_WORD_CHARS};
pub use html::html_to_text;

use std::path::Path;

/// The media types an upload may have (SPEC §5); named in the 415 answer.
pub const ACCEPTED_TYPES: &[&str] = &[
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text/plain",
    "text/csv",
    "text/markdown",
    "text/html",
];

/// A document format the knowledge base reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentFormat {
    /// Portable Document Format.
    Pdf,
    /// Office Open XML word-processing document.
    Docx,
    /// Plain text.
    Text,
    /// Comma-separated values with a header row.
    Csv,
    /// CommonMark / GitHub-flavoured Markdown.
    Markdown,
    /// An HTML page.
    Html,
}

impl DocumentFormat {
    /// The canonical media type of the format.
    pub fn mime_type(self) -> &'static str {
        match self {
            DocumentFormat::Pdf => ACCEPTED_TYPES[0],
            DocumentFormat::Docx => ACCEPTED_TYPES[1],
            DocumentFormat::Text => ACCEPTED_TYPES[2],
            DocumentFormat::Csv => ACCEPTED_TYPES[3],
            DocumentFormat::Markdown => ACCEPTED_TYPES[4],
            DocumentFormat::Html => ACCEPTED_TYPES[5],
        }
    }

    /// Decides the format from the declared media type, the file name's
    /// extension and the first bytes. Magic bytes win (a PDF is a PDF whatever
    /// it is called); then a specific media type; then the extension; a
    /// generic `text/plain` is plain text. `None` when nothing fits.
    pub fn detect(bytes: &[u8], mime: &str, filename: Option<&str>) -> Option<DocumentFormat> {
        if bytes.starts_with(b"%PDF-") {
            return Some(DocumentFormat::Pdf);
        }
        let essence = mime
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let by_mime = match essence.as_str() {
            "application/pdf" => Some(DocumentFormat::Pdf),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
                Some(DocumentFormat::Docx)
            }
            "text/csv" | "application/csv" => Some(DocumentFormat::Csv),
            "text/markdown" | "text/x-markdown" => Some(DocumentFormat::Markdown),
            "text/html" | "application/xhtml+xml" => Some(DocumentFormat::Html),
            _ => None,
        };
        if by_mime.is_some() {
            return by_mime;
        }
        let extension = filename
            .and_then(|name| Path::new(name).extension())
            .and_then(|ext| ext.to_str())
            .map(str::to_ascii_lowercase);
        let by_extension = match extension.as_deref() {
            Some("pdf") => Some(DocumentFormat::Pdf),
            Some("docx") => Some(DocumentFormat::Docx),
            Some("txt" | "text") => Some(DocumentFormat::Text),
            Some("csv") => Some(DocumentFormat::Csv),
            Some("md" | "markdown") => Some(DocumentFormat::Markdown),
            Some("html" | "htm") => Some(DocumentFormat::Html),
            _ => None,
        };
        if by_extension.is_some() {
            return by_extension;
        }
        if essence == "text/plain" {
            return Some(DocumentFormat::Text);
        }
        None
    }
}

/// What a block of a document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    /// A heading of this level (1 is the top).
    Heading(u8),
    /// A paragraph of running text.
    Paragraph,
    /// One row of a table; `text` is `header: cell; header: cell`.
    TableRow {
        /// Column names (empty when the table has no header row).
        headers: Vec<String>,
        /// The row's cells, in column order.
        cells: Vec<String>,
    },
    /// One item of a list.
    ListItem,
}

/// One structural unit of an extracted document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// What the block is.
    pub kind: BlockKind,
    /// Its readable text: whitespace collapsed, no markup.
    pub text: String,
}

impl Block {
    /// A block of this kind holding `text`.
    pub fn new(kind: BlockKind, text: impl Into<String>) -> Block {
        Block {
            kind,
            text: text.into(),
        }
    }

    /// A table row: the text pairs each cell with its column name
    /// (`plan: Pro; price: $49`), so a row read alone still says what it is.
    pub fn table_row(headers: Vec<String>, cells: Vec<String>) -> Block {
        let text = cells
            .iter()
            .enumerate()
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(i, cell)| match headers.get(i).filter(|h| !h.is_empty()) {
                Some(header) => format!("{header}: {cell}"),
                None => cell.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        Block {
            kind: BlockKind::TableRow { headers, cells },
            text,
        }
    }

    /// [`Block::table_row`] under a table's shared header row, copying only
    /// the headers the row has cells for: a table with a huge header row
    /// costs each row its own size, not the header's.
    pub(crate) fn table_row_under(headers: &[String], cells: Vec<String>) -> Block {
        let width = headers.len().min(cells.len());
        Block::table_row(headers[..width].to_vec(), cells)
    }
}

/// The readable content of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractedDocument {
    /// The format it was read as.
    pub format: DocumentFormat,
    /// The document's own title when it names one (HTML `<title>`).
    pub title: Option<String>,
    /// Its blocks, in reading order; never empty.
    pub blocks: Vec<Block>,
}

impl ExtractedDocument {
    /// The document as one text: blocks joined by a newline. Chunk character
    /// offsets ([`super::Chunk::char_start`]) count into this text.
    pub fn text(&self) -> String {
        self.blocks
            .iter()
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Why a document could not be read. The message is meant for the document's
/// `error` field: it says what is wrong without internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// Not a format the knowledge base reads (HTTP 415).
    #[error("unsupported document type; accepted types: {}", accepted.join(", "))]
    Unsupported {
        /// The accepted media types ([`ACCEPTED_TYPES`]).
        accepted: &'static [&'static str],
    },
    /// The file is password-protected.
    #[error("the {format} is encrypted or password-protected; upload an unprotected copy")]
    Encrypted {
        /// `PDF` or `DOCX`.
        format: &'static str,
    },
    /// The file is damaged or not what its type says.
    #[error("the {format} could not be read: {reason}")]
    Corrupt {
        /// `PDF`, `DOCX`, `CSV`...
        format: &'static str,
        /// What went wrong, in a few words.
        reason: String,
    },
    /// The file was read but holds no text (an empty file, a scanned PDF).
    #[error("the document contains no extractable text")]
    NoText,
    /// Some part of the file is larger than the knowledge base reads (a zip
    /// bomb, a document whose text would exceed [`MAX_TEXT_BYTES`]).
    #[error("the document is too large: {what} exceeds {limit_mb} MB")]
    TooLarge {
        /// What is too large (`its text`, `word/document.xml`).
        what: &'static str,
        /// The limit, in MB.
        limit_mb: usize,
    },
    /// Reading was stopped: past its [`Budget`]'s deadline or cancelled.
    #[error("the document took too long to read and was stopped")]
    TooSlow,
}

impl From<ExtractError> for crate::Error {
    fn from(err: ExtractError) -> crate::Error {
        match err {
            ExtractError::Unsupported { .. } => crate::Error::UnsupportedMediaType(err.to_string()),
            other => crate::Error::BadRequest(other.to_string()),
        }
    }
}

/// Reads a document of any accepted format into blocks. The format comes from
/// [`DocumentFormat::detect`]; an unknown one is [`ExtractError::Unsupported`].
pub fn extract(
    bytes: &[u8],
    mime: &str,
    filename: Option<&str>,
) -> Result<ExtractedDocument, ExtractError> {
    extract_within(bytes, mime, filename, &Budget::unlimited())
}

/// [`extract`], stopping with [`ExtractError::TooSlow`] when `budget` runs out.
pub fn extract_within(
    bytes: &[u8],
    mime: &str,
    filename: Option<&str>,
    budget: &Budget,
) -> Result<ExtractedDocument, ExtractError> {
    let format =
        DocumentFormat::detect(bytes, mime, filename).ok_or(ExtractError::Unsupported {
            accepted: ACCEPTED_TYPES,
        })?;
    extract_as_within(bytes, format, budget)
}

/// Reads a document whose format is already known.
pub fn extract_as(bytes: &[u8], format: DocumentFormat) -> Result<ExtractedDocument, ExtractError> {
    extract_as_within(bytes, format, &Budget::unlimited())
}

/// [`extract_as`] within `budget`.
pub fn extract_as_within(
    bytes: &[u8],
    format: DocumentFormat,
    budget: &Budget,
) -> Result<ExtractedDocument, ExtractError> {
    let (title, blocks) = match format {
        DocumentFormat::Pdf => (None, pdf::blocks(bytes, budget)?),
        DocumentFormat::Docx => (None, docx::blocks(bytes, budget)?),
        DocumentFormat::Text => (None, text::plain_blocks(&decode_text(bytes), budget)?),
        DocumentFormat::Csv => (None, text::csv_blocks(&decode_text(bytes), budget)?),
        DocumentFormat::Markdown => (None, text::markdown_blocks(&decode_text(bytes), budget)?),
        DocumentFormat::Html => html::blocks(&decode_text(bytes), budget)?,
    };
    let mut meter = guard::TextMeter::default();
    let mut kept = Vec::with_capacity(blocks.len());
    for block in blocks {
        if !block.text.trim().is_empty() {
            meter.add(block.text.len())?;
            kept.push(block);
        }
    }
    let blocks = kept;
    if blocks.is_empty() {
        return Err(ExtractError::NoText);
    }
    Ok(ExtractedDocument {
        format,
        title,
        blocks,
    })
}

/// Text files are UTF-8 (a BOM is dropped); invalid bytes become U+FFFD rather
/// than failing the document.
fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// Collapses runs of whitespace to one space and trims; a word longer than
/// [`MAX_WORD_CHARS`] is cut there. Every block's text passes through here.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1 << 20));
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(guard::cap_word(word));
    }
    out
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod hostile;
#[cfg(test)]
mod tests;
