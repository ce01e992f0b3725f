//! Doubles of the cloud speech providers on 127.0.0.1, each speaking the
//! provider's public protocol (Deepgram live `/v1/listen`, ElevenLabs
//! `stream-input`, OpenAI `/v1/audio/transcriptions` and `/v1/audio/speech`),
//! scriptable (first-reply latency, refusals, a cut connection, an unreadable
//! message, silence) and recording what they received.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;

pub mod deepgram;
pub mod elevenlabs;
pub mod openai;

/// What goes wrong, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The request (or WebSocket handshake) is refused with this HTTP status.
    Status(u16),
    /// The connection is cut (no close frame, no end of body) after this many
    /// messages or chunks.
    DropAfter(usize),
    /// After the first reply, one the client cannot read.
    Malformed,
    /// The provider stops answering (never finalizes, sends no audio).
    Silent,
    /// An in-band error message of this kind (ElevenLabs' `{"error": …}`).
    ErrorMessage(String),
    /// A close frame with this code (ElevenLabs answers a bad key with 1008).
    Close(u16),
}

/// How a double answers.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// What goes wrong.
    pub fault: Option<Fault>,
    /// Before the first result or audio chunk.
    pub first_delay: Duration,
    /// Between audio chunks.
    pub chunk_delay: Duration,
    /// Before the answer to Deepgram's `Finalize` (a cloud transcriber's
    /// final result once the client says the turn is over).
    pub final_delay: Duration,
}

impl Script {
    /// Everything works, at once.
    pub fn ok() -> Script {
        Script::default()
    }

    /// With `fault`.
    pub fn fault(fault: Fault) -> Script {
        Script {
            fault: Some(fault),
            ..Script::default()
        }
    }

    /// The first reply `delay` late.
    pub fn first_after(mut self, delay: Duration) -> Script {
        self.first_delay = delay;
        self
    }

    /// `delay` between audio chunks.
    pub fn chunks_every(mut self, delay: Duration) -> Script {
        self.chunk_delay = delay;
        self
    }

    /// The answer to `Finalize` `delay` late.
    pub fn final_after(mut self, delay: Duration) -> Script {
        self.final_delay = delay;
        self
    }
}

/// Shared state of a double: its script and what it recorded.
pub(crate) struct Shared<R> {
    pub(crate) script: Mutex<Script>,
    pub(crate) recorded: Mutex<R>,
}

impl<R: Default> Shared<R> {
    pub(crate) fn new() -> Arc<Shared<R>> {
        Arc::new(Shared {
            script: Mutex::new(Script::ok()),
            recorded: Mutex::new(R::default()),
        })
    }

    pub(crate) fn script(&self) -> Script {
        self.script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_script(&self, script: Script) {
        *self.script.lock().unwrap_or_else(|e| e.into_inner()) = script;
    }

    pub(crate) fn rec(&self) -> MutexGuard<'_, R> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Serves `app` on a free port; `http://127.0.0.1:<port>`.
pub(crate) async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    // Nagle off, as providers' servers have it: a double must not add the
    // client's delayed ACK to its scripted latencies.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A provider's JSON refusal with `status`.
pub(crate) fn refusal(status: u16, body: serde_json::Value) -> Response {
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// `n` samples of a 440 Hz tone at `rate`, never silent: what the TTS doubles speak.
pub fn tone(rate: u32, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16 | 1
        })
        .collect()
}

/// Waits `delay` unless it is zero (a zero sleep still waits for a timer tick).
pub(crate) async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// Samples as PCM16 little-endian bytes.
pub(crate) fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}
