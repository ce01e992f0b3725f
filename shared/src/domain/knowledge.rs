//! Knowledge documents (SPEC §5): what an agent knows about a business.

use serde::{Deserialize, Serialize};

/// Where a document's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceType {
    /// An uploaded file.
    File,
    /// A web page fetched server-side.
    Url,
    /// Text pasted into the API.
    Text,
}

/// Where a document is in its ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// Queued or being parsed, chunked and embedded.
    Processing,
    /// Searchable.
    Ready,
    /// Could not be ingested; `error` says why.
    Failed,
}

/// A knowledge document as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// File, URL or text.
    pub source_type: SourceType,
    /// The URL a `url` document was fetched from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// MIME type of the original.
    pub mime_type: String,
    /// Size of the original in bytes.
    pub size_bytes: u64,
    /// Ingestion state.
    pub status: DocumentStatus,
    /// Why ingestion failed.
    pub error: Option<String>,
    /// Chunks indexed.
    pub chunk_count: u32,
    /// Bumped on every (re)index, so caches and stale workers can tell versions apart.
    #[serde(default)]
    pub generation: u32,
    /// Embedder that produced the vectors (`name()` of the embedder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedder: Option<String>,
    /// While the document is re-embedded by a new embedder (a background
    /// job; `generation` is the one being made): the generation whose
    /// chunks and vectors search keeps reading meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_generation: Option<u32>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Document {
    /// The generation whose vectors search reads: the live one while a
    /// re-embedding is under way, else the current one.
    pub fn searchable_generation(&self) -> u32 {
        self.live_generation.unwrap_or(self.generation)
    }
}

/// One stored chunk of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredChunk {
    /// `<document id>:<index>`.
    pub id: String,
    /// The document.
    pub document_id: String,
    /// Position in the document, from 0.
    pub index: u32,
    /// The chunk's text (heading path included).
    pub text: String,
    /// Tokens: the embedder's own count when it has one, else estimated.
    pub tokens: u32,
    /// The heading path the chunk sits under (`Pricing > Plans`), also the
    /// first line of `text`; absent on chunks stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
}
