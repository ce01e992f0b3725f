//! Moonshine tiny-en speech-to-text through ONNX Runtime (`ort`, the
//! runtime library loaded at run time from the fetched `onnxruntime` wheel).
//!
//! The model is an encoder over raw 16 kHz audio and a decoder with a KV
//! cache; decoding is greedy, which reproduces Moonshine's own C library word
//! for word (NOTES.md). It is a batch model: a session keeps the turn's audio
//! and runs the model over all of it on `peek` and `take`. Inference runs on
//! blocking threads, at most [`Moonshine::MAX_PARALLEL`] at once, each on a
//! model instance of its own taken from a pool, so no lock is held across an
//! await and two calls never wait on one model.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use ort::environment::Environment;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor};
use tokio::sync::Semaphore;

use crate::speech::{SpeechError, TranscribeOptions, Transcriber, TranscriptionSession};

/// The rate Moonshine listens at.
pub const SAMPLE_RATE: u32 = 16_000;
/// Silence added after the audio: the model drops a clipped last word
/// without it (NOTES.md: pad with 0.3–0.5 s).
const TRAILING_PAD: usize = SAMPLE_RATE as usize * 3 / 10;
/// The longest stretch the model reads at once; longer turns are read in
/// windows of this length and the texts joined.
const WINDOW: usize = SAMPLE_RATE as usize * 25;
/// The longest turn a session keeps (a caller who talks for two minutes
/// without a pause is cut off with a clear error instead of growing memory).
const MAX_TURN: usize = SAMPLE_RATE as usize * 120;
/// Tokens per second of audio the decoder may write before it is stopped
/// (Moonshine's own bound; speech is ~3–4 tokens a second).
const TOKENS_PER_SECOND: f64 = 6.5;
/// The decoder's layers, and its start and end tokens.
const LAYERS: usize = 6;
const BOS: i64 = 1;
const EOS: i64 = 2;
/// The word-start marker of the tokenizer (SentencePiece's `▁`).
const WORD_START: &str = "\u{2581}";

/// The files of the model and of the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoonshineFiles {
    /// `encoder_model.ort`, `decoder_model_merged.ort`, `tokenizer.bin`.
    pub model_dir: PathBuf,
    /// ONNX Runtime's shared library (`libonnxruntime.so.1.32.0`).
    pub runtime: PathBuf,
}

impl MoonshineFiles {
    /// The file names the model directory must hold.
    pub const MODEL_FILES: [&'static str; 3] = [
        "encoder_model.ort",
        "decoder_model_merged.ort",
        "tokenizer.bin",
    ];

    /// The first missing file, if any.
    pub fn missing(&self) -> Option<PathBuf> {
        Self::MODEL_FILES
            .iter()
            .map(|f| self.model_dir.join(f))
            .chain([self.runtime.clone()])
            .find(|p| !p.is_file())
    }
}

/// The process's ONNX Runtime: the library is loaded once per process (the
/// runtime allows one environment), from the first path asked for.
pub(super) fn runtime(library: &Path) -> Result<&'static Environment, SpeechError> {
    static ENV: OnceLock<Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        ort::init_from(library)
            .map_err(|e| format!("ONNX Runtime at {} does not load: {e}", library.display()))?
            .with_name("switchboard-speech")
            .build()
            .map_err(|e| format!("ONNX Runtime does not start: {e}"))
    })
    .as_ref()
    .map_err(|e| SpeechError::Unavailable(e.clone()))
}

/// Moonshine's vocabulary: `tokenizer.bin` is each token's bytes in id
/// order, each behind its length (one byte below 128, else two: the low
/// seven bits, then the rest).
#[derive(Debug)]
pub struct Tokenizer {
    tokens: Vec<Vec<u8>>,
}

