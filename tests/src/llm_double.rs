//! A language-model provider double on 127.0.0.1 that speaks the three public streaming
//! protocols the engine's clients use, scripted per request:
//! - OpenAI Chat Completions: `POST /v1/chat/completions` (server-sent `chat.completion.chunk`s,
//!   `data: [DONE]`, tool calls as `tool_calls` deltas by `index`, usage last);
//! - Anthropic Messages: `POST /v1/messages` (`message_start` … `message_stop`, `ping`,
//!   `text_delta` / `input_json_delta`);
//! - Bedrock ConverseStream: `POST /model/{id}/converse-stream` (AWS event-stream frames
//!   written with `aws-smithy-eventstream`).
//!
//! Each request takes the next [`Script`] (or the standing one set by
//! [`LlmDouble::always`]) and is recorded (headers and JSON body) for assertions.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use serde_json::{Value, json};

/// What the model answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Text, one piece per chunk.
    Text(Vec<String>),
    /// A call of tool `name` whose JSON arguments arrive in `pieces` (one per chunk).
    ToolCall {
        /// The call's id.
        id: String,
        /// The tool.
        name: String,
        /// The argument text, split.
        pieces: Vec<String>,
    },
    /// A structured reply: text for OpenAI, the forced `respond` tool for the others.
    Json(Value),
    /// Text pieces, then the connection is cut before the reply ends.
    DropAfter(Vec<String>),
    /// One text piece, then a chunk that cannot be read.
    Malformed,
    /// An HTTP error before any stream, with the provider's error body.
    Status {
        /// HTTP status.
        status: u16,
        /// The `retry-after` header, if any.
        retry_after: Option<String>,
        /// The provider's message.
        message: String,
    },
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Script {
    /// The answer.
    pub reply: Reply,
    /// Before the first chunk of the body (the headers go at once).
    pub first_token_delay: Duration,
    /// Between chunks.
    pub chunk_delay: Duration,
}

impl Script {
    /// `reply` at once.
    pub fn new(reply: Reply) -> Script {
        Script {
            reply,
            first_token_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
        }
    }

    /// The same, its first chunk `delay` late.
    pub fn first_token_after(mut self, delay: Duration) -> Script {
        self.first_token_delay = delay;
        self
    }

    /// Text in these pieces.
    pub fn text(pieces: &[&str]) -> Script {
        Script::new(Reply::Text(pieces.iter().map(|s| s.to_string()).collect()))
    }

