//! Deepgram live speech-to-text: one WebSocket per session to `/v1/listen`,
//! audio as binary PCM16 frames, transcripts back as JSON `Results` messages.
//!
//! Deepgram sends interim results (`is_final: false`, revised as more audio
//! arrives) and final ones (`is_final: true`, never revised). [`peek`] is the
//! finals of the turn so far and the latest interim. [`settle`], when the
//! caller pauses, sends `Finalize`: Deepgram flushes what it holds and marks
//! the reply `from_finalize`, while the end of the turn is still being
//! waited for. [`take`] sends `Finalize` only for audio that came after the
//! last one, waits (bounded) until the last one is answered, usually already
//! the case, or, when no word is unfinished, until the reply has had a short
//! chance (Deepgram does not promise one when it held no significant audio),
//! and starts the next turn.
//! While no audio flows, `KeepAlive` holds the socket open (Deepgram closes
//! it after ~10 s of silence on the wire).
//!
//! [`peek`]: TranscriptionSession::peek
//! [`settle`]: TranscriptionSession::settle
//! [`take`]: TranscriptionSession::take

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;

use super::cloud::{self, ApiKey, Socket, Timeouts};
use super::{SpeechError, TranscribeOptions, Transcriber, TranscriptionSession};

/// Deepgram's API base.
pub const DEEPGRAM_BASE_URL: &str = "https://api.deepgram.com";
/// The model asked for by default.
pub const DEFAULT_MODEL: &str = "nova-3";
/// How often `KeepAlive` is sent while no audio is (Deepgram's docs: 3–5 s).
const KEEP_ALIVE: Duration = Duration::from_secs(4);
/// The longest `take` waits for Deepgram's reply to `Finalize` (it normally
/// comes within a few hundred ms): the caller is waiting for an answer.
const FINALIZE_WAIT: Duration = Duration::from_secs(2);
/// How long after a `Finalize` `take` still waits for its reply when no word
/// is unfinished: Deepgram does not promise one when it held no significant
/// audio (its own endpointing had already made every word final).
const NOTHING_HELD: Duration = Duration::from_millis(200);

/// Deepgram live transcription.
#[derive(Debug, Clone)]
pub struct DeepgramTranscriber {
    name: String,
    base_url: String,
    model: String,
    key: ApiKey,
    timeouts: Timeouts,
}

impl DeepgramTranscriber {
    /// A client of `base_url` (normally [`DEEPGRAM_BASE_URL`]) using `model`.
    pub fn new(base_url: &str, model: &str, key: ApiKey) -> DeepgramTranscriber {
        DeepgramTranscriber {
            name: format!("deepgram:{model}"),
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            key,
            timeouts: Timeouts::default(),
        }
    }

    /// Other waiting limits (tests shorten them).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> DeepgramTranscriber {
        self.timeouts = timeouts;
        self
    }
}

#[async_trait]
impl Transcriber for DeepgramTranscriber {
    fn name(&self) -> &str {
        &self.name
    }

    async fn open(
        &self,
        options: &TranscribeOptions,
    ) -> Result<Box<dyn TranscriptionSession>, SpeechError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("encoding", "linear16")
            .append_pair("sample_rate", &options.sample_rate.to_string())
            .append_pair("channels", "1")
            .append_pair("language", &options.language)
            .append_pair("model", &self.model)
            .append_pair("interim_results", "true")
            .append_pair("punctuate", "true")
            .finish();
        let url = cloud::ws_url(&self.base_url, &format!("/v1/listen?{query}"));
        let auth = format!("Token {}", self.key.expose());
        let socket = cloud::connect(
            "deepgram",
            &url,
            &[("authorization", &auth)],
            self.timeouts.connect,
        )
        .await?;
        Ok(Box::new(DeepgramSession::start(
            socket,
            self.timeouts.reply.min(FINALIZE_WAIT),
        )))
    }
}

/// What the reader has heard on one socket.
#[derive(Debug, Default)]
struct Heard {
    /// Final segments of the current turn.
    finals: Vec<String>,
    /// The latest interim segment (replaced by each interim, cleared by a final).
    interim: String,
    /// How many `from_finalize` replies arrived (Deepgram answers most
    /// `Finalize` messages with one, not all).
    finalized: u64,
    /// Why the socket stopped working, once it has.
    failed: Option<SpeechError>,
}

impl Heard {
    fn text(&self) -> String {
        let mut parts: Vec<&str> = self.finals.iter().map(String::as_str).collect();
        parts.push(&self.interim);
        join(&parts)
    }
}

