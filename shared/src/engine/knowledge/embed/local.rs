//! The offline model: sentence-transformers all-MiniLM-L6-v2 (BERT, 6 layers,
//! 384 dimensions) run in-process on the CPU by candle through our encoder
//! ([`super::minilm`]), tokenised by the `tokenizers` crate from the model's
//! own `tokenizer.json`. Mean pooling over the attention mask and L2
//! normalisation, as sentence-transformers does, so vectors match the
//! reference model's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use tokenizers::Tokenizer;

use super::minilm::Encoder;
use super::{EmbedError, Embedder};
use crate::engine::knowledge::vectors::normalize;

/// Texts per forward pass (8 measured slightly faster than 16 on 2 cores:
/// smaller intermediates, fewer page faults).
const BATCH: usize = 8;
/// sentence-transformers' `max_seq_length` for this model when its
/// `sentence_bert_config.json` does not say.
const DEFAULT_MAX_TOKENS: usize = 256;

/// all-MiniLM-L6-v2 loaded from a directory holding `config.json`,
/// `tokenizer.json` and `model.safetensors` (what `scripts/fetch-model`
/// unpacks).
#[derive(Clone)]
pub struct OfflineEmbedder {
    inner: Arc<Inner>,
    name: String,
    max_tokens: usize,
    /// Threads running forward passes side by side (see [`inference_workers`]).
    workers: usize,
}

struct Inner {
    model: Encoder,
    tokenizer: Tokenizer,
    dimensions: usize,
    max_tokens: usize,
    device: Device,
}

impl std::fmt::Debug for OfflineEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineEmbedder")
            .field("name", &self.name)
            .finish()
    }
}

/// The variables candle reads for its kernels' thread counts: gemm's split of
/// each matrix product (`RAYON_NUM_THREADS`, read on every product) and the
/// pool for element-wise ops (`CANDLE_NUM_THREADS`, read once).
const KERNEL_THREAD_VARS: [&str; 2] = ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"];

/// See [`super::offline_inference_per_core`].
pub(super) fn single_threaded_kernels() {
    for var in KERNEL_THREAD_VARS {
        if std::env::var_os(var).is_none() {
            // SAFETY: the caller runs this before any other thread exists, so
            // nothing reads or writes the environment concurrently.
            unsafe { std::env::set_var(var, "1") };
        }
    }
}

/// One worker per core when candle's kernels are single-threaded (see
/// [`super::offline_inference_per_core`]); otherwise one worker and candle's own
/// threads, since several workers would fight over its pool.
fn inference_workers() -> usize {
    let single = KERNEL_THREAD_VARS
        .iter()
        .all(|var| std::env::var(var).is_ok_and(|v| v.trim() == "1"));
    if single {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        1
    }
}

fn model_error(what: &str, path: &Path, err: impl std::fmt::Display) -> EmbedError {
    EmbedError::Model(format!("{what} {}: {err}", path.display()))
}

impl OfflineEmbedder {
    /// Loads the model from `dir`.
    pub fn load(dir: &Path) -> Result<OfflineEmbedder, EmbedError> {
        let file = |name: &str| -> PathBuf { dir.join(name) };
        let config_path = file("config.json");
        let config_text = std::fs::read_to_string(&config_path)
            .map_err(|e| model_error("reading", &config_path, e))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|e| model_error("parsing", &config_path, e))?;
        let dimensions = serde_json::from_str::<serde_json::Value>(&config_text)
            .ok()
            .and_then(|v| v.get("hidden_size").and_then(serde_json::Value::as_u64))
            .map_or(384, |d| d as usize);
        let max_tokens = std::fs::read_to_string(file("sentence_bert_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("max_seq_length").and_then(serde_json::Value::as_u64))
            .map_or(DEFAULT_MAX_TOKENS, |n| n as usize);

        let tokenizer_path = file("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| model_error("loading", &tokenizer_path, e))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|e| model_error("configuring", &tokenizer_path, e))?;

        let weights_path = file("model.safetensors");
        let weights =
            std::fs::read(&weights_path).map_err(|e| model_error("reading", &weights_path, e))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| model_error("loading", &weights_path, e))?;
        let model =
            Encoder::load(vb, &config).map_err(|e| model_error("loading", &weights_path, e))?;
        let label = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("all-MiniLM-L6-v2");
        Ok(OfflineEmbedder {
            inner: Arc::new(Inner {
                model,
                tokenizer,
                dimensions,
                max_tokens,
                device,
            }),
            name: format!("local:{label} ({dimensions} dims, candle CPU)"),
            max_tokens,
            workers: inference_workers(),
        })
    }

    /// The longest input in tokens; the rest of a longer text is not read.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The same model reading at most `max_tokens` tokens of each text
    /// (between 8 and the model's own limit, 256: the default). Inference
    /// time is about proportional to tokens read: at 128 a 100-page PDF
    /// embeds in ~10 s instead of ~22 s on 2 cores (BENCHMARKS.md), but
    /// the vectors cover only the first ~100 words of each chunk (BM25 still
    /// reads all of it) and hit@3 on the retrieval set drops from 0.902 to
    /// 0.878. `SWITCHBOARD_EMBEDDING_MAX_TOKENS` sets it.
    pub fn with_max_tokens(mut self, max_tokens: usize) -> OfflineEmbedder {
        self.max_tokens = max_tokens.clamp(8, self.inner.max_tokens);
        self
    }

    /// The same model running `workers` forward passes side by side (at
    /// least 1). The default is one per core when candle's kernels are
    /// single-threaded, else 1 (see [`super::offline_inference_per_core`]).
    pub fn with_workers(mut self, workers: usize) -> OfflineEmbedder {
        self.workers = workers.max(1);
        self
    }

    /// Embeds on the calling thread (CPU-bound: call from a blocking
    /// context; [`Embedder::embed`] does this on tokio's blocking pool).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.inner.embed(texts, self.max_tokens, self.workers)
    }
}

