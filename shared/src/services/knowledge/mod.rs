//! The knowledge base (SPEC §5): documents in, chunks and vectors out, and
//! hybrid search over them.
//!
//! Writes only record the document and queue it; the ingest worker
//! ([`ingest`]) parses, chunks and embeds, so an upload returns at once and a
//! slow or failing document never holds a request. Storage per document:
//! the original under `<tenant blobs>/kb/<doc>/original`, its chunks as items
//! in their own partition (`<tenant>#KBCHUNK#<doc>`), and its vectors as one
//! compact file beside the original (`vectors-<generation>.bin`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::assignments::{self, Assignable};
use super::caller::Caller;
use super::page::{PageOf, PageRequest, page};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource, query_all};
use super::table_keys::*;
use super::views::{
    AssignmentView, ChunkView, DeletedView, IngestTextInput, IngestUrlInput, KnowledgeDocumentView,
};
use crate::App;
use crate::domain::input::{Checks, Field};
use crate::domain::knowledge::{Document, DocumentStatus, SourceType, StoredChunk};
use crate::domain::{Mode, Tenant};
use crate::engine::knowledge::{self as engine, DocumentFormat};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Query, Write};

/// Resource kind in sort keys.
pub const KIND: &str = "KB";
/// Largest original accepted (SPEC: 25 MB, 413 above).
pub const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;
/// Largest page `ingest-url` reads (SPEC: 10 MB).
pub const MAX_URL_BYTES: usize = 10 * 1024 * 1024;
/// How long `ingest-url` waits for the page (SPEC: 10 s).
pub const URL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a document may take to parse and chunk, unless configured
/// otherwise ([`Config::knowledge_extract_timeout`](crate::Config::knowledge_extract_timeout)).
pub const EXTRACT_TIMEOUT: Duration = Duration::from_secs(60);
/// Most results a query returns.
pub const MAX_TOP_K: usize = 50;
const NAME_MAX: usize = 200;

/// What the ingest queue carries: which document (and which version of it)
/// to process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestJob {
    /// The org.
    pub org_id: String,
    /// Live or test partition.
    pub mode: Mode,
    /// The document.
    pub document_id: String,
    /// The generation this job indexes; an older job is skipped.
    pub generation: u32,
}

impl IngestJob {
    fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }
}

pub(super) fn doc_item(tenant: &Tenant, doc: &Document) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &doc.id),
        serde_json::to_value(doc).unwrap_or_default(),
    )
}

/// The partition holding one document's chunks.
pub(super) fn chunks_pk(tenant: &Tenant, doc_id: &str) -> String {
    format!("{}#KBCHUNK#{doc_id}", tenant.pk())
}

pub(super) fn chunk_sk(index: u32) -> String {
    format!("C#{index:06}")
}

pub(super) fn blob_dir(tenant: &Tenant, doc_id: &str) -> String {
    format!("{}kb/{doc_id}/", tenant.blob_prefix())
}

pub(super) fn original_key(tenant: &Tenant, doc_id: &str) -> String {
    format!("{}original", blob_dir(tenant, doc_id))
}

pub(super) fn vectors_key(tenant: &Tenant, doc_id: &str, generation: u32) -> String {
    format!("{}vectors-{generation}.bin", blob_dir(tenant, doc_id))
}

/// The public shape of a document.
pub(super) fn view(doc: &Document) -> KnowledgeDocumentView {
    KnowledgeDocumentView::from(doc)
}

/// Reads a document of the tenant; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Document, u64)> {
    load_resource(app, tenant, KIND, "document", id).await
}

/// `GET /knowledge` — newest first.
pub async fn list(
    app: &App,
    caller: &Caller,
    req: &PageRequest,
) -> Result<PageOf<KnowledgeDocumentView>> {
    list_counted(app, &caller.tenant, KIND, None, req, |d: Document| view(&d)).await
}

/// `GET /knowledge/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<KnowledgeDocumentView> {
    Ok(view(&load(app, &caller.tenant, id).await?.0))
}

/// Records a new document, stores its original (if any) and queues it.
async fn create_document(
    app: &App,
    tenant: &Tenant,
    mut doc: Document,
    original: Option<(bytes::Bytes, &str)>,
) -> Result<Document> {
    if let Some((bytes, content_type)) = original {
        app.blobs
            .put(&original_key(tenant, &doc.id), bytes, content_type)
            .await?;
    }
    doc.generation = 1;
    insert_counted(app, tenant, KIND, doc_item(tenant, &doc), vec![]).await?;
    enqueue(app, tenant, &doc).await?;
    Ok(doc)
}

async fn enqueue(app: &App, tenant: &Tenant, doc: &Document) -> Result<()> {
    let job = IngestJob {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        document_id: doc.id.clone(),
        generation: doc.generation,
    };
    let body = serde_json::to_string(&job).map_err(|e| Error::Internal(e.to_string()))?;
    app.queue("ingest")?
        .send_for(&tenant.org_id, &body, Duration::ZERO)
        .await?;
    Ok(())
}