impl Tokenizer {
    /// Reads the vocabulary.
    pub fn parse(bytes: &[u8]) -> Result<Tokenizer, String> {
        let mut tokens = Vec::with_capacity(32_768);
        let mut at = 0;
        while at < bytes.len() {
            let mut len = usize::from(bytes[at]);
            at += 1;
            if len >= 128 {
                let high = *bytes.get(at).ok_or("tokenizer.bin ends inside a length")?;
                len = len - 128 + usize::from(high) * 128;
                at += 1;
            }
            let token = bytes
                .get(at..at + len)
                .ok_or("tokenizer.bin ends inside a token")?;
            tokens.push(token.to_vec());
            at += len;
        }
        if tokens.len() <= EOS as usize {
            return Err("tokenizer.bin holds no vocabulary".into());
        }
        Ok(Tokenizer { tokens })
    }

    /// The text of `ids` (special tokens dropped, word starts as spaces).
    pub fn decode(&self, ids: &[i64]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .filter(|&&id| id > EOS)
            .filter_map(|&id| self.tokens.get(usize::try_from(id).ok()?))
            .filter(|t| !t.starts_with(b"<<"))
            .flatten()
            .copied()
            .collect();
        String::from_utf8_lossy(&bytes)
            .replace(WORD_START, " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One loaded copy of the two networks.
struct Model {
    encoder: Session,
    decoder: Session,
}

/// Names of the decoder's cache inputs and the outputs that feed them, in
/// the order layer by layer: decoder key, decoder value, encoder key,
/// encoder value.
fn cache_names() -> Vec<(String, String)> {
    (0..LAYERS)
        .flat_map(|layer| {
            [
                "decoder.key",
                "decoder.value",
                "encoder.key",
                "encoder.value",
            ]
            .map(|part| {
                (
                    format!("past_key_values.{layer}.{part}"),
                    format!("present.{layer}.{part}"),
                )
            })
        })
        .collect()
}

fn ort_error(what: &str) -> impl Fn(ort::Error) -> SpeechError + '_ {
    move |e| SpeechError::Unavailable(format!("Moonshine {what}: {e}"))
}

impl Model {
    fn load(env: &Environment, dir: &Path) -> Result<Model, SpeechError> {
        let open = |file: &str| -> Result<Session, SpeechError> {
            Session::builder(env)
                .and_then(|b| b.with_intra_threads(1)?.commit_from_file(dir.join(file)))
                .map_err(|e| SpeechError::Unavailable(format!("loading Moonshine's {file}: {e}")))
        };
        Ok(Model {
            encoder: open("encoder_model.ort")?,
            decoder: open("decoder_model_merged.ort")?,
        })
    }

    /// Greedy decoding of `audio` (16 kHz, already padded) into token ids.
    fn transcribe(&mut self, audio: &[f32]) -> Result<Vec<i64>, SpeechError> {
        let len = audio.len();
        let hidden = {
            let input =
                Tensor::from_array(([1, len], audio.to_vec())).map_err(ort_error("input"))?;
            let mask =
                Tensor::from_array(([1, len], vec![1i64; len])).map_err(ort_error("input"))?;
            let mut out = self
                .encoder
                .run(ort::inputs!["input_values" => input, "attention_mask" => mask])
                .map_err(ort_error("encoder"))?;
            out.remove("last_hidden_state")
                .ok_or_else(|| SpeechError::InvalidResponse("the encoder wrote no output".into()))?
        };
        let frames = hidden
            .shape()
            .get(1)
            .copied()
            .and_then(|f| usize::try_from(f).ok())
            .unwrap_or(0);
        let encoder_mask =
            Tensor::from_array(([1, frames], vec![1i64; frames])).map_err(ort_error("input"))?;
        let names = cache_names();
        let mut cache: Vec<DynValue> = names
            .iter()
            .map(|_| {
                Tensor::from_array(([1usize, 8, 0, 36], Vec::<f32>::new()))
                    .map(|t| t.into_dyn())
                    .map_err(ort_error("cache"))
            })
            .collect::<Result<_, _>>()?;
        let max_tokens = (len as f64 / f64::from(SAMPLE_RATE) * TOKENS_PER_SECOND).ceil() as usize;
        let mut ids = Vec::new();
        let mut last = BOS;
        for step in 0..max_tokens.max(1) {
            let token =
                Tensor::from_array(([1usize, 1], vec![last])).map_err(ort_error("input"))?;
            let branch =
                Tensor::from_array(([1usize], vec![step > 0])).map_err(ort_error("input"))?;
            let mut inputs: Vec<(Cow<str>, SessionInputValue)> = vec![
                ("encoder_attention_mask".into(), (&encoder_mask).into()),
                ("input_ids".into(), token.into()),
                ("encoder_hidden_states".into(), (&hidden).into()),
                ("use_cache_branch".into(), branch.into()),
            ];
            for ((input, _), value) in names.iter().zip(&cache) {
                inputs.push((input.as_str().into(), value.into()));
            }
            let mut out = self.decoder.run(inputs).map_err(ort_error("decoder"))?;
            let (_, logits) = out["logits"]
                .try_extract_tensor::<f32>()
                .map_err(ort_error("logits"))?;
            let vocab = 32_768.min(logits.len());
            let row = &logits[logits.len() - vocab..];
            let next = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(EOS, |(i, _)| i as i64);
            // The encoder's part of the cache is computed on the first step
            // only; later steps return it unchanged or empty.
            for ((_, output), slot) in names.iter().zip(cache.iter_mut()) {
                if step == 0 || output.contains(".decoder.") {
                    *slot = out.remove(output.as_str()).ok_or_else(|| {
                        SpeechError::InvalidResponse(format!("the decoder wrote no {output}"))
                    })?;
                }
            }
            if next == EOS {
                break;
            }
            ids.push(next);
            last = next;
        }
        Ok(ids)
    }
}

/// Moonshine tiny-en: one value per process, shared by every call.
pub struct Moonshine {
    dir: PathBuf,
    env: &'static Environment,
    tokenizer: Tokenizer,
    models: super::Pool<Model>,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Moonshine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moonshine").field("dir", &self.dir).finish()
    }
}

impl Moonshine {
    /// How many transcriptions run at once (each on its own model copy,
    /// ~150 MB): more than the cores only makes each one slower.
    pub const MAX_PARALLEL: usize = 2;

