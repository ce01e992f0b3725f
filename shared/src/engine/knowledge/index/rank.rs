//! How the index orders what it finds, and what its scores mean.
//!
//! Measured on the retrieval evaluation (tests/data/retrieval-eval, issue
//! 16): rank fusion by `weight / (60 + rank)` let any keyword match outrank
//! the model's first choice, and on questions phrased the way callers talk
//! the shared words mostly belong to look-alike passages of other documents.
//! So with model vectors the cosine decides ([`Ranking::DenseFirst`]) and
//! keywords only add evidence where they carry information: exact matches of
//! the question's rare terms (few chunks hold them) and identifiers (order
//! numbers, codes, prices). With the lexical fallback's hashed vectors BM25
//! decides and the cosine only breaks ties ([`Ranking::LexicalFirst`]), so
//! the fallback is never worse than BM25 alone.
//!
//! Scores are confidences in 0..1 a caller can act on: dense-first maps its
//! score through a logistic [`Calibration`] fitted on the evaluation's dev
//! split (the share of top answers that were right at that score); lexical
//! rankings return the idf-weighted share of the question's terms the chunk
//! holds.

use super::{KnowledgeIndex, top_scored};
use crate::engine::knowledge::terms::terms;

/// How a search orders the chunks it finds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ranking {
    /// Model vectors: cosine first; exact matches of the question's rare
    /// terms and identifiers add [`Evidence`]. Without a query vector it
    /// ranks as [`Ranking::LexicalFirst`].
    DenseFirst(Evidence),
    /// Lexical (hashed) vectors: BM25 decides; the cosine, weighted by
    /// `tie_weight` against BM25 scaled to 0..1, only separates near ties.
    LexicalFirst {
        /// Weight of the cosine against the normalised BM25 score.
        tie_weight: f32,
    },
    /// Cosine alone, calibrated (measurement).
    DenseOnly(Calibration),
    /// BM25 alone (measurement).
    LexicalOnly,
    /// The former weighted reciprocal rank fusion (measurement).
    Rrf(Fusion),
}

impl Default for Ranking {
    fn default() -> Ranking {
        Ranking::DenseFirst(Evidence::default())
    }
}

impl Ranking {
    /// The ranking that fits an embedder's vectors: lexical-first for the
    /// hashing fallback (its vectors are the weaker signal), dense-first with
    /// the embedder's calibration otherwise.
    pub fn for_embedder(name: &str, lexical: bool) -> Ranking {
        if lexical {
            Ranking::LexicalFirst {
                tie_weight: LEXICAL_TIE_WEIGHT,
            }
        } else {
            Ranking::DenseFirst(Evidence {
                calibration: Calibration::for_embedder(name),
                ..Evidence::default()
            })
        }
    }
}

/// Weight of the hashed cosine in [`Ranking::LexicalFirst`]: none. On the
/// dev split weights from 0.001 to 0.5 gained nothing (BENCHMARKS.md) — the
/// hashed vectors know no more than BM25's words — and on the test split
/// even breaking exact ties by them lost a question, so the fallback ranks
/// exactly as BM25 does and is never worse than it.
pub const LEXICAL_TIE_WEIGHT: f32 = 0.0;

/// How keyword evidence is added to the cosine in [`Ranking::DenseFirst`]:
/// `score = cosine + weight × (idf of the rare query terms the chunk holds /
/// idf of all the query's known terms)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evidence {
    /// Added to the cosine when the chunk holds every informative term.
    pub weight: f32,
    /// A query term is informative when at most this share of the indexed
    /// chunks holds it (identifiers always are).
    pub rare_share: f32,
    /// How many dense candidates are read before evidence is added (chunks
    /// holding an informative term are always candidates).
    pub depth: usize,
    /// Maps the score to a confidence.
    pub calibration: Calibration,
}

impl Default for Evidence {
    /// Tuned on the dev split of tests/data/retrieval-eval (BENCHMARKS.md).
    fn default() -> Evidence {
        Evidence {
            weight: 0.3,
            rare_share: 0.05,
            depth: 100,
            calibration: Calibration::default(),
        }
    }
}

/// A logistic map from a score to a confidence:
/// `1 / (1 + e^(-slope × (score - midpoint)))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// The score at which the confidence is 0.5.
    pub midpoint: f32,
    /// How fast the confidence rises around it.
    pub slope: f32,
}

