//! OpenAI audio double: `POST /v1/audio/transcriptions` (multipart with a WAV
//! file; answers `{"text": …}` with the scripted transcript) and
//! `POST /v1/audio/speech` (answers raw 24 kHz PCM16 of 10 ms per character,
//! streamed in odd-sized chunks, and notices a client that leaves mid-stream).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Fault, Script, Shared, le_bytes, pause, refusal, serve, tone};

/// The speech output rate (`response_format: "pcm"`).
pub const RATE: u32 = 24_000;
/// Samples per character spoken.
pub const SAMPLES_PER_CHAR: usize = 240;
/// Bytes per streamed chunk: odd, so samples straddle chunks.
const CHUNK_BYTES: usize = 999;

/// One transcription request.
#[derive(Debug, Clone, Default)]
pub struct Transcription {
    /// `Authorization`.
    pub authorization: Option<String>,
    /// The form's text fields (`model`, `language`, `response_format`).
    pub fields: Vec<(String, String)>,
    /// The file's name and content type.
    pub file_name: Option<String>,
    /// The WAV's sample rate (from its header).
    pub sample_rate: u32,
    /// The WAV's samples.
    pub samples: Vec<i16>,
}

impl Transcription {
    /// A text field's value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the double received and did.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Every transcription request.
    pub transcriptions: Vec<Transcription>,
    /// Every speech request's JSON body.
    pub speech: Vec<Value>,
    /// Every speech request's `Authorization`.
    pub speech_auth: Vec<Option<String>>,
    /// Speech chunks sent.
    pub chunks_sent: usize,
    /// Speech responses the client stopped reading before their end.
    pub cancelled: usize,
    /// The transcript answered.
    transcript: String,
}

/// A running OpenAI audio double.
#[derive(Clone)]
pub struct OpenAiAudioDouble {
    /// `http://127.0.0.1:<port>/v1`, what `SWITCHBOARD_OPENAI_BASE_URL` points at.
    pub base: String,
    shared: Arc<Shared<Recorded>>,
}

impl OpenAiAudioDouble {
    /// Starts a double on a free port.
    pub async fn start() -> OpenAiAudioDouble {
        let shared = Shared::new();
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcriptions))
            .route("/v1/audio/speech", post(speech))
            .with_state(shared.clone());
        OpenAiAudioDouble {
            base: format!("{}/v1", serve(app).await),
            shared,
        }
    }

    /// What the next requests answer.
    pub fn script(&self, script: Script) {
        self.shared.set_script(script);
    }

    /// The transcript every transcription answers.
    pub fn transcript(&self, text: &str) {
        self.shared.rec().transcript = text.to_owned();
    }

    /// What it received so far.
    pub fn recorded(&self) -> Recorded {
        self.shared.rec().clone()
    }
}

fn error(status: u16) -> Response {
    refusal(
        status,
        json!({"error": {"message": "scripted refusal", "type": "invalid_request_error",
                         "param": null, "code": null}}),
    )
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn transcriptions(
    State(shared): State<Arc<Shared<Recorded>>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let mut request = Transcription {
        authorization: header(&headers, "authorization"),
        ..Transcription::default()
    };
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            request.file_name = field.file_name().map(str::to_owned);
            let bytes = field.bytes().await.unwrap_or_default();
            if bytes.len() >= 44 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
                request.sample_rate =
                    u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]);
                request.samples = bytes[44..]
                    .chunks_exact(2)
                    .map(|p| i16::from_le_bytes([p[0], p[1]]))
                    .collect();
            }
        } else {
            request
                .fields
                .push((name, field.text().await.unwrap_or_default()));
        }
    }
    let script = shared.script();
    let transcript = {
        let mut rec = shared.rec();
        rec.transcriptions.push(request);
        rec.transcript.clone()
    };
    pause(script.first_delay).await;
    match script.fault {
        Some(Fault::Status(status)) => error(status),
        Some(Fault::Malformed) => {
            ([("content-type", "application/json")], "{\"tex").into_response()
        }
        Some(Fault::Silent) => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            error(500)
        }
        _ => axum::Json(json!({"text": transcript})).into_response(),
    }
}

/// Counts a speech stream as cancelled if it is dropped before its end.
struct Watch {
    shared: Arc<Shared<Recorded>>,
    finished: bool,
}

impl Watch {
    /// The stream reached its (scripted) end: not a cancel.
    fn done(&mut self) {
        self.finished = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.rec().cancelled += 1;
        }
    }
}

async fn speech(
    State(shared): State<Arc<Shared<Recorded>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let input = body["input"].as_str().unwrap_or_default().to_owned();
    {
        let mut rec = shared.rec();
        rec.speech.push(body);
        rec.speech_auth.push(header(&headers, "authorization"));
    }
    let script = shared.script();
    if let Some(Fault::Status(status)) = script.fault {
        return error(status);
    }
    let bytes = le_bytes(&tone(RATE, input.chars().count() * SAMPLES_PER_CHAR));
    let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK_BYTES).map(<[u8]>::to_vec).collect();
    let watch = Watch {
        shared: shared.clone(),
        finished: false,
    };
    let stream = futures::stream::unfold(
        (chunks.into_iter(), 0usize, watch, script),
        |(mut rest, sent, mut watch, script)| async move {
            pause(if sent == 0 {
                script.first_delay
            } else {
                script.chunk_delay
            })
            .await;
            let chunk = match rest.next() {
                Some(chunk) => chunk,
                None => {
                    watch.done();
                    return None;
                }
            };
            let item = match &script.fault {
                Some(Fault::DropAfter(n)) if sent >= *n => {
                    watch.done();
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut",
                    ))
                }
                Some(Fault::Silent) if sent >= 1 => {
                    tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    return None;
                }
                _ => {
                    watch.shared.rec().chunks_sent += 1;
                    Ok::<_, std::io::Error>(Bytes::from(chunk))
                }
            };
            Some((item, (rest, sent + 1, watch, script)))
        },
    );
    (
        [("content-type", "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}
