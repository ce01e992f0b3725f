//! The in-memory hybrid index a warm function keeps per tenant: BM25 over the
//! chunks' terms and brute-force cosine over their i8-quantised vectors,
//! ordered by a [`Ranking`] (see [`rank`](self::rank): dense-first with exact
//! evidence for rare terms and identifiers) and scoped to a set of documents.
//!
//! Everything lives in flat arrays indexed by a chunk slot, so a query is two
//! linear passes (the postings of the query's terms, then every in-scope
//! vector) with no allocation per chunk. Removing a document compacts the
//! arrays at once: removals are rare (delete, reindex), queries are not.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};

mod rank;

pub use rank::{Calibration, Evidence, Fusion, Ranking};

use super::terms::terms;
use super::vectors::{normalize, quantize};

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation.
const B: f32 = 0.75;
/// A chunk as the index takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedChunk {
    /// The chunk's id (returned in hits).
    pub chunk_id: String,
    /// Its text (with the heading path line), for BM25.
    pub text: String,
    /// Its embedding; normalised by the index.
    pub vector: Vec<f32>,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The chunk.
    pub chunk_id: String,
    /// The document it belongs to.
    pub doc_id: String,
    /// How sure the ranking is that this chunk answers the query, 0..1
    /// (see [`Ranking`]: a calibrated confidence for dense-first, the share
    /// of the query's weighted terms it holds for lexical rankings; the
    /// measurement-only [`Ranking::Rrf`] returns its fused score).
    pub score: f32,
}

/// Why a document was not indexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// A vector of another dimension than the index's.
    #[error("vector of chunk {chunk_id} has {got} dimensions, the index {expected}")]
    Dimensions {
        /// The chunk.
        chunk_id: String,
        /// The index's dimension.
        expected: usize,
        /// The vector's.
        got: usize,
    },
}

/// Hybrid BM25 + dense index over the chunks of many documents.
#[derive(Debug, Default)]
pub struct KnowledgeIndex {
    dims: usize,
    ranking: Ranking,
    // Per slot.
    chunk_ids: Vec<String>,
    slot_doc: Vec<u32>,
    lengths: Vec<u32>,
    scales: Vec<f32>,
    vectors: Vec<i8>,
    // Per document.
    doc_ids: Vec<String>,
    doc_index: HashMap<String, u32>,
    // Lexical.
    term_ids: HashMap<String, u32>,
    postings: Vec<Vec<(u32, u32)>>,
    total_length: u64,
}

impl KnowledgeIndex {
    /// An empty index for vectors of `dims` dimensions.
    pub fn new(dims: usize) -> KnowledgeIndex {
        KnowledgeIndex {
            dims,
            ..KnowledgeIndex::default()
        }
    }

    /// The same index ordering its results by `ranking`.
    pub fn with_ranking(mut self, ranking: Ranking) -> KnowledgeIndex {
        self.ranking = ranking;
        self
    }

    /// Changes how results are ordered (the search service sets the one
    /// that fits the embedder whose vectors the index holds).
    pub fn set_ranking(&mut self, ranking: Ranking) {
        self.ranking = ranking;
    }

    /// The vector dimension.
    pub fn dimensions(&self) -> usize {
        self.dims
    }

    /// Chunks indexed.
    pub fn len(&self) -> usize {
        self.chunk_ids.len()
    }

    /// Whether no chunk is indexed.
    pub fn is_empty(&self) -> bool {
        self.chunk_ids.is_empty()
    }

    /// Documents indexed.
    pub fn document_count(&self) -> usize {
        self.doc_index.len()
    }

    /// Whether the document is indexed.
    pub fn contains_document(&self, doc_id: &str) -> bool {
        self.doc_index.contains_key(doc_id)
    }