impl Inner {
    fn embed(
        &self,
        texts: &[String],
        max_tokens: usize,
        workers: usize,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Model(format!("tokenizing: {e}")))?;
        // Token ids, cut to `max_tokens` keeping the closing [SEP].
        let encodings: Vec<Vec<u32>> = encodings
            .iter()
            .map(|e| {
                let ids = e.get_ids();
                if ids.len() <= max_tokens {
                    return ids.to_vec();
                }
                let mut cut = ids[..max_tokens - 1].to_vec();
                cut.extend(ids.last());
                cut
            })
            .collect();
        // Batches of similar lengths waste little on padding.
        let mut order: Vec<usize> = (0..encodings.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let batches: Vec<&[usize]> = order.chunks(BATCH).collect();
        // Workers take interleaved batches so each gets a share of the long ones.
        let workers = workers.min(batches.len()).max(1);
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); encodings.len()];
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let (batches, encodings) = (&batches, &encodings);
                    s.spawn(move || {
                        let mut done = Vec::new();
                        for batch in batches.iter().skip(w).step_by(workers) {
                            let vectors = self.forward(batch, encodings)?;
                            done.extend(batch.iter().copied().zip(vectors));
                        }
                        Ok::<_, EmbedError>(done)
                    })
                })
                .collect();
            for handle in handles {
                let done = handle
                    .join()
                    .map_err(|_| EmbedError::Model("inference thread panicked".into()))??;
                for (i, vector) in done {
                    out[i] = vector;
                }
            }
            Ok::<_, EmbedError>(())
        })?;
        Ok(out)
    }

    /// One forward pass over the texts `batch` (indexes into `encodings`):
    /// mean-pooled, normalised vectors in the batch's order.
    fn forward(
        &self,
        batch: &[usize],
        encodings: &[Vec<u32>],
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let run = |e: candle_core::Error| EmbedError::Model(format!("inference: {e}"));
        let longest = batch
            .iter()
            .map(|&i| encodings[i].len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![0u32; batch.len() * longest];
        let mut mask = vec![0u32; batch.len() * longest];
        for (row, &i) in batch.iter().enumerate() {
            let tokens = &encodings[i];
            ids[row * longest..row * longest + tokens.len()].copy_from_slice(tokens);
            for m in &mut mask[row * longest..row * longest + tokens.len()] {
                *m = 1;
            }
        }
        let shape = (batch.len(), longest);
        let ids = Tensor::from_vec(ids, shape, &self.device).map_err(run)?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(run)?;
        let hidden = self.model.forward(&ids, &mask).map_err(run)?;
        // Mean over the real tokens.
        let mask = mask
            .to_dtype(DType::F32)
            .map_err(run)?
            .unsqueeze(2)
            .map_err(run)?;
        let summed = hidden
            .broadcast_mul(&mask)
            .map_err(run)?
            .sum(1)
            .map_err(run)?;
        let counts = mask
            .sum(1)
            .map_err(run)?
            .clamp(1e-9, f32::MAX)
            .map_err(run)?;
        let pooled = summed.broadcast_div(&counts).map_err(run)?;
        let mut rows: Vec<Vec<f32>> = pooled.to_vec2().map_err(run)?;
        for vector in &mut rows {
            normalize(vector);
        }
        Ok(rows)
    }
}

#[async_trait::async_trait]
impl Embedder for OfflineEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let inner = Arc::clone(&self.inner);
        let texts = texts.to_vec();
        let (max_tokens, workers) = (self.max_tokens, self.workers);
        tokio::task::spawn_blocking(move || inner.embed(&texts, max_tokens, workers))
            .await
            .map_err(|e| EmbedError::Model(format!("inference task: {e}")))?
    }
}
