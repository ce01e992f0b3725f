//! Hybrid search over a tenant's ready documents, with each tenant's index
//! kept warm in the process.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{agent_document_ids, read_chunks, vectors_key};
use crate::App;
use crate::domain::input::Checks;
use crate::domain::knowledge::{Document, DocumentStatus};
use crate::domain::{Tenant, is_id};
use crate::engine::knowledge::{
    Embedder, HashingEmbedder, IndexedChunk, KnowledgeIndex, Ranking, decode_vectors,
    is_lexical_fallback, speakable, vector_space,
};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::repository::query_all;
use crate::services::table_keys::resource_prefix;
use crate::store::Query;

pub use crate::services::views::{KnowledgeQueryInput, QueryHit};

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
    /// Hits whose `score` (a 0..1 confidence) is below this are left out;
    /// the call engine passes the configured threshold
    /// (`SWITCHBOARD_KNOWLEDGE_MIN_SCORE`) so a guess is not read to a caller,
    /// and API clients may ask for it (`min_score`).
    pub min_score: Option<f32>,
}

impl SearchRequest {
    /// Parses a `POST /knowledge/query` body.
    pub fn parse(body: KnowledgeQueryInput) -> Result<Self> {
        let mut f = Checks::new();
        f.unknown(body.unknown.keys(), "is not a field of a knowledge query");
        let query = f.req_str("query", body.query, 2_000);
        let top_k = f
            .opt_int("top_k", body.top_k, 1..=super::MAX_TOP_K as i64)
            .unwrap_or(5) as usize;
        let voice_mode = f.opt_bool("voice_mode", body.voice_mode).unwrap_or(false);
        let agent_id = f.opt_parsed("agent_id", body.agent_id, |s| {
            if is_id(s) {
                Ok(s.to_owned())
            } else {
                Err("must be an agent id".into())
            }
        });
        let document_ids: Option<Vec<String>> = f.opt_json("document_ids", body.document_ids);
        let min_score = f
            .opt_f64("min_score", body.min_score, 0.0..=1.0)
            .map(|s| s as f32);
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
            min_score,
        })
    }
}

/// `POST /knowledge/query`: hybrid search over the tenant's ready documents,
/// scoped to an agent's documents and/or a list of ids.
pub async fn query(app: &App, caller: &Caller, body: KnowledgeQueryInput) -> Result<Vec<QueryHit>> {
    let req = SearchRequest::parse(body)?;
    search(app, &caller.tenant, &req).await
}

