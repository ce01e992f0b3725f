//! The lexical fallback embedder: feature hashing, no model.

use super::{EmbedError, Embedder};
use crate::engine::knowledge::terms::terms;
use crate::engine::knowledge::vectors::normalize;

/// Deterministic lexical vectors: the text's terms (as BM25 sees them), their
/// bigrams and their character trigrams hashed (FNV-1a, signed) into
/// `dimensions` buckets and L2-normalised. It knows no synonyms, only shared
/// words and word pieces, so it is used only when no model is present.
#[derive(Debug, Clone)]
pub struct HashingEmbedder {
    dimensions: usize,
    name: String,
}

/// How every hashing embedder's name starts.
pub(super) const NAME_PREFIX: &str = "hashing-";

impl HashingEmbedder {
    /// A hashing embedder of `dimensions` (at least 1) dimensions.
    pub fn new(dimensions: usize) -> HashingEmbedder {
        let dimensions = dimensions.max(1);
        HashingEmbedder {
            dimensions,
            name: format!("{NAME_PREFIX}{dimensions} (lexical fallback, no model)"),
        }
    }

    /// The hashing embedder a [`Embedder::name`] names (`hashing-384 …`),
    /// so documents it embedded can still be searched after a model took
    /// over; `None` for any other name.
    pub fn from_name(name: &str) -> Option<HashingEmbedder> {
        let digits: String = name
            .strip_prefix(NAME_PREFIX)?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let dimensions: usize = digits.parse().ok().filter(|d| (1..=8192).contains(d))?;
        let embedder = HashingEmbedder::new(dimensions);
        (embedder.name == name).then_some(embedder)
    }

    /// The vector of one text.
    pub fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimensions];
        let words = terms(text);
        let mut add = |feature: &[u8], seed: u64, weight: f32| {
            let hash = fnv1a(seed, feature);
            let bucket = (hash % self.dimensions as u64) as usize;
            let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
            vector[bucket] += sign * weight;
        };
        for word in &words {
            add(word.as_bytes(), 1, 1.0);
            let padded: Vec<char> = format!("<{word}>").chars().collect();
            for gram in padded.windows(3) {
                let gram: String = gram.iter().collect();
                add(gram.as_bytes(), 2, 0.25);
            }
        }
        for pair in words.windows(2) {
            add(format!("{} {}", pair[0], pair[1]).as_bytes(), 3, 0.5);
        }
        normalize(&mut vector);
        vector
    }
}

impl Default for HashingEmbedder {
    /// 384 dimensions, the size of the MiniLM model it stands in for.
    fn default() -> HashingEmbedder {
        HashingEmbedder::new(384)
    }
}

#[cfg(test)]
#[test]
fn a_hashing_embedder_is_found_again_by_its_name() {
    let embedder = HashingEmbedder::new(256);
    let again = HashingEmbedder::from_name(embedder.name()).unwrap();
    assert_eq!(
        again.embed_one("opening hours"),
        embedder.embed_one("opening hours")
    );
    assert!(HashingEmbedder::from_name("local:all-MiniLM-L6-v2 (384 dims)").is_none());
    assert!(HashingEmbedder::from_name("hashing-99999999999 (x)").is_none());
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[async_trait::async_trait]
impl Embedder for HashingEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}