    /// A call of `name`, its arguments' JSON text split in `pieces`.
    pub fn tool_call(id: &str, name: &str, pieces: &[&str]) -> Script {
        Script::new(Reply::ToolCall {
            id: id.into(),
            name: name.into(),
            pieces: pieces.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// An HTTP error.
    pub fn status(status: u16, retry_after: Option<&str>, message: &str) -> Script {
        Script::new(Reply::Status {
            status,
            retry_after: retry_after.map(str::to_owned),
            message: message.into(),
        })
    }
}

/// A request the double received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path.
    pub path: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
    /// When it arrived (whole: headers and body read).
    pub at: std::time::Instant,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Inner {
    scripts: VecDeque<Script>,
    standing: Option<Script>,
    received: Vec<Received>,
}

/// A running double.
#[derive(Clone)]
pub struct LlmDouble {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl LlmDouble {
    /// Starts a double on a free port.
    pub async fn start() -> LlmDouble {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/model/{id}/converse-stream", post(bedrock))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        // Nagle off, as providers' servers have it (streamed chunks go at once).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LlmDouble {
            base: format!("http://{addr}"),
            inner,
        }
    }

    /// A handle naming `base` with no double behind it (an unreachable provider).
    pub fn at(base: &str) -> LlmDouble {
        LlmDouble {
            base: base.to_owned(),
            inner: Arc::default(),
        }
    }

    /// Queues answers for the next requests, in order.
    pub fn script(&self, scripts: impl IntoIterator<Item = Script>) {
        self.lock().scripts.extend(scripts);
    }

    /// The answer to every request once the queue is empty.
    pub fn always(&self, script: Script) {
        self.lock().standing = Some(script);
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Records the request and takes its script.
fn take(inner: &Mutex<Inner>, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Script {
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    inner.received.push(Received {
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        at: std::time::Instant::now(),
    });
    inner
        .scripts
        .pop_front()
        .or_else(|| inner.standing.clone())
        .unwrap_or_else(|| Script::text(&["Hello", " there."]))
}

/// A body that sends `chunks` as scripted; `None` cuts the connection there.
fn streamed(script: &Script, chunks: Vec<Option<Vec<u8>>>, content_type: &str) -> Response {
    let (first, between) = (script.first_token_delay, script.chunk_delay);
    let stream = futures::stream::unfold(
        (chunks.into_iter(), true),
        move |(mut rest, first_one)| async move {
            let next = rest.next()?;
            let wait = if first_one { first } else { between };
            // A zero sleep still waits for the timer wheel's next tick (~1 ms): skip it.
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let item = match next {
                Some(bytes) => Ok::<_, std::io::Error>(Bytes::from(bytes)),
                None => {
                    // Let the chunks before the cut reach the client (an error drops what
                    // the server has not flushed yet), then cut.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut",
                    ))
                }
            };
            Some((item, (rest, false)))
        },
    );
    (
        [("content-type", content_type.to_owned())],
        Body::from_stream(stream),
    )
        .into_response()
}

fn error_response(status: u16, retry_after: &Option<String>, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(v) = retry_after.as_deref().and_then(|v| v.parse().ok()) {
        response.headers_mut().insert("retry-after", v);
    }
    response
}

/// A JSON value's text, cut in two (on a character boundary).
fn halves(value: &Value) -> [String; 2] {
    let s = value.to_string();
    let mut at = s.len() / 2;
    while !s.is_char_boundary(at) {
        at += 1;
    }
    [s[..at].to_owned(), s[at..].to_owned()]
}

fn sse(data: Value) -> Option<Vec<u8>> {
    Some(format!("data: {data}\n\n").into_bytes())
}

async fn openai(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let script = take(&inner, &uri, &headers, &body);
    let chunk = |delta: Value, finish: Option<&str>| {
        sse(
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "double",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}),
        )
    };
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    let text = |chunks: &mut Vec<Option<Vec<u8>>>, pieces: &[String]| {
        chunks.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
    };
    let end = |chunks: &mut Vec<Option<Vec<u8>>>, finish: &str| {
        chunks.push(chunk(json!({}), Some(finish)));
        chunks.push(sse(json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
                                "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})));
        chunks.push(Some(b"data: [DONE]\n\n".to_vec()));
    };
    match &script.reply {
        Reply::Status {
            status,
            retry_after,
            message,
        } => {
            return error_response(
                *status,
                retry_after,
                json!({"error": {"message": message, "type": "error", "code": null}}),
            );
        }
        Reply::Text(pieces) => {
            text(&mut chunks, pieces);
            end(&mut chunks, "stop");
        }
        Reply::Json(value) => {
            let [a, b] = halves(value);
            text(&mut chunks, &[a, b]);
            end(&mut chunks, "stop");
        }
        Reply::ToolCall { id, name, pieces } => {
            chunks.push(chunk(json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
                                                       "function": {"name": name, "arguments": ""}}]}), None));
            chunks.extend(pieces.iter().map(|p| {
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
                    None,
                )
            }));
            end(&mut chunks, "tool_calls");
        }
        Reply::DropAfter(pieces) => {
            text(&mut chunks, pieces);
            chunks.push(None);
        }
        Reply::Malformed => {
            text(&mut chunks, &["Hi".to_owned()]);
            chunks.push(Some(
                b"data: {\"choices\": [{\"delta\": {\"content\": \"x\"\n\n".to_vec(),
            ));
            end(&mut chunks, "stop");
        }
    }
    streamed(&script, chunks, "text/event-stream")
}

fn anthropic_event(data: Value) -> Option<Vec<u8>> {
    let kind = data["type"].as_str().unwrap_or("unknown").to_owned();
    Some(format!("event: {kind}\ndata: {data}\n\n").into_bytes())
}

