//! Embeddings: text → unit vectors, behind the [`Embedder`] port.
//!
//! Production uses an OpenAI-compatible endpoint ([`OpenAiEmbedder`]) or
//! Amazon Bedrock Titan ([`BedrockTitanEmbedder`]). Offline — no network at
//! all — [`offline_embedder`] loads the configured [`OfflineModel`]
//! (all-MiniLM-L6-v2 or all-mpnet-base-v2) from a local directory
//! ([`OfflineEmbedder`], cargo feature `local-embedder`) and falls back to
//! the lexical [`HashingEmbedder`] only when no model is there.

#[cfg(feature = "aws")]
mod bedrock;
pub mod fetch;
mod hashing;
#[cfg(feature = "local-embedder")]
mod local;
pub mod models;
mod openai;

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(feature = "aws")]
pub use bedrock::{BedrockTitanEmbedder, TITAN_TEXT_V2};
pub use hashing::HashingEmbedder;
#[cfg(feature = "local-embedder")]
pub use local::OfflineEmbedder;
pub use models::OfflineModel;
pub use openai::OpenAiEmbedder;

/// Environment variable naming the offline model directory.
pub const MODEL_DIR_ENV: &str = "SWITCHBOARD_EMBEDDING_MODEL_DIR";
/// Where `scripts/fetch-model` puts all-MiniLM-L6-v2 (the model the tests
/// use), relative to the working directory (inside the local data
/// directory); other models go beside it, named by [`OfflineModel::name`].
pub const DEFAULT_MODEL_DIR: &str = ".switchboard/models/all-MiniLM-L6-v2";

/// Why texts could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The provider could not be reached, timed out or failed (5xx, 429).
    #[error("embedding provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (4xx other than 429).
    #[error("embedding provider rejected the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's message, shortened.
        message: String,
    },
    /// The provider answered something that is not embeddings.
    #[error("embedding provider answered unexpectedly: {0}")]
    InvalidResponse(String),
    /// The local model could not be loaded or run.
    #[error("embedding model: {0}")]
    Model(String),
}

impl From<EmbedError> for crate::Error {
    fn from(err: EmbedError) -> crate::Error {
        match err {
            EmbedError::Model(_) => crate::Error::Internal(err.to_string()),
            other => crate::Error::Unavailable(other.to_string()),
        }
    }
}

/// Turns texts into vectors of [`Embedder::dimensions`] dimensions, one per
/// text, in order. Vectors are unit length (cosine = dot product).
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// Which embedder and model this is (shown to operators).
    fn name(&self) -> &str;
    /// The vectors' dimension.
    fn dimensions(&self) -> usize;
    /// Embeds `texts` (any number; batched internally).
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// The most tokens of a text the model reads (its window, in its own
    /// tokens, special tokens included); the rest is not seen. `None`: no
    /// known limit (the chunker then keeps its default sizes).
    fn max_tokens(&self) -> Option<usize> {
        None
    }
    /// How many of the model's tokens `text` is (special tokens included),
    /// so chunks can be cut to fit [`Embedder::max_tokens`]. `None`: not
    /// known (the chunker estimates).
    fn count_tokens(&self, text: &str) -> Option<usize> {
        let _ = text;
        None
    }
}

/// The embedder that runs with no network: the model (BERT or MPNet, as
/// its `config.json` says) from `model_dir` when it holds one (and the `local-embedder` feature is on),
/// otherwise the lexical [`HashingEmbedder`]. A directory that exists but
/// fails to load is logged and also falls back. `name()` says which is active.
/// `max_tokens` overrides how much of each text the model reads (see
/// [`OfflineEmbedder::with_max_tokens`]).
pub fn offline_embedder(model_dir: Option<&Path>, max_tokens: Option<usize>) -> Arc<dyn Embedder> {
    if let Some(dir) = model_dir.filter(|d| d.join("model.safetensors").is_file()) {
        #[cfg(feature = "local-embedder")]
        match OfflineEmbedder::load(dir) {
            Ok(model) => {
                return Arc::new(match max_tokens {
                    Some(n) => model.with_max_tokens(n),
                    None => model,
                });
            }
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "offline embedding model not loaded; using the lexical fallback")
            }
        }
        #[cfg(not(feature = "local-embedder"))]
        {
            let _ = max_tokens;
            tracing::warn!(dir = %dir.display(), "built without the local-embedder feature; using the lexical fallback");
        }
    }
    Arc::new(HashingEmbedder::default())
}

/// Whether `embedder` is the lexical [`HashingEmbedder`] standing in for a
/// model (its documents are re-embedded when the model arrives).
pub fn is_lexical_fallback(embedder: &dyn Embedder) -> bool {
    embedder.name().starts_with(hashing::NAME_PREFIX)
}

/// Which vectors an [`Embedder::name`] stands for: the name without its
/// parenthesised details (`local:all-MiniLM-L6-v2 (384 dims, CPU avx512)` →
/// `local:all-MiniLM-L6-v2`). Machines running the same model with other
/// CPU kernels make the same vectors, so their documents are neither
/// re-embedded nor searched apart.
pub fn vector_space(name: &str) -> &str {
    name.split(" (").next().unwrap_or(name).trim()
}

/// Which compiled copy of the offline model's forward pass this machine
/// runs: `avx512`, `avx2` or `baseline` (see [`switchboard_encoder::Kernels`]).
#[cfg(feature = "local-embedder")]
pub fn offline_kernels() -> &'static str {
    switchboard_encoder::Kernels::detect().name()
}

/// The model directory to use: `SWITCHBOARD_EMBEDDING_MODEL_DIR` when set,
/// else [`DEFAULT_MODEL_DIR`] when it exists, else none.
pub fn model_dir_from_env() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let default = PathBuf::from(DEFAULT_MODEL_DIR);
    default.is_dir().then_some(default)
}

/// For tests that need the offline model and cannot find it in `dir`: says
/// they are skipped, or fails them where the model is required (in CI, and
/// under `scripts/test`, which sets `SWITCHBOARD_REQUIRE_MODEL=1`).
#[doc(hidden)]
pub fn skip_without_model(dir: &Path) {
    #[cfg(feature = "local-embedder")]
    switchboard_encoder::testing::skip_without_model(dir);
    #[cfg(not(feature = "local-embedder"))]
    eprintln!(
        "SKIPPED: built without the local-embedder feature (no model in {})",
        dir.display()
    );
}

/// Shortens a provider's error body for messages and logs.
fn excerpt(body: &str) -> String {
    const MAX: usize = 300;
    let body = body.trim();
    match body.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// Maps a non-success HTTP status to an [`EmbedError`].
fn status_error(status: reqwest::StatusCode, body: &str) -> EmbedError {
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        EmbedError::Unavailable(format!("HTTP {}: {}", status.as_u16(), excerpt(body)))
    } else {
        EmbedError::Rejected {
            status: status.as_u16(),
            message: excerpt(body),
        }
    }
}

/// Maps a transport failure (connect, timeout, body) to an [`EmbedError`].
fn transport_error(err: reqwest::Error) -> EmbedError {
    EmbedError::Unavailable(err.without_url().to_string())
}

#[cfg(test)]
mod tests;
