//! OpenAI's audio APIs: speech-to-text with `POST /audio/transcriptions`
//! (a batch request over the audio held so far) and text-to-speech with
//! `POST /audio/speech` (one request per sentence, raw 24 kHz PCM16
//! streamed back and forwarded as it arrives).

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::cloud::{self, ApiKey, Timeouts};
use super::{
    SpeakOptions, SpeechError, Synthesizer, TranscribeOptions, Transcriber, TranscriptionSession,
    Utterance,
};

/// The transcription model asked for by default.
pub const DEFAULT_STT_MODEL: &str = "gpt-4o-mini-transcribe";
/// The speech model asked for by default.
pub const DEFAULT_TTS_MODEL: &str = "gpt-4o-mini-tts";
/// The voice used when the agent names none.
pub const DEFAULT_VOICE: &str = "alloy";
/// The rate of `response_format: "pcm"`.
pub const TTS_SAMPLE_RATE: u32 = 24_000;
/// A peek re-transcribes only once this much new audio arrived since the last
/// one (each peek is a whole request over the turn so far).
const PEEK_MIN_NEW_AUDIO: Duration = Duration::from_millis(300);

/// What both OpenAI clients need: where, which key, how long to wait.
#[derive(Debug, Clone)]
struct Endpoint {
    base_url: String,
    key: ApiKey,
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl Endpoint {
    fn new(base_url: &str, key: ApiKey, http: reqwest::Client) -> Endpoint {
        Endpoint {
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            http,
            timeouts: Timeouts::default(),
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(self.key.expose())
    }

    /// Sends `request`; a reply other than 2xx becomes its error.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, SpeechError> {
        let sent =
            tokio::time::timeout(self.timeouts.connect + self.timeouts.reply, request.send());
        let response = match sent.await {
            Err(_) => {
                return Err(SpeechError::Unavailable(
                    "openai did not answer in time".into(),
                ));
            }
            Ok(Err(e)) => return Err(cloud::transport_error("openai", &e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let detail = serde_json::from_str::<ErrorBody>(&body)
            .map(|b| b.error.message)
            .unwrap_or(body);
        Err(cloud::status_error("openai", status.as_u16(), &detail))
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
}

/// OpenAI transcription (`gpt-4o-mini-transcribe`, `whisper-1`, …).
#[derive(Debug, Clone)]
pub struct OpenAiTranscriber {
    name: String,
    model: String,
    endpoint: Endpoint,
}

impl OpenAiTranscriber {
    /// A client of `base_url` (the API base with `/v1`) using `model`.
    pub fn new(base_url: &str, model: &str, key: ApiKey, http: reqwest::Client) -> Self {
        OpenAiTranscriber {
            name: format!("openai:{model}"),
            model: model.to_owned(),
            endpoint: Endpoint::new(base_url, key, http),
        }
    }

    /// Other waiting limits (tests shorten them).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.endpoint.timeouts = timeouts;
        self
    }
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    fn name(&self) -> &str {
        &self.name
    }

    async fn open(
        &self,
        options: &TranscribeOptions,
    ) -> Result<Box<dyn TranscriptionSession>, SpeechError> {
        if options.sample_rate == 0 {
            return Err(SpeechError::BadRequest("a sample rate of 0".into()));
        }
        Ok(Box::new(BatchSession {
            client: self.clone(),
            options: options.clone(),
            audio: Vec::new(),
            cached: None,
        }))
    }
}

/// A turn's audio, transcribed whole on each peek (throttled) and take.
struct BatchSession {
    client: OpenAiTranscriber,
    options: TranscribeOptions,
    audio: Vec<i16>,
    /// The last transcript and how many samples it covered.
    cached: Option<(usize, String)>,
}

impl BatchSession {
    async fn transcribe(&self) -> Result<String, SpeechError> {
        let wav = wav(self.options.sample_rate, &self.audio);
        let file = reqwest::multipart::Part::bytes(wav)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| SpeechError::BadRequest(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.client.model.clone())
            .text(
                "language",
                cloud::primary_language(&self.options.language).to_owned(),
            )
            .text("response_format", "json");
        let endpoint = &self.client.endpoint;
        let response = endpoint
            .send(endpoint.post("/audio/transcriptions").multipart(form))
            .await?;
        let body = tokio::time::timeout(endpoint.timeouts.reply, response.bytes())
            .await
            .map_err(|_| SpeechError::Unavailable("openai stopped answering".into()))?
            .map_err(|e| cloud::transport_error("openai", &e))?;
        #[derive(Deserialize)]
        struct Transcription {
            text: String,
        }
        serde_json::from_slice::<Transcription>(&body)
            .map(|t| t.text.trim().to_owned())
            .map_err(|e| SpeechError::InvalidResponse(format!("openai transcription: {e}")))
    }
}

#[async_trait]
impl TranscriptionSession for BatchSession {
    async fn push(&mut self, audio: &[i16]) -> Result<(), SpeechError> {
        self.audio.extend_from_slice(audio);
        Ok(())
    }

    async fn peek(&mut self) -> Result<String, SpeechError> {
        let min_new =
            (self.options.sample_rate as u128 * PEEK_MIN_NEW_AUDIO.as_millis() / 1000) as usize;
        if let Some((covered, text)) = &self.cached
            && self.audio.len() < covered + min_new
        {
            return Ok(text.clone());
        }
        if self.audio.is_empty() {
            return Ok(String::new());
        }
        let text = self.transcribe().await?;
        self.cached = Some((self.audio.len(), text.clone()));
        Ok(text)
    }

    async fn take(&mut self) -> Result<String, SpeechError> {
        let text = match &self.cached {
            Some((covered, text)) if *covered == self.audio.len() => text.clone(),
            _ if self.audio.is_empty() => String::new(),
            _ => self.transcribe().await?,
        };
        self.audio.clear();
        self.cached = None;
        Ok(text)
    }

    async fn close(self: Box<Self>) {}
}

/// `samples` as a mono PCM16 WAV file (the container only: a 44-byte header).
fn wav(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&cloud::bytes_le(samples));
    out
}

/// OpenAI speech (`gpt-4o-mini-tts`, `tts-1`, …).
#[derive(Debug, Clone)]
pub struct OpenAiSynthesizer {
    name: String,
    model: String,
    endpoint: Endpoint,
}

impl OpenAiSynthesizer {
    /// A client of `base_url` (the API base with `/v1`) using `model`.
    pub fn new(base_url: &str, model: &str, key: ApiKey, http: reqwest::Client) -> Self {
        OpenAiSynthesizer {
            name: format!("openai:{model}"),
            model: model.to_owned(),
            endpoint: Endpoint::new(base_url, key, http),
        }
    }

    /// Other waiting limits (tests shorten them).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.endpoint.timeouts = timeouts;
        self
    }

    /// Speaks `sentence` into `audio`; `Ok(false)` when the listener left.
    async fn speak(
        &self,
        options: &SpeakOptions,
        sentence: &str,
        audio: &mpsc::Sender<Result<Vec<i16>, SpeechError>>,
    ) -> Result<bool, SpeechError> {
        let mut body = serde_json::json!({
            "model": self.model,
            "voice": options.voice_id.as_deref().unwrap_or(DEFAULT_VOICE),
            "input": sentence,
            "response_format": "pcm",
        });
        if let Some(speed) = options.speed {
            body["speed"] = speed.into();
        }
        let request = self.endpoint.post("/audio/speech").json(&body);
        let response = tokio::select! {
            response = self.endpoint.send(request) => response?,
            _ = audio.closed() => return Ok(false),
        };
        let mut chunks = response.bytes_stream();
        let mut carry = None;
        loop {
            let next = tokio::select! {
                next = tokio::time::timeout(self.endpoint.timeouts.reply, chunks.next()) => next,
                // Dropping the stream drops the connection: the provider stops.
                _ = audio.closed() => return Ok(false),
            };
            match next {
                Err(_) => {
                    return Err(SpeechError::Unavailable(
                        "openai stopped sending audio".into(),
                    ));
                }
                Ok(None) => return Ok(true),
                Ok(Some(Err(e))) => {
                    return Err(SpeechError::Unavailable(format!(
                        "openai audio stream broke: {e}"
                    )));
                }
                Ok(Some(Ok(bytes))) => {
                    let samples = cloud::samples_le(&mut carry, &bytes);
                    if !samples.is_empty() && audio.send(Ok(samples)).await.is_err() {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Synthesizer for OpenAiSynthesizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        TTS_SAMPLE_RATE
    }

    async fn open(&self, options: &SpeakOptions) -> Result<Utterance, SpeechError> {
        let (text, mut sentences) = mpsc::channel::<String>(16);
        let (audio_tx, audio) = mpsc::channel(32);
        let client = self.clone();
        let options = options.clone();
        tokio::spawn(async move {
            while let Some(sentence) = sentences.recv().await {
                if sentence.trim().is_empty() {
                    continue;
                }
                match client.speak(&options, &sentence, &audio_tx).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        let _ = audio_tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(Utterance { text, audio })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_describes_the_samples() {
        let bytes = wav(16_000, &[1, -1, 300]);
        assert_eq!(bytes.len(), 44 + 6);
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(
            u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
            16_000
        );
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 6);
        assert_eq!(&bytes[44..46], &1i16.to_le_bytes());
    }
}
