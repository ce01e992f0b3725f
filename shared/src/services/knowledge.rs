//! The knowledge base (SPEC §5): documents in, chunks and vectors out, and
//! hybrid search over them.
//!
//! Writes only record the document and queue it; the ingest worker
//! ([`ingest`]) parses, chunks and embeds, so an upload returns at once and a
//! slow or failing document never holds a request. Storage per document:
//! the original under `<tenant blobs>/kb/<doc>/original`, its chunks as items
//! in their own partition (`<tenant>#KBCHUNK#<doc>`), and its vectors as one
//! compact file beside the original (`vectors-<generation>.bin`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::caller::Caller;
use super::keys::*;
use super::page::{PageOf, PageRequest, page};
use crate::App;
use crate::domain::fields::Fields;
use crate::domain::knowledge::{Document, DocumentStatus, SourceType, StoredChunk};
use crate::domain::{Mode, Tenant, is_id};
use crate::engine::knowledge::{
    self as engine, Chunk, DocumentFormat, Embedder, IndexedChunk, KnowledgeIndex, decode_vectors,
    encode_vectors, speakable,
};
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, Write};

/// Resource kind in sort keys.
pub const KIND: &str = "KB";
/// Largest original accepted (SPEC: 25 MB, 413 above).
pub const MAX_UPLOAD_BYTES: usize = 25 * 1024 * 1024;
/// Largest page `ingest-url` reads (SPEC: 10 MB).
pub const MAX_URL_BYTES: usize = 10 * 1024 * 1024;
/// How long `ingest-url` waits for the page (SPEC: 10 s).
pub const URL_TIMEOUT: Duration = Duration::from_secs(10);
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

fn doc_item(tenant: &Tenant, doc: &Document) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &doc.id),
        serde_json::to_value(doc).unwrap_or_default(),
    )
}

/// The partition holding one document's chunks.
fn chunks_pk(tenant: &Tenant, doc_id: &str) -> String {
    format!("{}#KBCHUNK#{doc_id}", tenant.pk())
}

fn chunk_sk(index: u32) -> String {
    format!("C#{index:06}")
}

/// The index partition listing the agents a document is assigned to.
fn doc_refs(tenant: &Tenant, doc_id: &str) -> String {
    format!("{}#KBREF#{doc_id}", tenant.pk())
}

fn assignment_sk(agent_id: &str, doc_id: &str) -> String {
    format!("AGENTKB#{agent_id}#{doc_id}")
}

fn blob_dir(tenant: &Tenant, doc_id: &str) -> String {
    format!("{}kb/{doc_id}/", tenant.blob_prefix())
}

fn original_key(tenant: &Tenant, doc_id: &str) -> String {
    format!("{}original", blob_dir(tenant, doc_id))
}

fn vectors_key(tenant: &Tenant, doc_id: &str, generation: u32) -> String {
    format!("{}vectors-{generation}.bin", blob_dir(tenant, doc_id))
}

/// The public shape of a document.
fn view(doc: &Document) -> Value {
    let mut v = serde_json::to_value(doc).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("generation");
    }
    v
}

/// Reads a document of the tenant; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Document, u64)> {
    if !is_id(id) {
        return Err(Error::NotFound("document"));
    }
    let item = app
        .table
        .get(&tenant.pk(), &resource_sk(KIND, id))
        .await?
        .ok_or(Error::NotFound("document"))?;
    Ok((item.parse()?, item.version))
}

/// `GET /knowledge` — newest first.
pub async fn list(app: &App, caller: &Caller, req: &PageRequest) -> Result<PageOf<Value>> {
    let q = Query::partition(caller.tenant.pk())
        .prefix(resource_prefix(KIND))
        .backward();
    let out = page(app.table.as_ref(), q, req, |_| true).await?;
    let mut docs = Vec::with_capacity(out.items.len());
    for i in &out.items {
        docs.push(view(&i.parse()?));
    }
    let total = app
        .table
        .counter(&caller.tenant.pk(), &count_sk(KIND))
        .await?
        .max(0) as u64;
    Ok(PageOf {
        items: docs,
        next_cursor: out.next_cursor,
        total: Some(total),
        limit: out.limit,
        offset: out.offset,
    })
}

/// `GET /knowledge/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<Value> {
    Ok(view(&load(app, &caller.tenant, id).await?.0))
}