    /// Loads the runtime and the vocabulary and checks the model opens; the
    /// networks themselves are loaded per parallel slot on first use.
    pub fn load(files: &MoonshineFiles) -> Result<Moonshine, SpeechError> {
        if let Some(missing) = files.missing() {
            return Err(SpeechError::Unavailable(format!(
                "Moonshine is not installed: {} is missing (scripts/fetch-speech fetches it)",
                missing.display()
            )));
        }
        let env = runtime(&files.runtime)?;
        let bytes = std::fs::read(files.model_dir.join("tokenizer.bin"))
            .map_err(|e| SpeechError::Unavailable(format!("reading tokenizer.bin: {e}")))?;
        let tokenizer = Tokenizer::parse(&bytes).map_err(SpeechError::Unavailable)?;
        let first = Model::load(env, &files.model_dir)?;
        let parallel = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, Self::MAX_PARALLEL);
        Ok(Moonshine {
            dir: files.model_dir.clone(),
            env,
            tokenizer,
            models: super::Pool::new(first),
            slots: Arc::new(Semaphore::new(parallel)),
        })
    }

    /// The text of `audio` (16 kHz). Waits for a free slot, then runs on a
    /// blocking thread.
    pub async fn transcribe(self: &Arc<Self>, audio: Vec<i16>) -> Result<String, SpeechError> {
        if audio.is_empty() {
            return Ok(String::new());
        }
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|_| SpeechError::Unavailable("Moonshine is shutting down".into()))?;
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.transcribe_blocking(&audio)
        })
        .await
        .map_err(|e| SpeechError::Unavailable(format!("Moonshine stopped: {e}")))?
    }

    fn transcribe_blocking(&self, audio: &[i16]) -> Result<String, SpeechError> {
        let texts = self.models.with(
            || Model::load(self.env, &self.dir),
            |model| {
                audio
                    .chunks(WINDOW)
                    .map(|window| {
                        let mut samples: Vec<f32> =
                            window.iter().map(|&s| f32::from(s) / 32_768.0).collect();
                        samples.resize(samples.len() + TRAILING_PAD, 0.0);
                        Ok(self.tokenizer.decode(&model.transcribe(&samples)?))
                    })
                    .collect::<Result<Vec<_>, SpeechError>>()
            },
        )??;
        Ok(texts.join(" ").trim().to_owned())
    }
}