impl Default for Calibration {
    /// Fitted for all-MiniLM-L6-v2 on the dev split (BENCHMARKS.md).
    fn default() -> Calibration {
        Calibration {
            midpoint: 0.47,
            slope: 6.0,
        }
    }
}

impl Calibration {
    /// The calibration of an embedder, by its [`crate::engine::knowledge::Embedder::name`]:
    /// cosines of different models sit in different ranges. Models without
    /// their own fit use the MiniLM one.
    pub fn for_embedder(_name: &str) -> Calibration {
        Calibration::default()
    }

    /// Whether an embedder's scores were calibrated on the evaluation: the
    /// offline models and the lexical fallback. A network embedder's cosines
    /// sit in another range, so its scores stay in 0..1 but a threshold
    /// measured on the offline model must not be applied to them.
    pub fn is_fitted(name: &str) -> bool {
        name.starts_with("local:") || name.starts_with("hashing-")
    }

    /// The confidence of a score, in 0..1.
    pub fn confidence(&self, score: f32) -> f32 {
        let c = 1.0 / (1.0 + (-self.slope * (score - self.midpoint)).exp());
        if c.is_finite() { c } else { 0.0 }
    }
}

/// How the former weighted reciprocal rank fusion combined the rankings:
/// score = Σ weight / (k + rank). Kept for comparison in the evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    /// The RRF constant k.
    pub k: f32,
    /// Weight of the BM25 ranking.
    pub lexical_weight: f32,
    /// Weight of the dense ranking.
    pub dense_weight: f32,
    /// How deep each ranking is read.
    pub depth: usize,
}

impl Default for Fusion {
    /// What the index shipped with before issue 16 (k 60, BM25 0.25).
    fn default() -> Fusion {
        Fusion {
            k: 60.0,
            lexical_weight: 0.25,
            dense_weight: 1.0,
            depth: 100,
        }
    }
}

/// A query term is an identifier when it mixes letters and digits (`a1234`,
/// `sb2291`) or is a number of three or more digits (`2291`, `120`): an
/// exact match of it is evidence however many chunks hold it.
fn is_identifier(term: &str) -> bool {
    let digits = term.chars().filter(char::is_ascii_digit).count();
    digits > 0 && (digits >= 3 || term.chars().any(char::is_alphabetic))
}

impl KnowledgeIndex {
    /// The chunks for a query by `ranking`, best first: (score, slot).
    pub(super) fn rank(
        &self,
        ranking: &Ranking,
        query: &str,
        vector: Option<&[f32]>,
        in_scope: &[bool],
        top_k: usize,
    ) -> Vec<(f32, u32)> {
        match (ranking, vector) {
            (Ranking::DenseFirst(evidence), Some(vector)) => {
                self.dense_first(evidence, query, vector, in_scope, top_k)
            }
            (Ranking::DenseOnly(calibration), Some(vector)) => {
                let query = Self::quantized_query(vector);
                self.dense(&query, in_scope, top_k)
                    .into_iter()
                    .map(|(cos, slot)| (calibration.confidence(cos), slot))
                    .collect()
            }
            (Ranking::DenseOnly(_), None) => Vec::new(),
            (Ranking::Rrf(fusion), _) => self.fused(fusion, query, vector, in_scope, top_k),
            (Ranking::LexicalFirst { tie_weight }, _) => {
                self.lexical_first(*tie_weight, query, vector, in_scope, top_k)
            }
            (Ranking::LexicalOnly, _) | (Ranking::DenseFirst(_), None) => {
                self.lexical_first(0.0, query, None, in_scope, top_k)
            }
        }
    }