fn parse_name(f: &mut Fields<'_>, fallback: Option<&str>) -> Option<String> {
    f.opt_str("name", NAME_MAX).or_else(|| {
        fallback
            .map(|s| s.trim().chars().take(NAME_MAX).collect::<String>())
            .filter(|s| !s.is_empty())
    })
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
    app.table
        .transact(vec![
            Write::Put(doc_item(tenant, &doc), Condition::MustNotExist),
            Write::Add {
                pk: tenant.pk(),
                sk: count_sk(KIND),
                delta: 1,
            },
        ])
        .await?;
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
    app.queue("ingest")?.send(&body, Duration::ZERO).await?;
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
pub async fn upload(app: &App, caller: &Caller, upload: Upload) -> Result<Value> {
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
pub async fn ingest_text(app: &App, caller: &Caller, body: &Map<String, Value>) -> Result<Value> {
    caller.require_admin()?;
    let mut f = Fields::new(body);
    let name = f.req_str("name", NAME_MAX);
    let content = match f.raw("content") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            f.error("content", "must not be empty");
            None
        }
        Some(_) => {
            f.error("content", "must be a string");
            None
        }
        None => {
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
pub async fn ingest_url(app: &App, caller: &Caller, body: &Map<String, Value>) -> Result<Value> {
    caller.require_admin()?;
    let mut f = Fields::new(body);
    let url = f.opt_parsed("url", |s| {
        app.guarded_client()
            .check_url(s)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string())
    });
    if f.raw("url").is_none() {
        f.error("url", "is required");
    }
    let name = parse_name(&mut f, url.as_deref());
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
pub async fn reindex(app: &App, caller: &Caller, id: &str) -> Result<Value> {
    caller.require_admin()?;
    let (mut doc, version) = load(app, &caller.tenant, id).await?;
    doc.generation += 1;
    doc.status = DocumentStatus::Processing;
    doc.error = None;
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
async fn delete_chunks(app: &App, tenant: &Tenant, doc_id: &str) -> Result<()> {
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
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<Value> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (doc, version) = load(app, tenant, id).await?;
    // The document item goes first, so a running worker finds it gone and
    // stops; then everything it owned.
    app.table
        .transact(vec![
            Write::Delete {
                pk: tenant.pk(),
                sk: resource_sk(KIND, &doc.id),
                condition: Condition::VersionEquals(version),
            },
            Write::Add {
                pk: tenant.pk(),
                sk: count_sk(KIND),
                delta: -1,
            },
        ])
        .await?;
    delete_chunks(app, tenant, id).await?;
    for blob in app.blobs.list(&blob_dir(tenant, id)).await? {
        app.blobs.delete(&blob.key).await?;
    }
    loop {
        let refs = app
            .table
            .query(
                Query::partition(doc_refs(tenant, id))
                    .on(Index::Gsi1)
                    .limit(100),
            )
            .await?;
        if refs.items.is_empty() {
            break;
        }
        for r in refs.items {
            app.table.delete(&r.pk, &r.sk, Condition::None).await?;
        }
    }
    app.knowledge.forget(tenant, id);
    Ok(json!({"deleted": true, "id": id}))
}

/// `GET /knowledge/{id}/chunks`: `[{id, index, text, tokens}]` in order.
pub async fn chunks(app: &App, caller: &Caller, id: &str) -> Result<Vec<Value>> {
    load(app, &caller.tenant, id).await?;
    let stored = read_chunks(app, &caller.tenant, id).await?;
    Ok(stored
        .into_iter()
        .map(|c| json!({"id": c.id, "index": c.index, "text": c.text, "tokens": c.tokens}))
        .collect())
}

async fn read_chunks(app: &App, tenant: &Tenant, doc_id: &str) -> Result<Vec<StoredChunk>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .table
            .query(
                Query::partition(chunks_pk(tenant, doc_id))
                    .limit(100)
                    .after(cursor),
            )
            .await?;
        for item in &page.items {
            out.push(item.parse()?);
        }
        cursor = page.next;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// `POST|DELETE /knowledge/agent/{agent_id}/assign/{doc_id}` (admin).
pub async fn assign(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    doc_id: &str,
    assigned: bool,
) -> Result<Value> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    super::agents::load(app, tenant, agent_id).await?;
    load(app, tenant, doc_id).await?;
    let sk = assignment_sk(agent_id, doc_id);
    if assigned {
        let item = Item::new(
            tenant.pk(),
            sk,
            json!({"agent_id": agent_id, "document_id": doc_id, "assigned_at": app.now_rfc3339()}),
        )
        .with_gsi1(doc_refs(tenant, doc_id), format!("AGENT#{agent_id}"));
        app.table.put(item, Condition::None).await?;
    } else {
        app.table.delete(&tenant.pk(), &sk, Condition::None).await?;
    }
    Ok(json!({"agent_id": agent_id, "document_id": doc_id, "assigned": assigned}))
}

async fn agent_document_ids(app: &App, tenant: &Tenant, agent_id: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .table
            .query(
                Query::partition(tenant.pk())
                    .prefix(format!("AGENTKB#{agent_id}#"))
                    .after(cursor),
            )
            .await?;
        for item in &page.items {
            if let Some(id) = item.data.get("document_id").and_then(Value::as_str) {
                ids.push(id.to_owned());
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return Ok(ids);
        }
    }
}

/// `GET /knowledge/agent/{agent_id}`: the agent's documents.
pub async fn agent_documents(app: &App, caller: &Caller, agent_id: &str) -> Result<Vec<Value>> {
    let tenant = &caller.tenant;
    super::agents::load(app, tenant, agent_id).await?;
    let mut out = Vec::new();
    for id in agent_document_ids(app, tenant, agent_id).await? {
        if let Ok((doc, _)) = load(app, tenant, &id).await {
            out.push(view(&doc));
        }
    }
    Ok(out)
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryHit {
    /// The chunk.
    pub chunk_id: String,
    /// Its document.
    pub document_id: String,
    /// The document's name.
    pub document_name: String,
    /// The chunk's text (speakable in voice mode).
    pub text: String,
    /// Fused score, higher is better.
    pub score: f32,
}

/// What to search for.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The question.
    pub query: String,
    /// Results wanted (1..=50).
    pub top_k: usize,
    /// Short, speakable answers.
    pub voice_mode: bool,
    /// Only this agent's documents.
    pub agent_id: Option<String>,
    /// Only these documents.
    pub document_ids: Option<Vec<String>>,
}

impl SearchRequest {
    /// Parses a `POST /knowledge/query` body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self> {
        let mut f = Fields::new(body);
        let query = f.req_str("query", 2_000);
        let top_k = f.opt_int("top_k", 1..=MAX_TOP_K as i64).unwrap_or(5) as usize;
        let voice_mode = f.opt_bool("voice_mode").unwrap_or(false);
        let agent_id = f.opt_parsed("agent_id", |s| {
            if is_id(s) {
                Ok(s.to_owned())
            } else {
                Err("must be an agent id".into())
            }
        });
        let document_ids: Option<Vec<String>> = f.opt_json("document_ids");
        if document_ids.as_ref().is_some_and(|ids| ids.len() > 500) {
            f.error("document_ids", "must have at most 500 ids");
        }
        f.finish()?;
        Ok(Self {
            query: query.unwrap_or_default(),
            top_k,
            voice_mode,
            agent_id,
            document_ids,
        })
    }
}

/// `POST /knowledge/query`: hybrid search over the tenant's ready documents,
/// scoped to an agent's documents and/or a list of ids.
pub async fn query(app: &App, caller: &Caller, body: &Map<String, Value>) -> Result<Vec<Value>> {
    let req = SearchRequest::parse(body)?;
    let hits = search(app, &caller.tenant, &req).await?;
    Ok(hits
        .into_iter()
        .map(|h| serde_json::to_value(h).unwrap_or(Value::Null))
        .collect())
}

/// The search behind `POST /knowledge/query` (the conversation engine calls it
/// too, for `knowledge` flow nodes).
pub async fn search(app: &App, tenant: &Tenant, req: &SearchRequest) -> Result<Vec<QueryHit>> {
    let mut scope: Option<HashSet<String>> = req
        .document_ids
        .as_ref()
        .map(|ids| ids.iter().cloned().collect());
    if let Some(agent_id) = &req.agent_id {
        super::agents::load(app, tenant, agent_id).await?;
        let assigned: HashSet<String> = agent_document_ids(app, tenant, agent_id)
            .await?
            .into_iter()
            .collect();
        scope = Some(match scope {
            Some(ids) => ids.intersection(&assigned).cloned().collect(),
            None => assigned,
        });
    }
    if scope.as_ref().is_some_and(HashSet::is_empty) {
        return Ok(Vec::new());
    }
    let embedder = app.embedder_for(tenant.mode).await?;
    let docs = ready_documents(app, tenant, embedder.name()).await?;
    let index = app
        .knowledge
        .index_for(app, tenant, &docs, embedder.as_ref())
        .await?;
    let vector = embedder
        .embed(std::slice::from_ref(&req.query))
        .await?
        .into_iter()
        .next();
    let hits = index
        .read()
        .map_err(|_| Error::Internal("knowledge index poisoned".into()))?
        .search(&req.query, vector.as_deref(), scope.as_ref(), req.top_k);
    let names: HashMap<&str, &str> = docs
        .iter()
        .map(|d| (d.id.as_str(), d.name.as_str()))
        .collect();
    let mut out = Vec::with_capacity(hits.len());
    for hit in hits {
        let Some(text) = app.knowledge.chunk_text(tenant, &hit.chunk_id) else {
            continue;
        };
        out.push(QueryHit {
            text: if req.voice_mode {
                speakable(&text)
            } else {
                text
            },
            document_name: names
                .get(hit.doc_id.as_str())
                .copied()
                .unwrap_or("")
                .to_owned(),
            chunk_id: hit.chunk_id,
            document_id: hit.doc_id,
            score: hit.score,
        });
    }
    Ok(out)
}

/// The tenant's documents that are ready and embedded by `embedder`.
async fn ready_documents(app: &App, tenant: &Tenant, embedder: &str) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .table
            .query(
                Query::partition(tenant.pk())
                    .prefix(resource_prefix(KIND))
                    .after(cursor),
            )
            .await?;
        for item in &page.items {
            let doc: Document = item.parse()?;
            if doc.status == DocumentStatus::Ready && doc.embedder.as_deref() == Some(embedder) {
                out.push(doc);
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// Per-process cache of each tenant's search index, kept in step with the
/// documents' generations (a warm function answers without reloading).
#[derive(Default)]
pub struct KnowledgeCache {
    tenants: std::sync::Mutex<HashMap<String, Arc<TenantIndex>>>,
}

/// One tenant's loaded documents.
pub struct TenantIndex {
    index: std::sync::RwLock<KnowledgeIndex>,
    loaded: std::sync::Mutex<HashMap<String, u32>>,
    texts: std::sync::RwLock<HashMap<String, String>>,
    load_lock: tokio::sync::Mutex<()>,
}

impl KnowledgeCache {
    fn tenant(&self, tenant: &Tenant, dims: usize) -> Arc<TenantIndex> {
        let mut map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(tenant.pk()).or_insert_with(|| {
            Arc::new(TenantIndex {
                index: std::sync::RwLock::new(KnowledgeIndex::new(dims)),
                loaded: Default::default(),
                texts: Default::default(),
                load_lock: Default::default(),
            })
        });
        if entry.index.read().is_ok_and(|i| i.dimensions() != dims) {
            *entry = Arc::new(TenantIndex {
                index: std::sync::RwLock::new(KnowledgeIndex::new(dims)),
                loaded: Default::default(),
                texts: Default::default(),
                load_lock: Default::default(),
            });
        }
        entry.clone()
    }

    /// Drops a document from the tenant's cached index.
    pub fn forget(&self, tenant: &Tenant, doc_id: &str) {
        let map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = map.get(&tenant.pk()) {
            if let Ok(mut index) = t.index.write() {
                index.remove_document(doc_id);
            }
            if let Ok(mut loaded) = t.loaded.lock() {
                loaded.remove(doc_id);
            }
        }
    }

    fn chunk_text(&self, tenant: &Tenant, chunk_id: &str) -> Option<String> {
        let map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let t = map.get(&tenant.pk())?;
        t.texts.read().ok()?.get(chunk_id).cloned()
    }

    /// The tenant's index with exactly `docs` (at their generations) loaded.
    async fn index_for(
        &self,
        app: &App,
        tenant: &Tenant,
        docs: &[Document],
        embedder: &dyn Embedder,
    ) -> Result<Arc<TenantIndex>> {
        let t = self.tenant(tenant, embedder.dimensions());
        let loading = t.load_lock.lock().await;
        let wanted: HashMap<&str, u32> =
            docs.iter().map(|d| (d.id.as_str(), d.generation)).collect();
        let stale: Vec<String> = {
            let loaded = t.loaded.lock().unwrap_or_else(|e| e.into_inner());
            loaded
                .iter()
                .filter(|(id, generation)| wanted.get(id.as_str()) != Some(generation))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in &stale {
            if let Ok(mut index) = t.index.write() {
                index.remove_document(id);
            }
            t.loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
        }
        for doc in docs {
            let have = t
                .loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&doc.id)
                .copied();
            if have == Some(doc.generation) {
                continue;
            }
            let chunks = read_chunks(app, tenant, &doc.id).await?;
            let Some(blob) = app
                .blobs
                .get(&vectors_key(tenant, &doc.id, doc.generation))
                .await?
            else {
                tracing::warn!(doc = %doc.id, "ready document without vectors; skipped");
                continue;
            };
            let vectors = decode_vectors(&blob.bytes)
                .map_err(|e| Error::Internal(format!("vectors of {}: {e}", doc.id)))?;
            if vectors.len() != chunks.len() {
                tracing::warn!(doc = %doc.id, "chunk and vector counts differ; skipped");
                continue;
            }
            let indexed: Vec<IndexedChunk> = chunks
                .iter()
                .zip(vectors)
                .map(|(c, v)| IndexedChunk {
                    chunk_id: c.id.clone(),
                    text: c.text.clone(),
                    vector: v,
                })
                .collect();
            {
                let mut index = t
                    .index
                    .write()
                    .map_err(|_| Error::Internal("knowledge index poisoned".into()))?;
                index.remove_document(&doc.id);
                if let Err(e) = index.add_document(&doc.id, &indexed) {
                    tracing::warn!(doc = %doc.id, error = %e, "document not indexed");
                    continue;
                }
            }
            if let Ok(mut texts) = t.texts.write() {
                for c in chunks {
                    texts.insert(c.id, c.text);
                }
            }
            t.loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(doc.id.clone(), doc.generation);
        }
        drop(loading);
        Ok(t)
    }
}

impl TenantIndex {
    fn read(&self) -> std::result::Result<std::sync::RwLockReadGuard<'_, KnowledgeIndex>, ()> {
        self.index.read().map_err(|_| ())
    }
}

/// What the ingest worker did with one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Indexed: the document is ready.
    Ready {
        /// Chunks stored.
        chunks: u32,
    },
    /// The document cannot be read; it is marked failed (not retried).
    Failed(String),
    /// Nothing to do: the document is gone or a newer job owns it.
    Skipped,
}

/// The ingest worker's job: fetch or read the original, extract, chunk,
/// embed, store chunks and vectors, mark the document ready — or failed with
/// a useful error. Idempotent: a redelivered job redoes the same work. An
/// `Err` is a transient failure (store, embedder down): the message is retried.
pub async fn ingest(app: &App, job: &IngestJob) -> Result<IngestOutcome> {
    let tenant = job.tenant();
    let Ok((doc, _)) = load(app, &tenant, &job.document_id).await else {
        return Ok(IngestOutcome::Skipped);
    };
    if doc.generation != job.generation {
        return Ok(IngestOutcome::Skipped);
    }
    let original = match read_original(app, &tenant, &doc).await {
        Ok(o) => o,
        Err(Failure::Permanent(reason)) => {
            finish(app, &tenant, &doc, Err(reason.clone()), None).await?;
            return Ok(IngestOutcome::Failed(reason));
        }
        Err(Failure::Transient(e)) => return Err(e),
    };
    let extracted = engine::extract(&original.bytes, &original.mime, None);
    let chunks: Vec<Chunk> = match extracted {
        Ok(d) => engine::chunk_document(&d),
        Err(e) => {
            let reason = e.to_string();
            finish(app, &tenant, &doc, Err(reason.clone()), None).await?;
            return Ok(IngestOutcome::Failed(reason));
        }
    };
    if chunks.is_empty() {
        let reason = "the document contains no extractable text".to_owned();
        finish(app, &tenant, &doc, Err(reason.clone()), None).await?;
        return Ok(IngestOutcome::Failed(reason));
    }
    let embedder = app.embedder_for(tenant.mode).await?;
    let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
    let vectors = embedder.embed(&texts).await?;
    let encoded = encode_vectors(&vectors).map_err(|e| Error::Internal(e.to_string()))?;
    app.blobs
        .put(
            &vectors_key(&tenant, &doc.id, doc.generation),
            bytes::Bytes::from(encoded),
            "application/octet-stream",
        )
        .await?;
    delete_chunks(app, &tenant, &doc.id).await?;
    let stored: Vec<StoredChunk> = chunks
        .iter()
        .map(|c| StoredChunk {
            id: format!("{}:{}", doc.id, c.index),
            document_id: doc.id.clone(),
            index: c.index as u32,
            text: c.text.clone(),
            tokens: c.tokens as u32,
        })
        .collect();
    for batch in stored.chunks(25) {
        let writes = batch
            .iter()
            .map(|c| {
                Write::Put(
                    Item::new(
                        chunks_pk(&tenant, &doc.id),
                        chunk_sk(c.index),
                        serde_json::to_value(c).unwrap_or_default(),
                    ),
                    Condition::None,
                )
            })
            .collect();
        app.table.transact(writes).await?;
    }
    let count = stored.len() as u32;
    finish(app, &tenant, &doc, Ok(count), Some(embedder.name())).await?;
    // Older generations' vectors are no longer read.
    for blob in app.blobs.list(&blob_dir(&tenant, &doc.id)).await? {
        if blob.key.contains("/vectors-")
            && blob.key != vectors_key(&tenant, &doc.id, doc.generation)
        {
            app.blobs.delete(&blob.key).await?;
        }
    }
    Ok(IngestOutcome::Ready { chunks: count })
}

struct Original {
    bytes: bytes::Bytes,
    mime: String,
}

enum Failure {
    /// The document itself is the problem: mark it failed, do not retry.
    Permanent(String),
    /// Something else failed: retry the job.
    Transient(Error),
}

async fn read_original(
    app: &App,
    tenant: &Tenant,
    doc: &Document,
) -> std::result::Result<Original, Failure> {
    if doc.source_type == SourceType::Url {
        let url = doc.source_url.clone().unwrap_or_default();
        let request = crate::net::OutboundRequest::new(http_get(), url)
            .timeout(URL_TIMEOUT)
            .max_body_bytes(MAX_URL_BYTES);
        let response = app
            .guarded_client()
            .send(request)
            .await
            .map_err(|e| Failure::Permanent(format!("could not fetch the page: {e}")))?;
        if !(200..300).contains(&response.status) {
            return Err(Failure::Permanent(format!(
                "fetching the page answered HTTP {}",
                response.status
            )));
        }
        let mime = response
            .content_type
            .clone()
            .unwrap_or_else(|| "text/html".into());
        // Keep the fetched page as the original, for reindexing.
        let bytes = response.body.clone();
        app.blobs
            .put(&original_key(tenant, &doc.id), bytes.clone(), &mime)
            .await
            .map_err(|e| Failure::Transient(e.into()))?;
        return Ok(Original { bytes, mime });
    }
    match app.blobs.get(&original_key(tenant, &doc.id)).await {
        Ok(Some(blob)) => Ok(Original {
            bytes: blob.bytes,
            mime: blob.content_type,
        }),
        Ok(None) => Err(Failure::Permanent("the original file is missing".into())),
        Err(e) => Err(Failure::Transient(e.into())),
    }
}

fn http_get() -> reqwest::Method {
    reqwest::Method::GET
}

/// Marks the job's document ready (with its chunk count) or failed, unless a
/// newer generation or a delete got there first. Emits `knowledge.ready`.
async fn finish(
    app: &App,
    tenant: &Tenant,
    doc: &Document,
    result: std::result::Result<u32, String>,
    embedder: Option<&str>,
) -> Result<()> {
    let Ok((mut current, version)) = load(app, tenant, &doc.id).await else {
        return Ok(());
    };
    if current.generation != doc.generation {
        return Ok(());
    }
    match &result {
        Ok(count) => {
            current.status = DocumentStatus::Ready;
            current.chunk_count = *count;
            current.error = None;
            current.embedder = embedder.map(str::to_owned);
        }
        Err(reason) => {
            current.status = DocumentStatus::Failed;
            current.error = Some(reason.clone());
            current.chunk_count = 0;
        }
    }
    current.updated_at = app.now_rfc3339();
    match app
        .table
        .put(
            doc_item(tenant, &current),
            Condition::VersionEquals(version),
        )
        .await
    {
        Ok(_) => {}
        // A reindex or delete raced us; the newer job finishes the document.
        Err(crate::store::StoreError::ConditionFailed) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let event_type = if result.is_ok() {
        "knowledge.ready"
    } else {
        "knowledge.failed"
    };
    super::events::emit(app, tenant, event_type, view(&current)).await
}
