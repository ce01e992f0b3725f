//! Sentence embeddings on the CPU, in-process, with no network: a BERT
//! encoder (sentence-transformers all-MiniLM-L6-v2 and models of the same
//! architecture) or an MPNet encoder (all-mpnet-base-v2), picked by
//! `config.json`'s `model_type` and read from a local directory, tokenised
//! by the `tokenizers` crate from the model's own `tokenizer.json`,
//! mean-pooled and normalised as sentence-transformers does, so vectors
//! match the reference model's (tests hold them to vectors computed
//! independently from the same files). Both architectures run the same
//! forward pass; MPNet's differences (positions from `padding_idx + 1`, no
//! token types, a relative-position bias on the attention scores) are data
//! the pass reads, not a second copy of it.
//!
//! Built for ingest speed on a few cores: matrix products through the `gemm`
//! crate's cache-blocked kernels; the rest of the pass compiled for the
//! machine's widest SIMD ([`Kernels`]); batches with no padding; one forward
//! pass per core, each on a reused workspace.
//!
//! ```no_run
//! let dir = std::path::Path::new("models/all-MiniLM-L6-v2");
//! let encoder = switchboard_encoder::SentenceEncoder::load(dir)?;
//! let vectors = encoder.encode(&["How much is a tune-up?"])?;
//! assert_eq!(vectors[0].len(), encoder.dimensions());
//! # Ok::<(), switchboard_encoder::Error>(())
//! ```

mod config;
mod kernels;
mod matmul;
mod model;
mod weights;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokenizers::Tokenizer;

use config::Shape;
pub use model::Kernels;
use model::{Model, Workspace};
use weights::Weights;

/// Tokens per forward pass: enough rows for the matrix products to run at
/// full speed, few enough that a pass's activations stay near the cache
/// (BENCHMARKS.md has the trade-off).
const TOKENS_PER_PASS: usize = 512;

/// The shortest read [`SentenceEncoder::with_max_tokens`] accepts.
pub const MIN_TOKENS: usize = 8;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A model file is not a model this encoder runs.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The tokenizer failed on an input.
    #[error("tokenizing: {0}")]
    Tokenize(String),
    /// A forward pass panicked (a bug, reported rather than propagated).
    #[error("a forward pass failed unexpectedly")]
    Panicked,
}

/// A loaded sentence encoder. Cloning is cheap (the model is shared).
#[derive(Clone)]
pub struct SentenceEncoder {
    inner: Arc<Inner>,
    max_tokens: usize,
    workers: usize,
    kernels: Kernels,
}

struct Inner {
    model: Model,
    tokenizer: Tokenizer,
    /// Workspaces of finished passes, for the next ones.
    workspaces: Mutex<Vec<Workspace>>,
}

impl std::fmt::Debug for SentenceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentenceEncoder")
            .field("dimensions", &self.dimensions())
            .field("max_tokens", &self.max_tokens)
            .field("workers", &self.workers)
            .field("kernels", &self.kernels)
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

