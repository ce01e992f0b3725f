//! Speech: audio formats, voice activity and turn taking, speech-to-text and
//! text-to-speech (issue 14).
//!
//! The voice pipeline in the relay moves PCM16 mono audio between a caller's
//! transport (Twilio media streams at 8 kHz μ-law, the widget at 16 kHz PCM16)
//! and the engines behind the two traits here. Every engine streams: a
//! [`Transcriber`] takes audio as it arrives and answers with what was said so
//! far at any moment; a [`Synthesizer`] takes text sentence by sentence (the
//! conversation engine's first sentence goes out while the model still writes)
//! and hands audio back in chunks as it is made. Cloud engines (Deepgram,
//! OpenAI, ElevenLabs) and the offline ones (Moonshine, espeak-ng/Piper) sit
//! behind the same traits, so the pipeline, a unit test and a benchmark use
//! any of them alike.

pub mod audio;
pub mod cloud;
pub mod deepgram;
pub mod elevenlabs;
pub mod offline;
pub mod openai;
pub mod resolve;
pub mod turn;
pub mod vad;

use async_trait::async_trait;
use tokio::sync::mpsc;

/// Audio samples: signed 16-bit PCM, mono, at `rate` samples per second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pcm {
    /// Samples per second (8,000 for the phone, 16,000 for speech-to-text, …).
    pub rate: u32,
    /// The samples, in order.
    pub samples: Vec<i16>,
}

impl Pcm {
    /// `samples` at `rate`.
    pub fn new(rate: u32, samples: Vec<i16>) -> Pcm {
        Pcm { rate, samples }
    }

    /// How long the audio lasts, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / u64::from(self.rate)
    }
}

/// Why a speech engine could not do its work. Mirrors the language models'
/// errors so a call can say the same things about either.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpeechError {
    /// Timeout, connection failure, 5xx, a stream that stopped early, a local
    /// engine whose model is not there (yet).
    #[error("the speech provider is unavailable: {0}")]
    Unavailable(String),
    /// 429 or a concurrency limit.
    #[error("the speech provider is rate limiting requests")]
    RateLimited,
    /// The provider refused our credentials (401/403) or none are configured.
    #[error("the speech provider refused the credentials: {0}")]
    Auth(String),
    /// The provider refused the request itself (unknown voice, bad format).
    #[error("the speech provider refused the request: {0}")]
    BadRequest(String),
    /// The provider answered something we could not read.
    #[error("the speech provider sent an unreadable reply: {0}")]
    InvalidResponse(String),
}

/// What a transcription is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscribeOptions {
    /// BCP 47 tag of what the caller speaks (the agent's `language`).
    pub language: String,
    /// The rate of the audio that will be pushed.
    pub sample_rate: u32,
}

/// Speech-to-text. One value serves many calls; each caller turn (or each
/// call, for engines that keep a socket open) is a [`TranscriptionSession`].
#[async_trait]
pub trait Transcriber: Send + Sync {
    /// Engine name for logs and metrics (`deepgram:nova-3`, `offline:moonshine-tiny-en`).
    fn name(&self) -> &str;

    /// Starts listening. Cloud engines connect here, so the first audio is
    /// not delayed by a handshake.
    async fn open(
        &self,
        options: &TranscribeOptions,
    ) -> Result<Box<dyn TranscriptionSession>, SpeechError>;
}

/// One stream of caller audio being transcribed.
#[async_trait]
pub trait TranscriptionSession: Send {
    /// More audio, at the session's sample rate, in order.
    async fn push(&mut self, audio: &[i16]) -> Result<(), SpeechError>;

    /// Everything said since the last [`TranscriptionSession::take`] (or the
    /// start), as well as the engine can tell now. The end-of-turn decision
    /// reads this on each pause ("is that a question, a half-read number, an
    /// `um`?"), so it must not end the session; batch engines run their model
    /// over the audio held so far.
    async fn peek(&mut self) -> Result<String, SpeechError>;

    /// The final text of the turn that just ended; the session stays open and
    /// starts the next turn empty.
    async fn take(&mut self) -> Result<String, SpeechError>;

    /// The caller has paused: an engine that holds words back (for the
    /// context of what may follow) can finish them now, while the end of the
    /// turn is still being waited for, so that a [`take`] at the end has
    /// nothing left to wait for. The turn does not end: more audio may come.
    /// Deepgram sends `Finalize`; an engine whose `take` answers at once has
    /// nothing to do.
    ///
    /// [`take`]: TranscriptionSession::take
    async fn settle(&mut self) -> Result<(), SpeechError> {
        Ok(())
    }

    /// Ends the session (closes sockets). Dropping it does the same without waiting.
    async fn close(self: Box<Self>);
}

/// How to speak.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeakOptions {
    /// The provider's voice id (`voice_settings.voice_id`), or its default voice.
    pub voice_id: Option<String>,
    /// BCP 47 tag.
    pub language: String,
    /// 0.5..=2 (`voice_settings.speed`).
    pub speed: Option<f64>,
    /// 0..=1 (`voice_settings.stability`, ElevenLabs).
    pub stability: Option<f64>,
    /// 0..=1 (`voice_settings.similarity_boost`, ElevenLabs).
    pub similarity_boost: Option<f64>,
}

impl SpeakOptions {
    /// The engine's default voice for `language`, with its default settings.
    pub fn in_language(language: &str) -> SpeakOptions {
        SpeakOptions {
            voice_id: None,
            language: language.to_owned(),
            speed: None,
            stability: None,
            similarity_boost: None,
        }
    }
}

/// One agent reply being spoken: send it sentences, read its audio.
///
/// Dropping `text` ends the input (the engine finishes what it was given and
/// then closes `audio`). Dropping the whole value cancels it (barge-in): the
/// engine stops working as soon as it notices the closed channels.
#[derive(Debug)]
pub struct Utterance {
    /// Sentences to speak, in order.
    pub text: mpsc::Sender<String>,
    /// Audio as it is made, at [`Synthesizer::sample_rate`]; an error ends it.
    pub audio: mpsc::Receiver<Result<Vec<i16>, SpeechError>>,
}

/// Text-to-speech. One value serves many calls.
#[async_trait]
pub trait Synthesizer: Send + Sync {
    /// Engine name for logs and metrics (`elevenlabs:eleven_flash_v2_5`, `offline:espeak-ng`).
    fn name(&self) -> &str;

    /// The rate of the audio this engine makes (the pipeline resamples it).
    fn sample_rate(&self) -> u32;

    /// Starts speaking one reply. Cloud engines connect here.
    async fn open(&self, options: &SpeakOptions) -> Result<Utterance, SpeechError>;
}