/// The score below which a passage is not relevant enough to answer with:
/// the configured threshold when the embedder in use is one it was measured
/// on (the offline embedders), none otherwise.
pub async fn min_score(app: &App, mode: crate::domain::Mode) -> Option<f32> {
    match app.embedder_for(mode).await {
        Ok(embedder) if crate::engine::knowledge::Calibration::is_fitted(embedder.name()) => {
            Some(app.config.knowledge_min_score)
        }
        _ => None,
    }
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
    let docs = ready_documents(app, tenant).await?;
    // Documents another embedder made: queued to be re-embedded, and until
    // then searched with what their vectors allow — never mixed with the
    // current embedder's vectors.
    let mut groups: HashMap<&str, Vec<Document>> = HashMap::new();
    let mut stale = Vec::new();
    for (doc, version) in &docs {
        let made_by = doc.embedder.as_deref().unwrap_or("");
        if vector_space(made_by) != vector_space(embedder.name()) && doc.live_generation.is_none() {
            stale.push((doc.clone(), *version));
        }
        groups.entry(made_by).or_default().push(doc.clone());
    }
    if !stale.is_empty() {
        super::reembed_stale(app, tenant, &stale).await;
    }
    let mut hits = Vec::new();
    let mut texts: HashMap<String, Shown> = HashMap::new();
    for (made_by, group) in &groups {
        let (vectors, dims, ranking) = group_search(embedder.as_ref(), made_by);
        let index = app
            .knowledge
            .index_for(app, tenant, group, made_by, dims)
            .await?;
        let vector = match vectors {
            GroupVectors::Current => embedder
                .embed(std::slice::from_ref(&req.query))
                .await?
                .into_iter()
                .next(),
            GroupVectors::Hashed(hashing) => Some(hashing.embed_one(&req.query)),
            GroupVectors::None => None,
        };
        let found = index
            .read()
            .map_err(|_| Error::Internal("knowledge index poisoned".into()))?
            .search_with(
                &ranking,
                &req.query,
                vector.as_deref(),
                scope.as_ref(),
                req.top_k,
            );
        for hit in &found {
            if let Some(text) = index.text(&hit.chunk_id) {
                texts.insert(hit.chunk_id.clone(), text);
            }
        }
        hits.extend(found);
    }
    // Scores are confidences in 0..1 whichever ranking made them.
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(req.top_k);
    if let Some(min) = req.min_score {
        hits.retain(|hit| hit.score >= min);
    }
    let names: HashMap<&str, &str> = docs
        .iter()
        .map(|(d, _)| (d.id.as_str(), d.name.as_str()))
        .collect();
    let mut out = Vec::with_capacity(hits.len());
    for hit in hits {
        let Some(Shown { text, heading }) = texts.remove(&hit.chunk_id) else {
            continue;
        };
        out.push(QueryHit {
            text: if req.voice_mode {
                speakable(&text)
            } else {
                text
            },
            heading,
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

/// How one group of documents (by the embedder that made their vectors) is
/// searched.
enum GroupVectors {
    /// With the current embedder's query vector.
    Current,
    /// With the lexical fallback's hashed query vector (always available).
    Hashed(HashingEmbedder),
    /// By words alone: the model that made the vectors is not loaded.
    None,
}

/// How documents whose vectors `made_by` produced are searched while
/// `current` is the embedder: their own vectors when the query can be
/// embedded the same way, else their words — never another embedder's
/// vectors against theirs. Returns the query vectors, the index dimension
/// and the ranking.
fn group_search(current: &dyn Embedder, made_by: &str) -> (GroupVectors, usize, Ranking) {
    if vector_space(made_by) == vector_space(current.name()) {
        let ranking = Ranking::for_embedder(current.name(), is_lexical_fallback(current));
        return (GroupVectors::Current, current.dimensions(), ranking);
    }
    match HashingEmbedder::from_name(made_by) {
        Some(hashing) => {
            let dims = hashing.dimensions();
            let ranking = Ranking::for_embedder(made_by, true);
            (GroupVectors::Hashed(hashing), dims, ranking)
        }
        None => (GroupVectors::None, 0, Ranking::LexicalOnly),
    }
}

/// The tenant's ready documents, with their store versions.
async fn ready_documents(app: &App, tenant: &Tenant) -> Result<Vec<(Document, u64)>> {
    let query = Query::partition(tenant.pk()).prefix(resource_prefix(super::KIND));
    let mut out = Vec::new();
    for item in query_all(app.table.as_ref(), query).await? {
        let doc: Document = item.parse()?;
        if doc.status == DocumentStatus::Ready {
            out.push((doc, item.version));
        }
    }
    Ok(out)
}

/// Default memory budget of the [`KnowledgeCache`].
pub const CACHE_BUDGET_BYTES: usize = 256 * 1024 * 1024;

/// Per-process cache of each tenant's search index, kept in step with the
/// documents' generations (a warm function answers without reloading).
/// Bounded: past its budget of (estimated) bytes the least recently used
/// tenants are dropped, and reload on their next query.
pub struct KnowledgeCache {
    /// By tenant and the embedder that made the vectors.
    tenants: std::sync::Mutex<HashMap<(String, String), Cached>>,
    budget_bytes: usize,
    clock: std::sync::atomic::AtomicU64,
}

struct Cached {
    index: Arc<TenantIndex>,
    last_used: u64,
}

impl Default for KnowledgeCache {
    fn default() -> KnowledgeCache {
        KnowledgeCache::with_budget(CACHE_BUDGET_BYTES)
    }
}

/// One tenant's loaded documents.
pub struct TenantIndex {
    index: std::sync::RwLock<KnowledgeIndex>,
    /// Generation and estimated bytes of each loaded document.
    loaded: std::sync::Mutex<HashMap<String, (u32, usize)>>,
    texts: std::sync::RwLock<HashMap<String, Shown>>,
    load_lock: tokio::sync::Mutex<()>,
}

impl TenantIndex {
    fn new(dims: usize) -> Arc<TenantIndex> {
        Arc::new(TenantIndex {
            index: std::sync::RwLock::new(KnowledgeIndex::new(dims)),
            loaded: Default::default(),
            texts: Default::default(),
            load_lock: Default::default(),
        })
    }

    /// Estimated memory of the loaded documents.
    fn bytes(&self) -> usize {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.values().map(|(_, bytes)| bytes).sum()
    }

    /// A loaded chunk's text and heading.
    fn text(&self, chunk_id: &str) -> Option<Shown> {
        self.texts.read().ok()?.get(chunk_id).cloned()
    }
}

/// What a hit shows of its chunk.
#[derive(Clone)]
struct Shown {
    text: String,
    heading: Option<String>,
}

/// Estimated memory one chunk holds in the cache: its text twice (the text
/// map and the index's terms), its vector, and bookkeeping.
fn chunk_bytes(text: &str, dims: usize) -> usize {
    2 * text.len() + 4 * dims + 256
}

impl KnowledgeCache {
    /// A cache holding at most about `budget_bytes` of indexes.
    pub fn with_budget(budget_bytes: usize) -> KnowledgeCache {
        KnowledgeCache {
            tenants: Default::default(),
            budget_bytes,
            clock: Default::default(),
        }
    }

    fn tenant(&self, tenant: &Tenant, embedder: &str, dims: usize) -> Arc<TenantIndex> {
        let now = self
            .clock
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant.pk(), embedder.to_owned());
        let entry = map.entry(key).or_insert_with(|| Cached {
            index: TenantIndex::new(dims),
            last_used: now,
        });
        entry.last_used = now;
        if entry
            .index
            .index
            .read()
            .is_ok_and(|i| i.dimensions() != dims)
        {
            entry.index = TenantIndex::new(dims);
        }
        entry.index.clone()
    }

    /// Drops least recently used tenants (never `keep`) until the cache fits
    /// its budget.
    fn evict(&self, keep: &str) {
        let mut map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let mut sizes: Vec<(u64, (String, String), usize)> = map
            .iter()
            .map(|(pk, c)| (c.last_used, pk.clone(), c.index.bytes()))
            .collect();
        let mut total: usize = sizes.iter().map(|(_, _, b)| b).sum();
        sizes.sort_unstable();
        for (_, pk, bytes) in sizes {
            if total <= self.budget_bytes {
                break;
            }
            if pk.0 != keep {
                map.remove(&pk);
                total -= bytes;
            }
        }
    }

    /// Drops a document from the tenant's cached indexes.
    pub fn forget(&self, tenant: &Tenant, doc_id: &str) {
        let map = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        let pk = tenant.pk();
        for t in map
            .iter()
            .filter(|((org, _), _)| *org == pk)
            .map(|(_, c)| &c.index)
        {
            if let Ok(mut index) = t.index.write() {
                index.remove_document(doc_id);
            }
            if let Ok(mut loaded) = t.loaded.lock() {
                loaded.remove(doc_id);
            }
        }
    }

    /// The tenant's index of the vectors `embedder` made, with exactly
    /// `docs` (at their searchable generations) loaded. An index of 0
    /// dimensions holds words only (the vectors are not loaded).
    async fn index_for(
        &self,
        app: &App,
        tenant: &Tenant,
        docs: &[Document],
        embedder: &str,
        dims: usize,
    ) -> Result<Arc<TenantIndex>> {
        let t = self.tenant(tenant, embedder, dims);
        let loading = t.load_lock.lock().await;
        let wanted: HashMap<&str, u32> = docs
            .iter()
            .map(|d| (d.id.as_str(), d.searchable_generation()))
            .collect();
        let stale: Vec<String> = {
            let loaded = t.loaded.lock().unwrap_or_else(|e| e.into_inner());
            loaded
                .iter()
                .filter(|(id, (generation, _))| wanted.get(id.as_str()) != Some(generation))
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
            if let Ok(mut texts) = t.texts.write() {
                let prefix = format!("{id}:");
                texts.retain(|chunk_id, _| !chunk_id.starts_with(&prefix));
            }
        }
        for doc in docs {
            let have = t
                .loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&doc.id)
                .map(|(generation, _)| *generation);
            let generation = doc.searchable_generation();
            if have == Some(generation) {
                continue;
            }
            let chunks = read_chunks(app, tenant, &doc.id).await?;
            let Some(blob) = app
                .blobs
                .get(&vectors_key(tenant, &doc.id, generation))
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
                    vector: if dims == 0 { Vec::new() } else { v },
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
            let bytes = chunks.iter().map(|c| chunk_bytes(&c.text, dims)).sum();
            if let Ok(mut texts) = t.texts.write() {
                for c in chunks {
                    texts.insert(
                        c.id,
                        Shown {
                            text: c.text,
                            heading: c.heading,
                        },
                    );
                }
            }
            t.loaded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(doc.id.clone(), (generation, bytes));
        }
        drop(loading);
        self.evict(&tenant.pk());
        Ok(t)
    }
}

impl TenantIndex {
    fn read(&self) -> std::result::Result<std::sync::RwLockReadGuard<'_, KnowledgeIndex>, ()> {
        self.index.read().map_err(|_| ())
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use crate::domain::Mode;

    fn tenant(org: &str) -> Tenant {
        Tenant {
            org_id: org.into(),
            mode: Mode::Live,
        }
    }

    /// Loads a tenant's index as holding `bytes`, then evicts as a load does.
    fn load(cache: &KnowledgeCache, org: &str, bytes: usize) {
        let t = cache.tenant(&tenant(org), "e", 4);
        t.loaded.lock().unwrap().insert("doc".into(), (1, bytes));
        cache.evict(&tenant(org).pk());
    }

    fn cached(cache: &KnowledgeCache) -> Vec<String> {
        let mut orgs: Vec<String> = cache
            .tenants
            .lock()
            .unwrap()
            .keys()
            .map(|(org, _)| org.clone())
            .collect();
        orgs.sort();
        orgs
    }

    #[test]
    fn chunks_stored_before_headings_were_kept_apart_still_load() {
        let old: crate::domain::knowledge::StoredChunk = serde_json::from_value(
            serde_json::json!({"id": "d:0", "document_id": "d", "index": 0,
                "text": "# Hours > Holidays\nClosed on bank holidays.", "tokens": 9}),
        )
        .unwrap();
        // No heading shown until it is reindexed: a text's first line
        // starting with `# ` is not proof of a heading path.
        assert_eq!(old.heading, None);
    }

    #[test]
    fn the_cache_drops_least_recently_used_tenants_past_its_budget() {
        let cache = KnowledgeCache::with_budget(1_000);
        load(&cache, "a", 400);
        load(&cache, "b", 400);
        assert_eq!(cached(&cache).len(), 2);
        // `a` is used again: `b` is now the least recently used.
        cache.tenant(&tenant("a"), "e", 4);
        load(&cache, "c", 400);
        assert_eq!(cached(&cache), vec![tenant("a").pk(), tenant("c").pk()]);
        // A tenant larger than the whole budget stays (it is in use) alone.
        load(&cache, "d", 5_000);
        assert_eq!(cached(&cache), vec![tenant("d").pk()]);
    }
}