fn invalid(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Invalid {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

impl SentenceEncoder {
    /// Loads the model in `dir`: `config.json` (whose `model_type`, `bert`
    /// or `mpnet`, says which architecture), `tokenizer.json`,
    /// `model.safetensors` (F32) and, if present, `sentence_bert_config.json`
    /// (for `max_seq_length`). Runs one forward pass per core by default.
    pub fn load(dir: &Path) -> Result<SentenceEncoder, Error> {
        let config_path = dir.join("config.json");
        let config =
            String::from_utf8(read(&config_path)?).map_err(|e| invalid(&config_path, e))?;
        let sentence_config = std::fs::read_to_string(dir.join("sentence_bert_config.json")).ok();
        let shape = Shape::parse(&config, sentence_config.as_deref())
            .map_err(|e| invalid(&config_path, e))?;

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_bytes(read(&tokenizer_path)?)
            .map_err(|e| invalid(&tokenizer_path, e))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: shape.max_tokens,
                ..Default::default()
            }))
            .map_err(|e| invalid(&tokenizer_path, e))?;

        let weights_path = dir.join("model.safetensors");
        let weights =
            Weights::parse(&read(&weights_path)?, &shape).map_err(|e| invalid(&weights_path, e))?;
        let max_tokens = shape.max_tokens;
        Ok(SentenceEncoder {
            inner: Arc::new(Inner {
                model: Model { shape, weights },
                tokenizer,
                workspaces: Mutex::new(Vec::new()),
            }),
            max_tokens,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            kernels: Kernels::detect(),
        })
    }

    /// The vectors' dimension.
    pub fn dimensions(&self) -> usize {
        self.inner.model.shape.hidden
    }

    /// The most tokens of a text the model reads; the rest is not read.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// How many tokens the model makes of `text`, special tokens included,
    /// before any cut to [`SentenceEncoder::max_tokens`]: what a chunker
    /// needs to cut texts the model reads whole.
    pub fn count_tokens(&self, text: &str) -> Result<usize, Error> {
        let tokenizer = &self.inner.tokenizer;
        let tokenize = |text: &str, special: bool| {
            tokenizer
                .encode(text, special)
                .map_err(|e| Error::Tokenize(e.to_string()))
        };
        // The tokenizer cuts at the model's window and keeps the rest as
        // overflowing pieces (no stride): their lengths add up to the text's.
        let encoding = tokenize(text, false)?;
        let body: usize = encoding.len()
            + encoding
                .get_overflowing()
                .iter()
                .map(|e| e.len())
                .sum::<usize>();
        let special = tokenize("", true)?.len();
        Ok(body + special)
    }

    /// Which compiled forward pass runs on this machine.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The same model running the `kernels` copy of the forward pass (the
    /// default is the best this machine has), or `None` if this machine
    /// cannot run it. For comparing them; they give the same vectors.
    pub fn with_kernels(mut self, kernels: Kernels) -> Option<SentenceEncoder> {
        kernels.is_available().then(|| {
            self.kernels = kernels;
            self
        })
    }

    /// The same model reading at most `max_tokens` tokens of each text,
    /// between [`MIN_TOKENS`] and the model's own limit (its default).
    /// Encoding time is about proportional to the tokens read.
    pub fn with_max_tokens(mut self, max_tokens: usize) -> SentenceEncoder {
        self.max_tokens = max_tokens
            .max(MIN_TOKENS)
            .min(self.inner.model.shape.max_tokens);
        self
    }

    /// The same model running up to `workers` forward passes side by side
    /// (at least 1; the default is one per core).
    pub fn with_workers(mut self, workers: usize) -> SentenceEncoder {
        self.workers = workers.max(1);
        self
    }

    /// One unit-length vector per text, in order. CPU-bound and blocking:
    /// call it from a thread that may block.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        let encodings = self
            .inner
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| Error::Tokenize(e.to_string()))?;
        let shape = &self.inner.model.shape;
        let sequences: Vec<Vec<u32>> = encodings
            .iter()
            .map(|e| {
                let mut ids = e.get_ids().to_vec();
                if ids.len() > self.max_tokens {
                    // Keep the closing [SEP] (`</s>`), as the tokenizer's
                    // own cut does.
                    let last = ids[ids.len() - 1];
                    ids.truncate(self.max_tokens);
                    ids[self.max_tokens - 1] = last;
                }
                ids
            })
            .collect();
        if let Some(id) = sequences
            .iter()
            .flatten()
            .find(|&&id| id as usize >= shape.vocab)
        {
            return Err(Error::Tokenize(format!(
                "token id {id} is outside the model's vocabulary of {}: tokenizer.json does not belong to this model",
                shape.vocab
            )));
        }
        self.run(&sequences)
    }

    /// Runs the forward passes: the longest sequences first, in passes of
    /// about [`TOKENS_PER_PASS`] tokens, taken in turn by up to `workers`
    /// threads.
    fn run(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, Error> {
        let mut order: Vec<usize> = (0..sequences.len())
            .filter(|&i| !sequences[i].is_empty())
            .collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].len()));
        let mut passes: Vec<&[usize]> = Vec::new();
        let (mut begin, mut tokens) = (0, 0);
        for (at, &i) in order.iter().enumerate() {
            if tokens > 0 && tokens + sequences[i].len() > TOKENS_PER_PASS {
                passes.push(&order[begin..at]);
                (begin, tokens) = (at, 0);
            }
            tokens += sequences[i].len();
        }
        if begin < order.len() {
            passes.push(&order[begin..]);
        }

        let next = AtomicUsize::new(0);
        let work = || {
            let mut workspace = self.take_workspace();
            let mut done = Vec::new();
            loop {
                let pass = next.fetch_add(1, Ordering::Relaxed);
                let Some(members) = passes.get(pass) else {
                    break;
                };
                let batch: Vec<&[u32]> = members.iter().map(|&i| sequences[i].as_slice()).collect();
                let vectors = self
                    .inner
                    .model
                    .forward(self.kernels, &batch, &mut workspace);
                done.extend(members.iter().copied().zip(vectors));
            }
            self.return_workspace(workspace);
            done
        };
        // An empty text (no tokens at all) gets the zero vector.
        let mut out = vec![vec![0f32; self.dimensions()]; sequences.len()];
        let workers = self.workers.min(passes.len());
        if workers <= 1 {
            for (i, v) in work() {
                out[i] = v;
            }
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
                for handle in handles {
                    // A panicking pass is a bug: report it, never return
                    // vectors that were not computed.
                    for (i, v) in handle.join().map_err(|_| Error::Panicked)? {
                        out[i] = v;
                    }
                }
                Ok::<_, Error>(())
            })?;
        }
        Ok(out)
    }

    fn take_workspace(&self) -> Workspace {
        self.inner
            .workspaces
            .lock()
            .map(|mut pool| pool.pop().unwrap_or_default())
            .unwrap_or_default()
    }

    fn return_workspace(&self, workspace: Workspace) {
        if let Ok(mut pool) = self.inner.workspaces.lock()
            && pool.len() < self.workers
        {
            pool.push(workspace);
        }
    }
}

#[doc(hidden)]
pub mod testing;