fn new_document(
    app: &App,
    name: String,
    source_type: SourceType,
    mime_type: &str,
    size: usize,
) -> Document {
    let now = app.now_rfc3339();
    Document {
        id: app.new_id(),
        name,
        source_type,
        source_url: None,
        mime_type: mime_type.to_owned(),
        size_bytes: size as u64,
        status: DocumentStatus::Processing,
        error: None,
        chunk_count: 0,
        generation: 1,
        embedder: None,
        live_generation: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// An uploaded file, as the HTTP edge read it from the multipart body.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The `file` part's bytes.
    pub bytes: bytes::Bytes,
    /// Its file name, if the client sent one.
    pub filename: Option<String>,
    /// Its content type, if the client sent one.
    pub content_type: Option<String>,
    /// The `name` part.
    pub name: Option<String>,
}

/// `POST /knowledge/upload` (admin): 413 over 25 MB, 415 for a type the
/// knowledge base does not read.
pub async fn upload(app: &App, caller: &Caller, upload: Upload) -> Result<KnowledgeDocumentView> {
    caller.require_admin()?;
    if upload.bytes.len() > MAX_UPLOAD_BYTES {
        return Err(Error::TooLarge(format!(
            "the file is over the {} MB limit",
            MAX_UPLOAD_BYTES / (1024 * 1024)
        )));
    }
    if upload.bytes.is_empty() {
        return Err(Error::field("file", "is empty"));
    }
    let format = DocumentFormat::detect(
        &upload.bytes,
        upload.content_type.as_deref().unwrap_or(""),
        upload.filename.as_deref(),
    )
    .ok_or_else(|| {
        Error::UnsupportedMediaType(format!(
            "unsupported document type; accepted types: {}",
            engine::ACCEPTED_TYPES.join(", ")
        ))
    })?;
    let name = upload
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .or(upload.filename.as_deref())
        .map(|n| n.chars().take(NAME_MAX).collect::<String>())
        .unwrap_or_else(|| "Untitled document".into());
    let doc = new_document(
        app,
        name,
        SourceType::File,
        format.mime_type(),
        upload.bytes.len(),
    );
    let size = upload.bytes.len();
    let doc = create_document(
        app,
        &caller.tenant,
        doc,
        Some((upload.bytes, format.mime_type())),
    )
    .await?;
    debug_assert_eq!(doc.size_bytes, size as u64);
    Ok(view(&doc))
}

/// `POST /knowledge/ingest-text {name, content}` (admin).
pub async fn ingest_text(
    app: &App,
    caller: &Caller,
    body: IngestTextInput,
) -> Result<KnowledgeDocumentView> {
    caller.require_admin()?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a field of a text document");
    let name = f.req_str("name", body.name, NAME_MAX);
    let content = match body.content {
        Field::Value(s) if !s.trim().is_empty() => Some(s),
        Field::Value(_) => {
            f.error("content", "must not be empty");
            None
        }
        Field::Invalid(_) => {
            f.error("content", "must be a string");
            None
        }
        Field::Absent | Field::Null => {
            f.error("content", "is required");
            None
        }
    };
    f.finish()?;
    let (Some(name), Some(content)) = (name, content) else {
        return Err(Error::Internal(
            "text fields missing after validation".into(),
        ));
    };
    let doc = new_document(app, name, SourceType::Text, "text/plain", content.len());
    let doc = create_document(
        app,
        &caller.tenant,
        doc,
        Some((bytes::Bytes::from(content), "text/plain; charset=utf-8")),
    )
    .await?;
    Ok(view(&doc))
}

/// `POST /knowledge/ingest-url {url, name}` (admin): the page is fetched by
/// the worker through the guarded client (SSRF rules), so only its shape is
/// checked here — and that it is not plainly a private address.
pub async fn ingest_url(
    app: &App,
    caller: &Caller,
    body: IngestUrlInput,
) -> Result<KnowledgeDocumentView> {
    caller.require_admin()?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a field of a web page document");
    let url = f.req_parsed("url", body.url, |s| {
        app.guarded_client()
            .check_url(s)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    });
    // Without a name the document is called by its URL.
    let name = f.opt_str("name", body.name, NAME_MAX).or_else(|| {
        url.as_deref()
            .map(|s| s.trim().chars().take(NAME_MAX).collect::<String>())
            .filter(|s| !s.is_empty())
    });
    f.finish()?;
    let Some(url) = url else {
        return Err(Error::Internal("url missing after validation".into()));
    };
    let mut doc = new_document(
        app,
        name.unwrap_or_else(|| url.clone()),
        SourceType::Url,
        "text/html",
        0,
    );
    doc.source_url = Some(url);
    let doc = create_document(app, &caller.tenant, doc, None).await?;
    Ok(view(&doc))
}

/// `POST /knowledge/{id}/reindex` (admin): re-chunk and re-embed.
pub async fn reindex(app: &App, caller: &Caller, id: &str) -> Result<KnowledgeDocumentView> {
    caller.require_admin()?;
    let (mut doc, version) = load(app, &caller.tenant, id).await?;
    doc.generation += 1;
    doc.status = DocumentStatus::Processing;
    doc.error = None;
    // A re-embedding under way is superseded: the reindex embeds anew.
    doc.live_generation = None;
    doc.updated_at = app.now_rfc3339();
    app.table
        .put(
            doc_item(&caller.tenant, &doc),
            Condition::VersionEquals(version),
        )
        .await?;
    enqueue(app, &caller.tenant, &doc).await?;
    Ok(view(&doc))
}

/// Deletes every chunk item of a document.
pub(super) async fn delete_chunks(app: &App, tenant: &Tenant, doc_id: &str) -> Result<()> {
    loop {
        let page = app
            .table
            .query(Query::partition(chunks_pk(tenant, doc_id)).limit(100))
            .await?;
        if page.items.is_empty() {
            return Ok(());
        }
        for batch in page.items.chunks(25) {
            let writes = batch
                .iter()
                .map(|i| Write::Delete {
                    pk: i.pk.clone(),
                    sk: i.sk.clone(),
                    condition: Condition::None,
                })
                .collect();
            app.table.transact(writes).await?;
        }
    }
}

/// `DELETE /knowledge/{id}` (admin): the document, its chunks, vectors,
/// original and assignments.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (doc, version) = load(app, tenant, id).await?;
    // The document item goes first, so a running worker finds it gone and
    // stops; then everything it owned.
    delete_counted(app, tenant, KIND, &doc.id, version, vec![]).await?;
    delete_chunks(app, tenant, id).await?;
    for blob in app.blobs.list(&blob_dir(tenant, id)).await? {
        app.blobs.delete(&blob.key).await?;
    }
    assignments::remove_all(app, tenant, Assignable::Document, id).await?;
    app.knowledge.forget(tenant, id);
    Ok(DeletedView::of(id))
}