    /// Indexes a document's chunks, replacing any earlier version of it.
    /// Nothing changes when a vector has the wrong dimension.
    pub fn add_document(
        &mut self,
        doc_id: &str,
        chunks: &[IndexedChunk],
    ) -> Result<(), IndexError> {
        if let Some(bad) = chunks.iter().find(|c| c.vector.len() != self.dims) {
            return Err(IndexError::Dimensions {
                chunk_id: bad.chunk_id.clone(),
                expected: self.dims,
                got: bad.vector.len(),
            });
        }
        self.remove_document(doc_id);
        let doc = self.doc_ids.len() as u32;
        self.doc_ids.push(doc_id.to_owned());
        self.doc_index.insert(doc_id.to_owned(), doc);
        for chunk in chunks {
            let slot = self.chunk_ids.len() as u32;
            let words = terms(&chunk.text);
            let mut frequencies: HashMap<u32, u32> = HashMap::new();
            for word in words.iter() {
                let next = self.term_ids.len() as u32;
                let id = *self.term_ids.entry(word.clone()).or_insert(next);
                if id == next {
                    self.postings.push(Vec::new());
                }
                *frequencies.entry(id).or_default() += 1;
            }
            for (term, tf) in frequencies {
                self.postings[term as usize].push((slot, tf));
            }
            let mut vector = chunk.vector.clone();
            normalize(&mut vector);
            let (scale, values) = quantize(&vector);
            self.chunk_ids.push(chunk.chunk_id.clone());
            self.slot_doc.push(doc);
            self.lengths.push(words.len() as u32);
            self.total_length += words.len() as u64;
            self.scales.push(scale);
            self.vectors.extend_from_slice(&values);
        }
        Ok(())
    }

    /// Drops a document and its chunks; `false` when it was not indexed.
    pub fn remove_document(&mut self, doc_id: &str) -> bool {
        let Some(removed) = self.doc_index.remove(doc_id) else {
            return false;
        };
        // Renumber documents and slots without the removed ones.
        let mut doc_map = vec![u32::MAX; self.doc_ids.len()];
        let mut doc_ids = Vec::with_capacity(self.doc_ids.len());
        for (old, id) in self.doc_ids.drain(..).enumerate() {
            if old as u32 != removed {
                doc_map[old] = doc_ids.len() as u32;
                doc_ids.push(id);
            }
        }
        self.doc_ids = doc_ids;
        for index in self.doc_index.values_mut() {
            *index = doc_map[*index as usize];
        }
        let dims = self.dims;
        let mut slot_map = vec![u32::MAX; self.chunk_ids.len()];
        let mut kept = 0usize;
        for old in 0..self.chunk_ids.len() {
            if self.slot_doc[old] == removed {
                self.total_length -= u64::from(self.lengths[old]);
                continue;
            }
            slot_map[old] = kept as u32;
            self.chunk_ids.swap(kept, old);
            self.slot_doc[kept] = doc_map[self.slot_doc[old] as usize];
            self.lengths[kept] = self.lengths[old];
            self.scales[kept] = self.scales[old];
            self.vectors
                .copy_within(old * dims..(old + 1) * dims, kept * dims);
            kept += 1;
        }
        self.chunk_ids.truncate(kept);
        self.slot_doc.truncate(kept);
        self.lengths.truncate(kept);
        self.scales.truncate(kept);
        self.vectors.truncate(kept * dims);
        for list in &mut self.postings {
            list.retain_mut(|(slot, _)| {
                let new = slot_map[*slot as usize];
                *slot = new;
                new != u32::MAX
            });
        }
        true
    }

    /// The `top_k` chunks for a query, ordered by the index's [`Ranking`]
    /// (by default dense-first with keyword evidence when a query vector is
    /// given, BM25 alone otherwise). `scope` limits the search to those
    /// documents (`None`: all).
    pub fn search(
        &self,
        query_text: &str,
        query_vector: Option<&[f32]>,
        scope: Option<&HashSet<String>>,
        top_k: usize,
    ) -> Vec<Hit> {
        self.search_with(&self.ranking, query_text, query_vector, scope, top_k)
    }

    /// [`KnowledgeIndex::search`] ordered by `ranking` instead of the
    /// index's own (the evaluation compares them on one index).
    pub fn search_with(
        &self,
        ranking: &Ranking,
        query_text: &str,
        query_vector: Option<&[f32]>,
        scope: Option<&HashSet<String>>,
        top_k: usize,
    ) -> Vec<Hit> {
        if top_k == 0 || self.is_empty() {
            return Vec::new();
        }
        let in_scope: Vec<bool> = match scope {
            Some(set) => self.doc_ids.iter().map(|id| set.contains(id)).collect(),
            None => vec![true; self.doc_ids.len()],
        };
        if !in_scope.iter().any(|s| *s) {
            return Vec::new();
        }
        let vector = query_vector.filter(|v| v.len() == self.dims && self.dims > 0);
        let ranked = self.rank(ranking, query_text, vector, &in_scope, top_k);
        ranked
            .into_iter()
            .take(top_k)
            .map(|(score, slot)| Hit {
                chunk_id: self.chunk_ids[slot as usize].clone(),
                doc_id: self.doc_ids[self.slot_doc[slot as usize] as usize].clone(),
                score,
            })
            .collect()
    }

