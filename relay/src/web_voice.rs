//! `/ws/web/{session}?token=…&mode=voice` (SPEC §14): a website visitor
//! talking to the agent out loud (the widget's call button). The socket is
//! admitted exactly like a text chat ([`crate::web_chat`]); then it is the
//! voice pipeline's transport ([`switchboard::services::calls::voice`]).
//!
//! In: binary frames of 16 kHz mono PCM16 little-endian microphone audio
//! (any length; 20 ms is usual), and `{"type":"user_message","text"}` for
//! anything typed meanwhile. Out: binary frames of the agent's voice in the
//! same format, `{"type":"clear"}` when the visitor cut the agent off (drop
//! the audio queued for playback), `transcript_update` as each line is
//! said, then `call_status_update`, `end` and the close.
//!
//! Bounded: audio may run at most [`AHEAD`] ahead of real time (a client
//! pushing faster has the excess dropped: it cannot make the transcriber
//! work faster than a caller speaks); typed text is cut at
//! [`crate::web_chat::MAX_TEXT_CHARS`].

use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::engine::call::TranscriptEntry;
use switchboard::services::calls::voice::{self, Inbound, Outbound};
use switchboard::services::calls::web_chat::WebChat;
use switchboard::speech::audio::{pcm16_from_le, pcm16_le};
use tokio::sync::mpsc;

use crate::web_chat::MAX_TEXT_CHARS;

/// How far ahead of real time a visitor's audio may run.
pub const AHEAD: Duration = Duration::from_secs(2);
/// How long the page has to take one message.
const SEND_WITHIN: Duration = Duration::from_secs(5);
/// Chunks the pipeline may have waiting.
const BACKLOG: usize = 256;

/// The page's side of a voice chat.
struct Page {
    sink: SplitSink<WebSocket, Message>,
    call_id: String,
}

impl Page {
    async fn send(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(SEND_WITHIN, self.sink.send(message)).await,
            Ok(Ok(()))
        )
    }

    async fn json(&mut self, value: Value) -> bool {
        self.send(Message::Text(value.to_string().into())).await
    }
}

#[async_trait]
impl Outbound for Page {
    async fn audio(&mut self, frame: &[i16]) -> bool {
        self.send(Message::Binary(pcm16_le(frame).into())).await
    }

    async fn clear(&mut self) -> bool {
        self.json(json!({"type": "clear"})).await
    }

    async fn transcript(&mut self, entries: &[TranscriptEntry]) -> bool {
        if entries.is_empty() {
            return true;
        }
        // A supervisor's whisper keeps its place (`seq` has no gap) but not its words.
        let entries: Vec<_> = entries.iter().cloned().map(|e| e.redacted()).collect();
        let data = json!({"call_id": self.call_id, "transcript": entries});
        self.json(json!({"type": "transcript_update", "data": data}))
            .await
    }
}

/// Talks with the visitor until the call ends, then tells the page how it
/// ended and closes the socket.
pub(crate) async fn converse(chat: WebChat, socket: WebSocket) {
    let call_id = chat.call_id().to_owned();
    let (sink, stream) = socket.split();
    let mut page = Page {
        sink,
        call_id: call_id.clone(),
    };
    let (tx, inbound) = mpsc::channel(BACKLOG);
    let reader = tokio::spawn(read(stream, tx));
    let ended = chat.voice(inbound, &mut page).await;
    reader.abort();
    let (status, reason) = match ended {
        Ok((call, _)) => (call.status, call.end_reason),
        Err(e) => {
            tracing::error!(call = %call_id, error = %e, "a voice chat ended in error");
            let _ = page
                .json(json!({"type": "error", "error": "the call could not be ended cleanly"}))
                .await;
            return;
        }
    };
    let data = json!({"call_id": call_id, "status": status, "end_reason": reason});
    let _ = page
        .json(json!({"type": "call_status_update", "data": data}))
        .await;
    let _ = page
        .json(json!({"type": "end", "data": {"call_id": call_id, "reason": reason}}))
        .await;
    let close = CloseFrame {
        code: close_code::NORMAL,
        reason: "the call ended".into(),
    };
    let _ = page.send(Message::Close(Some(close))).await;
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Typed {
    UserMessage {
        text: String,
    },
    #[serde(other)]
    Other,
}

/// The visitor's microphone and typing, as the pipeline's input, until the
/// page leaves.
async fn read(mut stream: SplitStream<WebSocket>, tx: mpsc::Sender<Inbound>) {
    let started = Instant::now();
    let mut samples: u64 = 0;
    let mut dropped = false;
    while let Some(Ok(message)) = stream.next().await {
        let inbound = match message {
            Message::Binary(bytes) => {
                let pcm = pcm16_from_le(&bytes);
                samples += pcm.len() as u64;
                let allowed = (started.elapsed() + AHEAD).as_secs_f64() * f64::from(voice::RATE);
                if samples as f64 > allowed {
                    samples -= pcm.len() as u64;
                    if !std::mem::replace(&mut dropped, true) {
                        tracing::info!(
                            "a web caller sends audio faster than real time; the excess is dropped"
                        );
                    }
                    continue;
                }
                Inbound::Audio(pcm)
            }
            Message::Text(text) => match serde_json::from_str::<Typed>(text.as_str()) {
                Ok(Typed::UserMessage { text }) if !text.trim().is_empty() => {
                    Inbound::Text(text.chars().take(MAX_TEXT_CHARS).collect())
                }
                _ => continue,
            },
            Message::Close(_) => break,
            _ => continue,
        };
        if tx.send(inbound).await.is_err() {
            return;
        }
    }
    let _ = tx.send(Inbound::HangUp).await;
}
