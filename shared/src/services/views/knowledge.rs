//! Knowledge documents (SPEC §5) as the API shows them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::knowledge::{Document, DocumentStatus, SourceType};

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
            created_at: d.created_at.clone(),
            updated_at: d.updated_at.clone(),
        }
    }
}