    /// The query's terms known to the index, each with its BM25 idf, deduplicated.
    fn query_terms(&self, query: &str) -> Vec<(u32, f32)> {
        let mut ids: Vec<u32> = terms(query)
            .iter()
            .filter_map(|t| self.term_ids.get(t).copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|id| (id, self.idf(id))).collect()
    }

    /// BM25 inverse document frequency of a term.
    fn idf(&self, term: u32) -> f32 {
        let n = self.len() as f32;
        let df = self.postings[term as usize].len() as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// BM25 score of every in-scope slot holding a query term, unordered.
    fn bm25(&self, query_terms: &[(u32, f32)], in_scope: &[bool]) -> Vec<(f32, u32)> {
        if query_terms.is_empty() {
            return Vec::new();
        }
        let n = self.len() as f32;
        let average = (self.total_length as f32 / n).max(1.0);
        let mut scores = vec![0.0f32; self.len()];
        let mut touched: Vec<u32> = Vec::new();
        for &(term, idf) in query_terms {
            for &(slot, tf) in &self.postings[term as usize] {
                let s = slot as usize;
                if !in_scope[self.slot_doc[s] as usize] {
                    continue;
                }
                let tf = tf as f32;
                let norm = K1 * (1.0 - B + B * self.lengths[s] as f32 / average);
                if scores[s] == 0.0 {
                    touched.push(slot);
                }
                scores[s] += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        touched
            .into_iter()
            .map(|slot| (scores[slot as usize], slot))
            .collect()
    }

    /// The query vector as the index compares it: unit length, quantised,
    /// with its scale.
    fn quantized_query(query: &[f32]) -> (f32, Vec<i8>) {
        let mut query = query.to_vec();
        normalize(&mut query);
        quantize(&query)
    }

    /// Cosine similarity of one slot to a quantised query.
    fn cosine(&self, query: &(f32, Vec<i8>), slot: u32) -> f32 {
        let dims = self.dims;
        let s = slot as usize;
        let vector = &self.vectors[s * dims..(s + 1) * dims];
        dot_i8(&query.1, vector) as f32 * query.0 * self.scales[s]
    }

    /// The `depth` in-scope slots most similar to the query, best first,
    /// with their cosine.
    fn dense(&self, query: &(f32, Vec<i8>), in_scope: &[bool], depth: usize) -> Vec<(f32, u32)> {
        let candidates = (0..self.len() as u32)
            .filter(|&slot| {
                in_scope[self.slot_doc[slot as usize] as usize] && self.scales[slot as usize] > 0.0
            })
            .map(|slot| (self.cosine(query, slot), slot));
        top_scored(candidates, depth)
    }

    /// Whether a slot's text holds a term (postings are in slot order).
    fn holds(&self, term: u32, slot: u32) -> bool {
        self.postings[term as usize]
            .binary_search_by_key(&slot, |(s, _)| *s)
            .is_ok()
    }
}

/// Integer dot product; written so the compiler vectorises it (i16 products
/// summed into i32 lanes).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 16;
    let mut acc = [0i32; LANES];
    let chunks = a.len() / LANES;
    for i in 0..chunks {
        let x = &a[i * LANES..(i + 1) * LANES];
        let y = &b[i * LANES..(i + 1) * LANES];
        for l in 0..LANES {
            acc[l] += i32::from(x[l]) * i32::from(y[l]);
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for i in chunks * LANES..a.len().min(b.len()) {
        sum += i32::from(a[i]) * i32::from(b[i]);
    }
    sum
}

/// A score and slot ordered by score (then by slot, for determinism).
#[derive(PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    // Reversed, so the max-heap's top is the worst kept score.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(self.1.cmp(&other.1))
    }
}

/// The `depth` best (score, slot) pairs, best first.
fn top_scored(items: impl Iterator<Item = (f32, u32)>, depth: usize) -> Vec<(f32, u32)> {
    let mut heap: BinaryHeap<Scored> = BinaryHeap::with_capacity(depth + 1);
    for (score, slot) in items {
        if heap.len() < depth {
            heap.push(Scored(score, slot));
        } else if heap.peek().is_some_and(|worst| score > worst.0) {
            heap.pop();
            heap.push(Scored(score, slot));
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|s| (s.0, s.1))
        .collect()
}

#[cfg(test)]
mod tests;
