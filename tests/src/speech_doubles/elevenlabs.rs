//! ElevenLabs stream-input double: `GET /v1/text-to-speech/{voice_id}/stream-input`
//! upgraded to a WebSocket. It speaks each text message as a tone of 10 ms
//! per character (PCM16 at 16 kHz, base64 in `{"audio": …}` messages of
//! 100 ms), ends with `{"isFinal": true}` after `{"text": ""}`, and notices a
//! client that leaves mid-stream. The script's `first_delay` counts from the
//! first text to speak (as a provider's time to first audio does), and when
//! that text arrived and the first audio left are recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Fault, Script, Shared, le_bytes, refusal, serve, tone};

/// The double's output rate (`pcm_16000`).
pub const RATE: u32 = 16_000;
/// Samples per character spoken.
pub const SAMPLES_PER_CHAR: usize = 160;
const CHUNK: usize = 1600;

/// What the double received and did.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The last connection's `xi-api-key` header.
    pub api_key: Option<String>,
    /// The last connection's voice id.
    pub voice_id: Option<String>,
    /// The last connection's query parameters.
    pub query: HashMap<String, String>,
    /// The first message of the last connection (`text: " "`, voice settings).
    pub first: Option<Value>,
    /// Every later message, in order.
    pub messages: Vec<Value>,
    /// Audio chunks sent.
    pub chunks_sent: usize,
    /// Connections that ended with audio still to send because the client left.
    pub cancelled: usize,
    /// Per connection that got text to speak: when the first arrived.
    pub first_text_at: Vec<std::time::Instant>,
    /// Per connection that sent audio: when the first chunk left.
    pub first_audio_at: Vec<std::time::Instant>,
}

/// A running ElevenLabs double.
#[derive(Clone)]
pub struct ElevenLabsDouble {
    /// `http://127.0.0.1:<port>`, what `SWITCHBOARD_ELEVENLABS_API_BASE` points at.
    pub base: String,
    shared: Arc<Shared<Recorded>>,
}

impl ElevenLabsDouble {
    /// Starts a double on a free port.
    pub async fn start() -> ElevenLabsDouble {
        let shared = Shared::new();
        let app = Router::new()
            .route("/v1/text-to-speech/{voice}/stream-input", get(stream_input))
            .with_state(shared.clone());
        ElevenLabsDouble {
            base: serve(app).await,
            shared,
        }
    }

    /// What the next connections answer.
    pub fn script(&self, script: Script) {
        self.shared.set_script(script);
    }

    /// What it received so far.
    pub fn recorded(&self) -> Recorded {
        self.shared.rec().clone()
    }
}

async fn stream_input(
    State(shared): State<Arc<Shared<Recorded>>>,
    Path(voice): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    {
        let mut rec = shared.rec();
        rec.api_key = headers
            .get("xi-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        rec.voice_id = Some(voice);
        rec.query = query;
    }
    let script = shared.script();
    if let Some(Fault::Status(status)) = script.fault {
        return refusal(
            status,
            json!({"detail": {"status": "refused", "message": "scripted refusal"}}),
        );
    }
    ws.read_buffer_size(crate::READ_BUFFER)
        .on_upgrade(move |socket| session(socket, shared, script))
        .into_response()
}

async fn session(socket: WebSocket, shared: Arc<Shared<Recorded>>, script: Script) {
    let (mut out, mut incoming) = socket.split();
    let mut pending: VecDeque<Vec<i16>> = VecDeque::new();
    let (mut input_ended, mut sent) = (false, 0usize);
    // When the next chunk may go: the first text's arrival plus the first
    // delay, then the last chunk's departure plus the chunk delay.
    let mut due: Option<Instant> = None;
    loop {
        let ready = !pending.is_empty() && script.fault != Some(Fault::Silent);
        let wait = async move {
            // A zero wait must not wait for the timer wheel's next tick.
            if let Some(due) = due.filter(|d| *d > Instant::now()) {
                tokio::time::sleep_until(due).await;
            }
        };
        tokio::select! {
            message = incoming.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        if !pending.is_empty() || !input_ended {
                            shared.rec().cancelled += 1;
                        }
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                let arrived = Instant::now();
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.to_string()));
                let said = value["text"].as_str().unwrap_or_default().to_owned();
                {
                    let mut rec = shared.rec();
                    if rec.first.is_none() || value.get("voice_settings").is_some() {
                        rec.first = Some(value.clone());
                        rec.messages.clear();
                        continue;
                    }
                    rec.messages.push(value);
                }
                if said.is_empty() {
                    input_ended = true;
                } else if !said.trim().is_empty() {
                    if due.is_none() {
                        due = Some(arrived + script.first_delay);
                        shared.rec().first_text_at.push(arrived.into_std());
                    }
                    let samples = tone(RATE, said.chars().count() * SAMPLES_PER_CHAR);
                    pending.extend(samples.chunks(CHUNK).map(<[i16]>::to_vec));
                }
                if let Some(Fault::ErrorMessage(kind)) = &script.fault {
                    let error = json!({"message": "scripted error", "error": kind, "code": 1008});
                    let _ = out.send(Message::text(error.to_string())).await;
                    return;
                }
                if let Some(Fault::Close(code)) = script.fault {
                    let frame = CloseFrame { code, reason: "scripted close".into() };
                    let _ = out.send(Message::Close(Some(frame))).await;
                    return;
                }
            }
            () = wait, if ready => {
                let Some(chunk) = pending.pop_front() else { continue };
                sent += 1;
                match &script.fault {
                    Some(Fault::DropAfter(n)) if sent > *n => return,
                    Some(Fault::Malformed) if sent > 1 => {
                        let _ = out.send(Message::text(r#"{"audio": "AAA"#)).await;
                        continue;
                    }
                    _ => {}
                }
                let audio = base64::engine::general_purpose::STANDARD.encode(le_bytes(&chunk));
                let message = json!({"audio": audio, "isFinal": null, "normalizedAlignment": null});
                let left = Instant::now();
                if out.send(Message::text(message.to_string())).await.is_err() {
                    shared.rec().cancelled += 1;
                    return;
                }
                due = Some(left + script.chunk_delay);
                let mut rec = shared.rec();
                rec.chunks_sent += 1;
                if sent == 1 {
                    rec.first_audio_at.push(left.into_std());
                }
            }
        }
        if input_ended && pending.is_empty() {
            let _ = out
                .send(Message::text(json!({"isFinal": true}).to_string()))
                .await;
            let _ = out.close().await;
            return;
        }
    }
}
