//! Knowledge documents (SPEC §5) as the API shows them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::input::Field;
use crate::domain::knowledge::{Document, DocumentStatus, SourceType, StoredChunk};

/// A knowledge document as returned by every knowledge route (and in the
/// `document.*` events). The indexing generation stays internal.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KnowledgeDocumentView {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `file`, `url` or `text`.
    #[schema(value_type = String)]
    pub source_type: SourceType,
    /// The URL a `url` document was fetched from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    /// MIME type of the original.
    pub mime_type: String,
    /// Size of the original in bytes.
    pub size_bytes: u64,
    /// `processing`, `ready` or `failed`.
    #[schema(value_type = String)]
    pub status: DocumentStatus,
    /// Why ingestion failed.
    pub error: Option<String>,
    /// Chunks indexed.
    pub chunk_count: u32,
    /// The embedder that produced the vectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedder: Option<String>,
    /// `true` while a background job re-embeds the document because the
    /// workspace's embedder changed; search keeps reading its previous
    /// vectors (or its words) until the job is done. A workspace's progress
    /// is the share of its documents no longer re-embedding.
    pub reembedding: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Document> for KnowledgeDocumentView {
    fn from(d: &Document) -> Self {
        Self {
            id: d.id.clone(),
            name: d.name.clone(),
            source_type: d.source_type,
            source_url: d.source_url.clone(),
            mime_type: d.mime_type.clone(),
            size_bytes: d.size_bytes,
            status: d.status,
            error: d.error.clone(),
            chunk_count: d.chunk_count,
            embedder: d.embedder.clone(),
            reembedding: d.live_generation.is_some(),
            created_at: d.created_at.clone(),
            updated_at: d.updated_at.clone(),
        }
    }
}

/// One chunk of a document (`GET /knowledge/{id}/chunks`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChunkView {
    /// `<document id>:<index>`.
    pub id: String,
    /// Position in the document, from 0.
    pub index: u32,
    /// The chunk's text (heading path included).
    pub text: String,
    /// Its size in the embedder's own tokens when the embedder counts them
    /// (the offline model), else estimated.
    pub tokens: u32,
}

impl From<StoredChunk> for ChunkView {
    fn from(c: StoredChunk) -> Self {
        Self {
            id: c.id,
            index: c.index,
            text: c.text,
            tokens: c.tokens,
        }
    }
}

/// One search result (`POST /knowledge/query`, and the engine's `knowledge`
/// flow nodes).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueryHit {
    /// The chunk.
    pub chunk_id: String,
    /// Its document.
    pub document_id: String,
    /// The document's name.
    pub document_name: String,
    /// The chunk's text (speakable in voice mode).
    pub text: String,
    /// The heading path of the chunk's section (`Opening hours > Holidays`),
    /// when its document has headings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    /// How sure the search is that this passage answers the query, from 0
    /// to 1. With an embedding model it is a calibrated confidence (on the
    /// retrieval evaluation about this share of top answers at that score
    /// were right); with the lexical fallback, the share of the query's
    /// weighted words the passage holds. Below 0.45 it is more likely a
    /// guess than not (the call engine's default threshold,
    /// `SWITCHBOARD_KNOWLEDGE_MIN_SCORE`).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub score: f32,
}

/// The body of `POST /knowledge/ingest-text`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct IngestTextInput {
    /// Display name.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// The text to index.
    #[schema(value_type = String, required = true, min_length = 1)]
    #[serde(default)]
    pub content: Field<String>,
    /// Keys this body does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /knowledge/ingest-url`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct IngestUrlInput {
    /// A public `http(s)` page (private addresses are refused).
    #[schema(value_type = String, required = true, example = "https://www.example.com/faq")]
    #[serde(default)]
    pub url: Field<String>,
    /// Display name (the URL when absent).
    #[schema(value_type = Option<String>, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// Keys this body does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /knowledge/query`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct KnowledgeQueryInput {
    /// The question.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 2000)]
    #[serde(default)]
    pub query: Field<String>,
    /// Results wanted (1..=50, default 5).
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 50)]
    #[serde(default)]
    pub top_k: Field<i64>,
    /// Short, speakable answers (default false).
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub voice_mode: Field<bool>,
    /// Only this agent's documents.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub agent_id: Field<String>,
    /// Only these documents (at most 500 ids).
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(default)]
    pub document_ids: Field<Vec<String>>,
    /// Leave out hits whose `score` (a 0..1 confidence) is below this, so
    /// an empty list means "the documents do not say" (default 0: all).
    #[schema(value_type = Option<f32>, minimum = 0.0, maximum = 1.0)]
    #[serde(default)]
    pub min_score: Field<f64>,
    /// Keys this body does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}
