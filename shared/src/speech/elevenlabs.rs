//! ElevenLabs streaming text-to-speech over its WebSocket "stream-input" API
//! (`/v1/text-to-speech/{voice_id}/stream-input`): one socket per reply,
//! sentences sent as the engine writes them, audio (base64 PCM16 at 16 kHz)
//! back as it is made.
//!
//! The protocol: a first message `{"text": " ", "voice_settings": …}` opens
//! the stream; each sentence goes as `{"text": "…", "flush": true}` (flush
//! makes ElevenLabs speak it now instead of waiting for more text);
//! `{"text": ""}` ends the input; replies are `{"audio": "<base64>"}` and a
//! last `{"isFinal": true}`. The key goes in the `xi-api-key` header, never in
//! a message.

use async_trait::async_trait;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::cloud::{self, ApiKey, Socket, Timeouts};
use super::{SpeakOptions, SpeechError, Synthesizer, Utterance};

/// ElevenLabs' API base.
pub const ELEVENLABS_BASE_URL: &str = "https://api.elevenlabs.io";
/// The model asked for by default (the low-latency one).
pub const DEFAULT_MODEL: &str = "eleven_flash_v2_5";
/// The voice used when the agent names none ("Rachel", a premade voice).
pub const DEFAULT_VOICE: &str = "21m00Tcm4TlvDq8ikWAM";
/// The rate of `output_format=pcm_16000`.
pub const SAMPLE_RATE: u32 = 16_000;

/// ElevenLabs streaming speech.
#[derive(Debug, Clone)]
pub struct ElevenLabsSynthesizer {
    name: String,
    base_url: String,
    model: String,
    key: ApiKey,
    timeouts: Timeouts,
}

impl ElevenLabsSynthesizer {
    /// A client of `base_url` (normally [`ELEVENLABS_BASE_URL`]) using `model`.
    pub fn new(base_url: &str, model: &str, key: ApiKey) -> ElevenLabsSynthesizer {
        ElevenLabsSynthesizer {
            name: format!("elevenlabs:{model}"),
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            key,
            timeouts: Timeouts::default(),
        }
    }

    /// Other waiting limits (tests shorten them).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> ElevenLabsSynthesizer {
        self.timeouts = timeouts;
        self
    }
}

#[async_trait]
impl Synthesizer for ElevenLabsSynthesizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        SAMPLE_RATE
    }

    async fn open(&self, options: &SpeakOptions) -> Result<Utterance, SpeechError> {
        let voice = options.voice_id.as_deref().unwrap_or(DEFAULT_VOICE);
        let voice: String = url::form_urlencoded::byte_serialize(voice.as_bytes()).collect();
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("model_id", &self.model)
            .append_pair("output_format", &format!("pcm_{SAMPLE_RATE}"))
            .finish();
        let url = cloud::ws_url(
            &self.base_url,
            &format!("/v1/text-to-speech/{voice}/stream-input?{query}"),
        );
        let mut socket = cloud::connect(
            "elevenlabs",
            &url,
            &[("xi-api-key", self.key.expose())],
            self.timeouts.connect,
        )
        .await?;
        let mut settings = serde_json::Map::new();
        let fields = [
            ("stability", options.stability),
            ("similarity_boost", options.similarity_boost),
            ("speed", options.speed),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                settings.insert(name.into(), v.into());
            }
        }
        let first = serde_json::json!({"text": " ", "voice_settings": settings});
        socket
            .send(Message::text(first.to_string()))
            .await
            .map_err(|e| SpeechError::Unavailable(format!("elevenlabs: {e}")))?;
        let (text, sentences) = mpsc::channel(16);
        let (audio_tx, audio) = mpsc::channel(32);
        let reply = self.timeouts.reply;
        tokio::spawn(async move {
            if let Err(e) = stream(socket, sentences, &audio_tx, reply).await {
                let _ = audio_tx.send(Err(e)).await;
            }
        });
        Ok(Utterance { text, audio })
    }
}