async fn anthropic(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let script = take(&inner, &uri, &headers, &body);
    let e = anthropic_event;
    let mut chunks = vec![
        e(
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                 "content": [], "model": "double", "stop_reason": null, "usage": {"input_tokens": 11, "output_tokens": 1}}}),
        ),
        e(json!({"type": "ping"})),
    ];
    let text = |chunks: &mut Vec<Option<Vec<u8>>>, pieces: &[String]| {
        chunks.push(e(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
        chunks.extend(pieces.iter().map(|p| {
            e(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}))
        }));
        chunks.push(e(json!({"type": "content_block_stop", "index": 0})));
    };
    let tool = |chunks: &mut Vec<Option<Vec<u8>>>, id: &str, name: &str, pieces: &[String]| {
        chunks.push(e(json!({"type": "content_block_start", "index": 1,
                              "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
        chunks.extend(pieces.iter().map(|p| {
            e(json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": p}}))
        }));
        chunks.push(e(json!({"type": "content_block_stop", "index": 1})));
    };
    let end = |chunks: &mut Vec<Option<Vec<u8>>>, stop: &str| {
        chunks.push(e(
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                              "usage": {"output_tokens": 7}}),
        ));
        chunks.push(e(json!({"type": "message_stop"})));
    };
    match &script.reply {
        Reply::Status {
            status,
            retry_after,
            message,
        } => {
            let kind = match status {
                429 => "rate_limit_error",
                401 => "authentication_error",
                400 => "invalid_request_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            return error_response(
                *status,
                retry_after,
                json!({"type": "error", "error": {"type": kind, "message": message}}),
            );
        }
        Reply::Text(pieces) => {
            text(&mut chunks, pieces);
            end(&mut chunks, "end_turn");
        }
        Reply::ToolCall { id, name, pieces } => {
            tool(&mut chunks, id, name, pieces);
            end(&mut chunks, "tool_use");
        }
        Reply::Json(value) => {
            let [a, b] = halves(value);
            tool(&mut chunks, "toolu_r", "respond", &[a, b]);
            end(&mut chunks, "tool_use");
        }
        Reply::DropAfter(pieces) => {
            text(&mut chunks, pieces);
            chunks.push(None);
        }
        Reply::Malformed => {
            text(&mut chunks, &["Hi".to_owned()]);
            chunks.push(Some(
                b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"ind\n\n"
                    .to_vec(),
            ));
            end(&mut chunks, "end_turn");
        }
    }
    streamed(&script, chunks, "text/event-stream")
}

fn frame(event_type: &str, payload: Value) -> Option<Vec<u8>> {
    let message = Message::new(payload.to_string().into_bytes())
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ))
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(event_type.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    write_message_to(&message, &mut out).ok()?;
    Some(out)
}

async fn bedrock(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let script = take(&inner, &uri, &headers, &body);
    let mut chunks = vec![frame("messageStart", json!({"role": "assistant"}))];
    let text = |chunks: &mut Vec<Option<Vec<u8>>>, pieces: &[String]| {
        chunks.extend(pieces.iter().map(|p| {
            frame(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": p}}),
            )
        }));
        chunks.push(frame("contentBlockStop", json!({"contentBlockIndex": 0})));
    };
    let tool = |chunks: &mut Vec<Option<Vec<u8>>>, id: &str, name: &str, pieces: &[String]| {
        chunks.push(frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
        ));
        chunks.extend(pieces.iter().map(|p| {
            frame(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": p}}}),
            )
        }));
        chunks.push(frame("contentBlockStop", json!({"contentBlockIndex": 1})));
    };
    let end = |chunks: &mut Vec<Option<Vec<u8>>>, stop: &str| {
        chunks.push(frame("messageStop", json!({"stopReason": stop})));
        chunks.push(frame(
            "metadata",
            json!({"usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
                                              "metrics": {"latencyMs": 5}}),
        ));
    };
    match &script.reply {
        Reply::Status {
            status,
            retry_after,
            message,
        } => {
            let mut response = error_response(*status, retry_after, json!({"message": message}));
            let kind = match status {
                429 => "ThrottlingException",
                403 => "AccessDeniedException",
                400 => "ValidationException",
                _ => "InternalServerException",
            };
            if let Ok(v) = kind.parse() {
                response.headers_mut().insert("x-amzn-errortype", v);
            }
            return response;
        }
        Reply::Text(pieces) => {
            text(&mut chunks, pieces);
            end(&mut chunks, "end_turn");
        }
        Reply::ToolCall { id, name, pieces } => {
            tool(&mut chunks, id, name, pieces);
            end(&mut chunks, "tool_use");
        }
        Reply::Json(value) => {
            let [a, b] = halves(value);
            tool(&mut chunks, "tu_r", "respond", &[a, b]);
            end(&mut chunks, "tool_use");
        }
        Reply::DropAfter(pieces) => {
            text(&mut chunks, pieces);
            chunks.push(None);
        }
        Reply::Malformed => {
            text(&mut chunks, &["Hi".to_owned()]);
            let mut bad = frame(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
            )
            .unwrap_or_default();
            if let Some(last) = bad.last_mut() {
                *last ^= 0xff; // the message CRC no longer matches
            }
            chunks.push(Some(bad));
            end(&mut chunks, "end_turn");
        }
    }
    streamed(&script, chunks, "application/vnd.amazon.eventstream")
}