    /// Cosine plus evidence from exact rare terms and identifiers.
    fn dense_first(
        &self,
        evidence: &Evidence,
        query_text: &str,
        vector: &[f32],
        in_scope: &[bool],
        top_k: usize,
    ) -> Vec<(f32, u32)> {
        let query = Self::quantized_query(vector);
        let mut candidates = self.dense(&query, in_scope, evidence.depth.max(top_k));
        let query_terms = self.query_terms(query_text);
        let total_idf: f32 = query_terms.iter().map(|(_, idf)| idf).sum();
        let rare_df = (evidence.rare_share * self.len() as f32).max(1.0);
        let identifiers: Vec<u32> = terms(query_text)
            .iter()
            .filter(|t| is_identifier(t))
            .filter_map(|t| self.term_ids.get(t).copied())
            .collect();
        let informative: Vec<(u32, f32)> = query_terms
            .iter()
            .copied()
            .filter(|(term, _)| {
                self.postings[*term as usize].len() as f32 <= rare_df || identifiers.contains(term)
            })
            .collect();
        if informative.is_empty() || total_idf <= 0.0 {
            return finish(candidates, top_k, |cos| {
                evidence.calibration.confidence(cos)
            });
        }
        // Chunks holding an informative term compete even when the model
        // ranked them low (an order number has no meaning to embed).
        let mut seen: std::collections::HashSet<u32> =
            candidates.iter().map(|(_, slot)| *slot).collect();
        for &(term, _) in &informative {
            for &(slot, _) in &self.postings[term as usize] {
                let s = slot as usize;
                if in_scope[self.slot_doc[s] as usize] && self.scales[s] > 0.0 && seen.insert(slot)
                {
                    candidates.push((self.cosine(&query, slot), slot));
                }
            }
        }
        for (score, slot) in &mut candidates {
            let held: f32 = informative
                .iter()
                .filter(|(term, _)| self.holds(*term, *slot))
                .map(|(_, idf)| idf)
                .sum();
            *score += evidence.weight * held / total_idf;
        }
        finish(candidates, top_k, |score| {
            evidence.calibration.confidence(score)
        })
    }

    /// BM25 first; the cosine (when given) weighted by `tie_weight` against
    /// BM25 scaled to 0..1. Scores are the share of the query's term weight
    /// the chunk holds.
    fn lexical_first(
        &self,
        tie_weight: f32,
        query_text: &str,
        vector: Option<&[f32]>,
        in_scope: &[bool],
        top_k: usize,
    ) -> Vec<(f32, u32)> {
        let query_terms = self.query_terms(query_text);
        let scored = self.bm25(&query_terms, in_scope);
        let best = scored.iter().map(|(s, _)| *s).fold(0.0f32, f32::max);
        if best <= 0.0 {
            return Vec::new();
        }
        let query = vector.map(Self::quantized_query);
        let ordered = scored.into_iter().map(|(bm25, slot)| {
            let cos = query
                .as_ref()
                .filter(|_| tie_weight > 0.0)
                .map_or(0.0, |q| self.cosine(q, slot));
            (bm25 / best + tie_weight * cos, slot)
        });
        let top = top_scored(ordered, top_k);
        let total_idf: f32 = query_terms.iter().map(|(_, idf)| idf).sum();
        top.into_iter()
            .map(|(_, slot)| {
                let held: f32 = query_terms
                    .iter()
                    .filter(|(term, _)| self.holds(*term, slot))
                    .map(|(_, idf)| idf)
                    .sum();
                ((held / total_idf).clamp(0.0, 1.0), slot)
            })
            .collect()
    }

    /// The former weighted reciprocal rank fusion of BM25 and cosine.
    fn fused(
        &self,
        fusion: &Fusion,
        query_text: &str,
        vector: Option<&[f32]>,
        in_scope: &[bool],
        top_k: usize,
    ) -> Vec<(f32, u32)> {
        let depth = fusion.depth.max(top_k);
        let mut fused: std::collections::HashMap<u32, f32> = Default::default();
        let lexical = top_scored(
            self.bm25(&self.query_terms(query_text), in_scope)
                .into_iter(),
            depth,
        );
        for (rank, (_, slot)) in lexical.into_iter().enumerate() {
            *fused.entry(slot).or_default() +=
                fusion.lexical_weight / (fusion.k + rank as f32 + 1.0);
        }
        if let Some(vector) = vector {
            let query = Self::quantized_query(vector);
            for (rank, (_, slot)) in self.dense(&query, in_scope, depth).into_iter().enumerate() {
                *fused.entry(slot).or_default() +=
                    fusion.dense_weight / (fusion.k + rank as f32 + 1.0);
            }
        }
        top_scored(fused.into_iter().map(|(slot, score)| (score, slot)), top_k)
    }
}

/// The `top_k` best of `candidates`, their scores mapped by `confidence`.
fn finish(
    candidates: Vec<(f32, u32)>,
    top_k: usize,
    confidence: impl Fn(f32) -> f32,
) -> Vec<(f32, u32)> {
    top_scored(candidates.into_iter(), top_k)
        .into_iter()
        .map(|(score, slot)| (confidence(score), slot))
        .collect()
}