/// One reply from ElevenLabs (only what the client reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    #[serde(default)]
    audio: Option<String>,
    #[serde(default)]
    is_final: Option<bool>,
    /// Error replies: `{"message": …, "error": …}`.
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Moves sentences out and audio in until ElevenLabs says it is done, the
/// listener leaves (then the socket is closed, which stops the generation),
/// or something fails.
async fn stream(
    socket: Socket,
    mut sentences: mpsc::Receiver<String>,
    audio: &mpsc::Sender<Result<Vec<i16>, SpeechError>>,
    reply: std::time::Duration,
) -> Result<(), SpeechError> {
    let (mut sink, mut replies) = socket.split();
    let broken = |e: tokio_tungstenite::tungstenite::Error| {
        SpeechError::Unavailable(format!("the elevenlabs socket failed: {e}"))
    };
    let mut input_open = true;
    // Audio is owed once text went out: then silence for too long is a failure.
    let mut owed = false;
    let mut carry = None;
    loop {
        let deadline = async {
            if owed {
                tokio::time::sleep(reply).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = audio.closed() => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(());
            }
            sentence = sentences.recv(), if input_open => {
                let message = match sentence {
                    Some(s) if s.trim().is_empty() => continue,
                    Some(s) => serde_json::json!({"text": format!("{} ", s.trim()), "flush": true}),
                    None => {
                        input_open = false;
                        serde_json::json!({"text": ""})
                    }
                };
                sink.send(Message::text(message.to_string())).await.map_err(broken)?;
                owed = true;
            }
            _ = deadline => {
                return Err(SpeechError::Unavailable(format!(
                    "elevenlabs sent no audio for {} ms", reply.as_millis()
                )));
            }
            message = replies.next() => {
                let text = match message {
                    None => return Err(SpeechError::Unavailable(
                        "the elevenlabs socket closed before the reply was spoken".into(),
                    )),
                    Some(Err(e)) => return Err(broken(e)),
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => return Err(closed(frame)),
                    Some(Ok(_)) => continue,
                };
                let parsed: Reply = serde_json::from_str(&text).map_err(|e| {
                    SpeechError::InvalidResponse(format!("elevenlabs sent {e}"))
                })?;
                if let Some(e) = refusal(&parsed) {
                    return Err(e);
                }
                if let Some(b64) = parsed.audio.as_deref().filter(|a| !a.is_empty()) {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|e| SpeechError::InvalidResponse(format!("elevenlabs audio: {e}")))?;
                    let samples = cloud::samples_le(&mut carry, &bytes);
                    if audio.send(Ok(samples)).await.is_err() {
                        let _ = sink.send(Message::Close(None)).await;
                        return Ok(());
                    }
                }
                if parsed.is_final == Some(true) {
                    let _ = sink.close().await;
                    return Ok(());
                }
                // Once the input ended, the rest of the audio and `isFinal` are
                // owed; before that, ElevenLabs may rightly wait for more text.
                owed = !input_open;
            }
        }
    }
}

/// The error an error reply means.
fn refusal(reply: &Reply) -> Option<SpeechError> {
    let kind = reply.error.as_deref()?;
    let said = format!(
        "elevenlabs: {kind}: {}",
        reply.message.as_deref().unwrap_or_default()
    );
    let lower = kind.to_ascii_lowercase();
    Some(if lower.contains("auth") || lower.contains("api_key") {
        SpeechError::Auth(said)
    } else if lower.contains("rate") || lower.contains("concurren") || lower.contains("quota") {
        SpeechError::RateLimited
    } else if lower.contains("voice") || lower.contains("invalid") {
        SpeechError::BadRequest(said)
    } else {
        SpeechError::Unavailable(said)
    })
}

/// The error a close frame from ElevenLabs means (1008: a policy refusal,
/// which is how it answers a bad key or a quota).
fn closed(frame: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> SpeechError {
    match frame {
        Some(f) if f.code == CloseCode::Policy => {
            SpeechError::Auth(format!("elevenlabs refused the stream: {}", f.reason))
        }
        Some(f) => SpeechError::Unavailable(format!(
            "elevenlabs closed the socket (code {}: {})",
            u16::from(f.code),
            f.reason
        )),
        None => SpeechError::Unavailable(
            "elevenlabs closed the socket before the reply was spoken".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_replies_map_to_their_class() {
        let reply = |error: &str| Reply {
            audio: None,
            is_final: None,
            message: Some("m".into()),
            error: Some(error.into()),
        };
        assert!(matches!(
            refusal(&reply("invalid_api_key")),
            Some(SpeechError::Auth(_))
        ));
        assert_eq!(
            refusal(&reply("quota_exceeded")),
            Some(SpeechError::RateLimited)
        );
        assert!(matches!(
            refusal(&reply("voice_not_found")),
            Some(SpeechError::BadRequest(_))
        ));
        assert!(matches!(
            refusal(&reply("internal")),
            Some(SpeechError::Unavailable(_))
        ));
        let audio: Reply = serde_json::from_str(r#"{"audio":"AAA=","isFinal":null}"#).unwrap();
        assert_eq!(refusal(&audio), None);
    }
}
