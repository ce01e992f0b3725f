//! Deepgram live transcription double: `GET /v1/listen` upgraded to a
//! WebSocket. It "recognises" scripted turns: each binary audio frame reveals
//! one more word of the current turn as an interim `Results` (or, for a turn
//! scripted with how long it is spoken, the words the audio so far covers,
//! as a live transcriber keeps pace with the voice); every three words
//! become a final one (`is_final: true`); `Finalize` answers, after the
//! script's `final_delay`, with the rest of the words heard
//! (`from_finalize: true`: for a turn scripted with how long it is spoken,
//! those the audio so far covers, otherwise the whole turn), and once the
//! turn is all out moves to the next one. When each `Finalize` arrived is
//! recorded: the client sends one when the caller pauses.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Fault, Script, Shared, pause, refusal, serve};

/// Words per final segment.
const SEGMENT: usize = 3;

/// What the double received.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The last connection's query parameters.
    pub query: HashMap<String, String>,
    /// The last connection's `Authorization` header.
    pub authorization: Option<String>,
    /// Audio bytes received, over all connections.
    pub audio_bytes: usize,
    /// The `type` of every control message received, in order.
    pub controls: Vec<String>,
    /// Connections opened.
    pub connections: usize,
    /// Connections the client closed (a close frame or end of stream).
    pub closed_by_client: usize,
    /// When each `Finalize` arrived, over all connections.
    pub finalized_at: Vec<Instant>,
    /// Turns scripted but not started yet, with how long each is spoken.
    turns: VecDeque<(String, Option<Duration>)>,
}

/// A running Deepgram double.
#[derive(Clone)]
pub struct DeepgramDouble {
    /// `http://127.0.0.1:<port>`, what `SWITCHBOARD_DEEPGRAM_API_BASE` points at.
    pub base: String,
    shared: Arc<Shared<Recorded>>,
}

impl DeepgramDouble {
    /// Starts a double on a free port.
    pub async fn start() -> DeepgramDouble {
        let shared = Shared::new();
        let app = Router::new()
            .route("/v1/listen", get(listen))
            .with_state(shared.clone());
        DeepgramDouble {
            base: serve(app).await,
            shared,
        }
    }

    /// What the next connections answer.
    pub fn script(&self, script: Script) {
        self.shared.set_script(script);
    }

    /// The caller's turns, in order (what the double "hears").
    pub fn turns(&self, turns: &[&str]) {
        self.shared.rec().turns = turns.iter().map(|t| (t.to_string(), None)).collect();
    }

    /// The caller's turns, in order, each with how long it is spoken: its
    /// words are revealed as the audio received covers them (the last one
    /// once that much audio has come), not one per frame.
    pub fn spoken_turns(&self, turns: &[(&str, Duration)]) {
        self.shared.rec().turns = turns
            .iter()
            .map(|(t, spoken)| (t.to_string(), Some(*spoken)))
            .collect();
    }

    /// What it received so far.
    pub fn recorded(&self) -> Recorded {
        self.shared.rec().clone()
    }
}

async fn listen(
    State(shared): State<Arc<Shared<Recorded>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    {
        let mut rec = shared.rec();
        rec.query = query;
        rec.authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        rec.connections += 1;
    }
    let script = shared.script();
    if let Some(Fault::Status(status)) = script.fault {
        return refusal(
            status,
            json!({"err_code": "REFUSED", "err_msg": "scripted refusal", "request_id": "x"}),
        );
    }
    ws.read_buffer_size(crate::READ_BUFFER)
        .on_upgrade(move |socket| session(socket, shared, script))
        .into_response()
}

fn results(words: &[String], is_final: bool, from_finalize: bool) -> Message {
    let transcript = words.join(" ");
    Message::text(
        json!({
            "type": "Results", "channel_index": [0, 1], "duration": 0.5, "start": 0.0,
            "is_final": is_final, "speech_final": from_finalize, "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": transcript, "confidence": 0.98, "words": []}]},
        })
        .to_string(),
    )
}

/// How many of a turn's `words` spoken over `spoken` the first `heard_ms`
/// of its audio cover.
fn covered(words: usize, spoken: Duration, heard_ms: f64) -> usize {
    let share = heard_ms / (spoken.as_secs_f64() * 1000.0);
    (words as f64 * share.min(1.0)).floor() as usize
}

async fn session(mut socket: WebSocket, shared: Arc<Shared<Recorded>>, script: Script) {
    let next_turn = |shared: &Shared<Recorded>| -> (Vec<String>, Option<Duration>) {
        let (turn, spoken) = shared.rec().turns.pop_front().unwrap_or_default();
        (turn.split_whitespace().map(str::to_owned).collect(), spoken)
    };
    let (mut words, mut spoken) = next_turn(&shared);
    let (mut revealed, mut segment) = (0, 0);
    let mut frames = 0;
    // Audio of the current turn, in ms (16 kHz PCM16: 32 bytes a millisecond).
    let mut heard_ms = 0.0;
    while let Some(Ok(message)) = socket.recv().await {
        match message {
            Message::Binary(audio) => {
                shared.rec().audio_bytes += audio.len();
                frames += 1;
                match &script.fault {
                    Some(Fault::DropAfter(n)) if frames >= *n => return,
                    Some(Fault::Malformed) if frames > 1 => {
                        let _ = socket
                            .send(Message::text(r#"{"type": "Results", "chan"#))
                            .await;
                        continue;
                    }
                    Some(Fault::Silent) => continue,
                    _ => {}
                }
                if frames == 1 {
                    pause(script.first_delay).await;
                }
                heard_ms += audio.len() as f64 / 32.0;
                let due = match spoken {
                    None => revealed + 1,
                    Some(spoken) => covered(words.len(), spoken, heard_ms),
                };
                if revealed < words.len() && revealed < due {
                    revealed += 1;
                    let interim = results(&words[segment..revealed], false, false);
                    if socket.send(interim).await.is_err() {
                        return;
                    }
                }
                if revealed - segment == SEGMENT {
                    let done = results(&words[segment..revealed], true, false);
                    if socket.send(done).await.is_err() {
                        return;
                    }
                    segment = revealed;
                }
            }
            Message::Text(text) => {
                let at = Instant::now();
                let kind = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("unreadable: {text}"));
                {
                    let mut rec = shared.rec();
                    rec.controls.push(kind.clone());
                    if kind == "Finalize" {
                        rec.finalized_at.push(at);
                    }
                }
                match kind.as_str() {
                    "Finalize" if script.fault != Some(Fault::Silent) => {
                        pause(script.final_delay).await;
                        // Deepgram flushes what it heard: a turn scripted with
                        // how long it is spoken, the words the audio so far
                        // covers (a pause inside the turn: the rest follows
                        // with more audio); otherwise the rest of the turn.
                        let heard = match spoken {
                            Some(spoken) => covered(words.len(), spoken, heard_ms),
                            None => words.len(),
                        };
                        let end = heard.max(revealed);
                        let flushed = results(&words[segment..end], true, true);
                        if socket.send(flushed).await.is_err() {
                            return;
                        }
                        (revealed, segment) = (end, end);
                        if end == words.len() {
                            (words, spoken) = next_turn(&shared);
                            (revealed, segment, heard_ms) = (0, 0, 0.0);
                        }
                    }
                    "CloseStream" => {
                        let metadata = json!({"type": "Metadata", "request_id": "x"});
                        let _ = socket.send(Message::text(metadata.to_string())).await;
                        let _ = socket.send(Message::Close(None)).await;
                        shared.rec().closed_by_client += 1;
                        return;
                    }
                    _ => {}
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    shared.rec().closed_by_client += 1;
}
