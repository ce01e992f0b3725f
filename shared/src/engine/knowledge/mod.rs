//! The knowledge engine (SPEC §5): what agents know about a business.
//!
//! The pieces an ingest worker and the query use case call, in order:
//! [`extract`] a document into structural blocks → [`chunk_document`] them
//! into chunks that carry their heading path → embed the chunk texts with an
//! [`Embedder`] → [`KnowledgeIndex::add_document`] (and store the vectors
//! with [`encode_vectors`]) → [`KnowledgeIndex::search`] (BM25 fused with
//! cosine by reciprocal rank fusion), and [`speakable`] for voice answers.
//! Nothing here does I/O except the network embedders.

mod chunk;
pub mod embed;
mod extract;
mod index;
pub mod rewrite;
mod speak;
mod terms;
mod vectors;

pub use chunk::{
    Chunk, ChunkOptions, chunk_counted, chunk_document, chunk_for_model, chunk_with,
    title_from_name,
};
#[cfg(feature = "aws")]
pub use embed::BedrockTitanEmbedder;
pub use embed::{
    DEFAULT_MODEL_DIR, EmbedError, Embedder, HashingEmbedder, MODEL_DIR_ENV, OpenAiEmbedder,
    is_lexical_fallback, model_dir_from_env, offline_embedder, vector_space,
};
#[cfg(feature = "local-embedder")]
pub use embed::{OfflineEmbedder, offline_kernels};
pub use extract::{
    ACCEPTED_TYPES, Block, BlockKind, Budget, DocumentFormat, ExtractError, ExtractedDocument,
    MAX_TEXT_BYTES, MAX_WORD_CHARS, extract, extract_as, extract_as_within, extract_within,
    html_to_text,
};
pub use index::{
    Calibration, Evidence, Fusion, Hit, IndexError, IndexedChunk, KnowledgeIndex, Ranking,
};
pub use speak::speakable;
pub use terms::{estimate_tokens, terms};
pub use vectors::{
    VECTOR_FORMAT_VERSION, VectorEncoding, VectorFile, VectorFileError, decode_vectors,
    encode_vectors,
};