struct DeepgramSession {
    /// Frames for the writer task (audio, control messages).
    out: mpsc::Sender<Message>,
    heard: Arc<Mutex<Heard>>,
    changed: Arc<Notify>,
    /// Whether audio went out since the last `Finalize`.
    pending_audio: bool,
    /// The last `Finalize`: when it went, and how many `from_finalize`
    /// replies had arrived then (a later one answers it, or one after it).
    last_finalize: Option<(Instant, u64)>,
    reply: Duration,
}

impl DeepgramSession {
    fn start(socket: Socket, reply: Duration) -> DeepgramSession {
        let (sink, stream) = socket.split();
        let (out, rx) = mpsc::channel(64);
        let heard = Arc::new(Mutex::new(Heard::default()));
        let changed = Arc::new(Notify::new());
        tokio::spawn(write(sink, rx));
        tokio::spawn(read(stream, heard.clone(), changed.clone()));
        DeepgramSession {
            out,
            heard,
            changed,
            pending_audio: false,
            last_finalize: None,
            reply,
        }
    }

    fn heard(&self) -> std::sync::MutexGuard<'_, Heard> {
        // The lock is never held across an await or a panic-prone call.
        self.heard.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self) -> Result<(), SpeechError> {
        match &self.heard().failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Asks Deepgram to flush the audio sent since the last `Finalize`.
    async fn finalize(&mut self) -> Result<(), SpeechError> {
        if self.pending_audio {
            let replies = self.heard().finalized;
            self.send(Message::text(r#"{"type":"Finalize"}"#)).await?;
            self.last_finalize = Some((Instant::now(), replies));
            self.pending_audio = false;
        }
        Ok(())
    }

    /// Waits (bounded) until the last `Finalize` is answered, or nothing
    /// the caller said is unfinished and the reply had its chance.
    async fn flushed(&self) {
        let Some((sent_at, replies)) = self.last_finalize else {
            return;
        };
        let deadline = sent_at + self.reply;
        loop {
            // The state is checked after `notified()` is created, so a reply
            // that lands between two checks is not missed.
            let notified = self.changed.notified();
            let wake = {
                let heard = self.heard();
                if heard.failed.is_some() || heard.finalized > replies {
                    return;
                }
                if heard.interim.is_empty() {
                    let grace = sent_at + NOTHING_HELD;
                    if Instant::now() >= grace {
                        return;
                    }
                    grace.min(deadline)
                } else {
                    deadline
                }
            };
            if Instant::now() >= deadline {
                // What was heard is still the best answer there is: a slow
                // flush must not lose the caller's turn.
                tracing::warn!(
                    timeout_ms = self.reply.as_millis() as u64,
                    "deepgram did not confirm Finalize in time; using the transcript so far"
                );
                return;
            }
            let _ = tokio::time::timeout_at(wake.into(), notified).await;
        }
    }

    async fn send(&self, message: Message) -> Result<(), SpeechError> {
        self.check()?;
        self.out.send(message).await.map_err(|_| {
            self.heard()
                .failed
                .clone()
                .unwrap_or_else(|| SpeechError::Unavailable("the deepgram socket closed".into()))
        })
    }
}

#[async_trait]
impl TranscriptionSession for DeepgramSession {
    async fn push(&mut self, audio: &[i16]) -> Result<(), SpeechError> {
        if audio.is_empty() {
            return self.check();
        }
        self.send(Message::Binary(cloud::bytes_le(audio).into()))
            .await?;
        self.pending_audio = true;
        Ok(())
    }

    async fn peek(&mut self) -> Result<String, SpeechError> {
        self.check()?;
        Ok(self.heard().text())
    }

    async fn settle(&mut self) -> Result<(), SpeechError> {
        self.finalize().await
    }

    async fn take(&mut self) -> Result<String, SpeechError> {
        self.finalize().await?;
        self.flushed().await;
        self.last_finalize = None;
        self.check()?;
        let mut heard = self.heard();
        let text = heard.text();
        heard.finals.clear();
        heard.interim.clear();
        Ok(text)
    }

    async fn close(self: Box<Self>) {
        // The writer sends CloseStream when its channel closes.
        drop(self.out);
    }
}

/// Sends what the session queues; `KeepAlive` when nothing was sent for a
/// while; `CloseStream` and a close frame when the session is gone.
async fn write(
    mut sink: futures::stream::SplitSink<Socket, Message>,
    mut rx: mpsc::Receiver<Message>,
) {
    loop {
        let message = match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_) => Message::text(r#"{"type":"KeepAlive"}"#),
        };
        if sink.send(message).await.is_err() {
            return;
        }
    }
    let _ = sink.send(Message::text(r#"{"type":"CloseStream"}"#)).await;
    let _ = sink.close().await;
}

/// One message from Deepgram (only what the client reads).
#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    is_final: bool,
    #[serde(default)]
    from_finalize: bool,
    /// Error messages' text.
    #[serde(default)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Channel {
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
}

/// Reads Deepgram's messages into `heard` until the socket ends.
async fn read(
    mut stream: futures::stream::SplitStream<Socket>,
    heard: Arc<Mutex<Heard>>,
    changed: Arc<Notify>,
) {
    let failure = loop {
        let failure = match stream.next().await {
            None => SpeechError::Unavailable("the deepgram socket closed".into()),
            Some(Err(e)) => SpeechError::Unavailable(format!("the deepgram socket failed: {e}")),
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<Reply>(&text) {
                Ok(reply) => match apply(&heard, reply) {
                    Ok(()) => {
                        changed.notify_waiters();
                        continue;
                    }
                    Err(e) => e,
                },
                Err(e) => SpeechError::InvalidResponse(format!("deepgram sent {e}")),
            },
            Some(Ok(Message::Close(frame))) => {
                let reason = frame
                    .map(|f| format!("code {}: {}", u16::from(f.code), f.reason))
                    .unwrap_or_else(|| "no reason".into());
                SpeechError::Unavailable(format!("deepgram closed the socket ({reason})"))
            }
            Some(Ok(_)) => continue,
        };
        break failure;
    };
    let mut heard = heard.lock().unwrap_or_else(|p| p.into_inner());
    heard.failed.get_or_insert(failure);
    drop(heard);
    changed.notify_waiters();
}

fn apply(heard: &Mutex<Heard>, reply: Reply) -> Result<(), SpeechError> {
    match reply.kind.as_str() {
        "Results" => {
            let transcript = reply
                .channel
                .and_then(|c| c.alternatives.into_iter().next())
                .map(|a| a.transcript)
                .unwrap_or_default();
            let mut heard = heard.lock().unwrap_or_else(|p| p.into_inner());
            if reply.is_final {
                if !transcript.trim().is_empty() {
                    heard.finals.push(transcript);
                }
                heard.interim.clear();
            } else {
                heard.interim = transcript;
            }
            if reply.from_finalize {
                heard.finalized += 1;
            }
            Ok(())
        }
        "Error" => Err(SpeechError::Unavailable(format!(
            "deepgram reported an error: {}",
            reply.description.unwrap_or_default()
        ))),
        // Metadata, SpeechStarted, UtteranceEnd: nothing the session needs.
        _ => Ok(()),
    }
}

/// Non-empty parts, trimmed, joined by one space.
fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(transcript: &str, is_final: bool, from_finalize: bool) -> Reply {
        serde_json::from_value(serde_json::json!({
            "type": "Results", "is_final": is_final, "speech_final": is_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": transcript, "confidence": 0.9}]}
        }))
        .unwrap()
    }

    #[test]
    fn finals_accumulate_and_interims_replace() {
        let heard = Mutex::new(Heard::default());
        apply(&heard, results("my number", false, false)).unwrap();
        apply(&heard, results("my number is", true, false)).unwrap();
        apply(&heard, results("four", false, false)).unwrap();
        apply(&heard, results("four one five", false, false)).unwrap();
        assert_eq!(heard.lock().unwrap().text(), "my number is four one five");
        apply(&heard, results("four one five.", true, true)).unwrap();
        let h = heard.lock().unwrap();
        assert_eq!(h.text(), "my number is four one five.");
        assert_eq!(h.finalized, 1);
    }

    #[test]
    fn other_messages_are_ignored_and_errors_fail() {
        let heard = Mutex::new(Heard::default());
        let meta: Reply = serde_json::from_str(r#"{"type":"Metadata","request_id":"x"}"#).unwrap();
        apply(&heard, meta).unwrap();
        let err: Reply =
            serde_json::from_str(r#"{"type":"Error","description":"bad audio"}"#).unwrap();
        assert!(
            matches!(apply(&heard, err), Err(SpeechError::Unavailable(m)) if m.contains("bad audio"))
        );
    }
}