/// `GET /knowledge/{id}/chunks`: `[{id, index, text, tokens}]` in order, a
/// page at a time (a large document has thousands of chunks).
pub async fn chunks(
    app: &App,
    caller: &Caller,
    id: &str,
    req: &PageRequest,
) -> Result<PageOf<ChunkView>> {
    let (doc, _) = load(app, &caller.tenant, id).await?;
    let q = Query::partition(chunks_pk(&caller.tenant, id));
    let out = page(app.table.as_ref(), q, req, |_| true).await?;
    let mut items = Vec::with_capacity(out.items.len());
    for item in &out.items {
        items.push(ChunkView::from(item.parse::<StoredChunk>()?));
    }
    Ok(PageOf {
        items,
        next_cursor: out.next_cursor,
        total: Some(u64::from(doc.chunk_count)),
        limit: out.limit,
        offset: out.offset,
    })
}

pub(super) async fn read_chunks(
    app: &App,
    tenant: &Tenant,
    doc_id: &str,
) -> Result<Vec<StoredChunk>> {
    let query = Query::partition(chunks_pk(tenant, doc_id)).limit(100);
    query_all(app.table.as_ref(), query)
        .await?
        .iter()
        .map(|item| Ok(item.parse()?))
        .collect()
}

/// `POST|DELETE /knowledge/agent/{agent_id}/assign/{doc_id}` (admin).
pub async fn assign(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    doc_id: &str,
    assigned: bool,
) -> Result<AssignmentView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    super::agents::load(app, tenant, agent_id).await?;
    load(app, tenant, doc_id).await?;
    if assigned {
        assignments::assign(app, tenant, Assignable::Document, agent_id, doc_id).await?;
    } else {
        // Unassigning what is not assigned is already the wanted state.
        match assignments::unassign(app, tenant, Assignable::Document, agent_id, doc_id).await {
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(AssignmentView::of(agent_id, doc_id, assigned))
}

pub(super) async fn agent_document_ids(
    app: &App,
    tenant: &Tenant,
    agent_id: &str,
) -> Result<Vec<String>> {
    assignments::assigned_ids(app, tenant, Assignable::Document, agent_id).await
}

/// `GET /knowledge/agent/{agent_id}`: the agent's documents.
pub async fn agent_documents(
    app: &App,
    caller: &Caller,
    agent_id: &str,
) -> Result<Vec<KnowledgeDocumentView>> {
    let tenant = &caller.tenant;
    super::agents::load(app, tenant, agent_id).await?;
    let docs: Vec<Document> =
        assignments::assigned(app, tenant, Assignable::Document, agent_id).await?;
    Ok(docs.iter().map(view).collect())
}

pub mod fair;
mod ingest;
pub mod model;
pub mod parse;
mod reembed;
mod search;

pub use ingest::{IngestOutcome, ingest};
pub use reembed::{reembed_fallback_documents, reembed_stale};
pub use search::{KnowledgeCache, QueryHit, SearchRequest, min_score, query, search};