/// Moonshine as a [`Transcriber`].
#[derive(Debug, Clone)]
pub struct MoonshineTranscriber {
    model: Arc<Moonshine>,
}

impl MoonshineTranscriber {
    /// Over a loaded model.
    pub fn new(model: Arc<Moonshine>) -> Self {
        MoonshineTranscriber { model }
    }
}

#[async_trait]
impl Transcriber for MoonshineTranscriber {
    fn name(&self) -> &str {
        "offline:moonshine-tiny-en"
    }

    async fn open(
        &self,
        options: &TranscribeOptions,
    ) -> Result<Box<dyn TranscriptionSession>, SpeechError> {
        if options.sample_rate != SAMPLE_RATE {
            return Err(SpeechError::BadRequest(format!(
                "Moonshine listens at {SAMPLE_RATE} Hz; resample the {} Hz audio first",
                options.sample_rate
            )));
        }
        if !options.language.is_empty() && !options.language.to_ascii_lowercase().starts_with("en")
        {
            return Err(SpeechError::BadRequest(format!(
                "Moonshine tiny-en understands English only, not {:?}",
                options.language
            )));
        }
        Ok(Box::new(MoonshineSession {
            model: Arc::clone(&self.model),
            audio: Vec::new(),
            peeked: None,
        }))
    }
}

/// One caller's audio, held until the turn is taken.
struct MoonshineSession {
    model: Arc<Moonshine>,
    audio: Vec<i16>,
    /// The last peek and how much audio it read, so a peek with no new
    /// audio does not run the model again.
    peeked: Option<(usize, String)>,
}

#[async_trait]
impl TranscriptionSession for MoonshineSession {
    async fn push(&mut self, audio: &[i16]) -> Result<(), SpeechError> {
        if self.audio.len() + audio.len() > MAX_TURN {
            return Err(SpeechError::BadRequest(format!(
                "a turn longer than {} s cannot be transcribed offline",
                MAX_TURN / SAMPLE_RATE as usize
            )));
        }
        self.audio.extend_from_slice(audio);
        Ok(())
    }

    async fn peek(&mut self) -> Result<String, SpeechError> {
        if let Some((len, text)) = &self.peeked
            && *len == self.audio.len()
        {
            return Ok(text.clone());
        }
        let text = self.model.transcribe(self.audio.clone()).await?;
        self.peeked = Some((self.audio.len(), text.clone()));
        Ok(text)
    }

    async fn take(&mut self) -> Result<String, SpeechError> {
        let text = self.peek().await?;
        self.audio.clear();
        self.peeked = None;
        Ok(text)
    }

    async fn close(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_reads_short_and_long_lengths() {
        let mut bytes = vec![5];
        bytes.extend(b"<unk>");
        bytes.push(3);
        bytes.extend(b"<s>");
        bytes.push(4);
        bytes.extend(b"</s>");
        bytes.push("\u{2581}hi".len() as u8);
        bytes.extend("\u{2581}hi".as_bytes());
        let long = vec![b'a'; 200];
        bytes.extend([128 + (200 % 128) as u8, (200 / 128) as u8]);
        bytes.extend(&long);
        let t = Tokenizer::parse(&bytes).unwrap();
        assert_eq!(t.tokens.len(), 5);
        assert_eq!(t.tokens[4].len(), 200);
        assert_eq!(t.decode(&[1, 3, 2]), "hi");
    }

    #[test]
    fn tokenizer_refuses_truncated_files() {
        assert!(Tokenizer::parse(&[5, b'a']).is_err());
        assert!(Tokenizer::parse(&[200]).is_err());
        assert!(Tokenizer::parse(&[]).is_err());
    }

    #[test]
    fn missing_files_are_named() {
        let files = MoonshineFiles {
            model_dir: PathBuf::from("/nonexistent/moonshine"),
            runtime: PathBuf::from("/nonexistent/libonnxruntime.so"),
        };
        let err = Moonshine::load(&files).unwrap_err();
        let SpeechError::Unavailable(why) = err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert!(why.contains("encoder_model.ort") && why.contains("scripts/fetch-speech"));
    }
}
