//! Hybrid search over a tenant's ready documents, with each tenant's index
//! kept warm in the process.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{agent_document_ids, read_chunks, vectors_key};
use crate::App;
use crate::domain::fields::Fields;
use crate::domain::knowledge::{Document, DocumentStatus};
use crate::domain::{Tenant, is_id};
use crate::engine::knowledge::{Embedder, IndexedChunk, KnowledgeIndex, decode_vectors, speakable};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::keys::resource_prefix;
use crate::store::Query;

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
        let top_k = f.opt_int("top_k", 1..=super::MAX_TOP_K as i64).unwrap_or(5) as usize;
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
        crate::services::agents::load(app, tenant, agent_id).await?;
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
                    .prefix(resource_prefix(super::KIND))
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
