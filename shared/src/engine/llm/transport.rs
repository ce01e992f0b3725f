//! What every provider client shares: opening a streaming request with timeouts and a
//! bounded retry policy, turning HTTP failures into [`LlmError`]s (with the provider's
//! message, never our key), and driving a protocol decoder over the body with a
//! first-byte and an idle deadline.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::Instant;

use super::{ChatEvent, ChatStream, LlmError};

/// How long a client waits. The connect timeout is the HTTP client's own (10 s for the
/// guarded client every tenant model uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From sending the request to the first byte of the reply body (headers included):
    /// a model that has not started answering by then is treated as down.
    pub first_byte: Duration,
    /// The longest silence between two chunks of a reply once it has started.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            first_byte: Duration::from_secs(20),
            idle: Duration::from_secs(15),
        }
    }
}

/// Retries of a request that failed before its reply started (429, 5xx, a refused
/// connection). Nothing is retried once a reply streams: the caller has heard part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The wait before the first retry when the provider names none; doubled each time.
    pub base_delay: Duration,
    /// The longest wait: a provider asking for more (`retry-after`) gets
    /// [`LlmError::RateLimited`] at once, so the engine can fall back instead of stalling.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// The timeouts and retry policy of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transport {
    /// Deadlines.
    pub timeouts: Timeouts,
    /// Retries before the first byte.
    pub retry: RetryPolicy,
}

/// An API key, never shown by `Debug`.
#[derive(Clone, Default)]
pub(crate) struct ApiKey(pub(crate) String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "none"
        } else {
            "[redacted]"
        })
    }
}

/// How much of an error body is read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How much of the provider's message an error keeps.
const MAX_MESSAGE_CHARS: usize = 300;

/// Sends `request` (retrying per `transport.retry`) and returns the response once its
/// status is a success. `secret` is scrubbed from any message.
pub(crate) async fn open(
    client: &reqwest::Client,
    request: reqwest::Request,
    transport: &Transport,
    secret: &str,
) -> Result<(reqwest::Response, Instant), LlmError> {
    let mut attempt = 0;
    loop {
        let started = Instant::now();
        let deadline = started + transport.timeouts.first_byte;
        let this = request
            .try_clone()
            .ok_or_else(|| LlmError::BadRequest("the request body cannot be resent".into()))?;
        let (error, wait) = match tokio::time::timeout_at(deadline, client.execute(this)).await {
            Err(_) => {
                return Err(LlmError::Unavailable(format!(
                    "no reply within {} s",
                    transport.timeouts.first_byte.as_secs_f32()
                )));
            }
            Ok(Err(e)) => {
                // Only a connection that never opened (and was not refused by the outbound
                // rules) is safe to retry: nothing reached the provider.
                let retry = e.is_connect() && crate::net::find_net_error(&e).is_none();
                (transport_error(e), retry.then_some(None))
            }
            Ok(Ok(response)) if response.status().is_success() => return Ok((response, deadline)),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(response.headers());
                let message = error_message(response, deadline, secret).await;
                match status {
                    429 => (LlmError::RateLimited { retry_after }, Some(retry_after)),
                    500..=599 => (
                        LlmError::Unavailable(format!("HTTP {status}: {message}")),
                        Some(retry_after),
                    ),
                    401 | 403 => return Err(LlmError::Auth(format!("HTTP {status}: {message}"))),
                    _ => return Err(LlmError::BadRequest(format!("HTTP {status}: {message}"))),
                }
            }
        };
        let Some(asked) = wait else {
            return Err(error);
        };
        if attempt >= transport.retry.max_retries {
            return Err(error);
        }
        let backoff = transport.retry.base_delay * 2u32.saturating_pow(attempt);
        let delay = asked.unwrap_or(backoff);
        if delay > transport.retry.max_delay {
            return Err(error);
        }
        tracing::debug!(%error, attempt, delay_ms = delay.as_millis() as u64, "model request retried");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// A transport failure without the URL (which may carry a key for some providers).
pub(crate) fn transport_error(e: reqwest::Error) -> LlmError {
    if let Some(net) = crate::net::find_net_error(&e) {
        return match net {
            crate::net::NetError::Blocked { .. } | crate::net::NetError::InvalidUrl(_) => {
                LlmError::BadRequest(net.to_string())
            }
            other => LlmError::Unavailable(other.to_string()),
        };
    }
    let connect = e.is_connect();
    let e = e.without_url();
    let chain = crate::net::error_chain(&e);
    if connect {
        LlmError::Unavailable(format!("cannot connect: {chain}"))
    } else if e.is_timeout() {
        LlmError::Unavailable("the request timed out".into())
    } else {
        LlmError::Unavailable(chain)
    }
}

/// `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds();
    Some(Duration::from_millis(secs.max(0) as u64))
}

/// The provider's error message from a failed response (its JSON `error.message` or
/// `message`, else the start of the body), shortened and with `secret` and anything that
/// looks like a key removed.
async fn error_message(mut response: reqwest::Response, deadline: Instant, secret: &str) -> String {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY {
                break;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, read).await;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]).into_owned();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| json_message(&v))
        .unwrap_or(text);
    let message = redact(message.trim(), secret);
    if message.is_empty() {
        return "no message".into();
    }
    shorten(&message)
}

/// `error.message`, `message` or `[{error: {message}}]` (Gemini) of an error body.
pub(crate) fn json_message(v: &serde_json::Value) -> Option<String> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    let found = v
        .pointer("/error/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.get("Message"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))?;
    found.as_str().map(str::to_owned)
}

fn shorten(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

/// Removes `secret` and every word that looks like a provider key (`sk-…`, `AIza…`),
/// even one the provider masked partly.
pub(crate) fn redact(message: &str, secret: &str) -> String {
    let message = if secret.len() >= 4 {
        message.replace(secret, "[redacted]")
    } else {
        message.to_owned()
    };
    message
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if ["sk-", "sk_", "AIza", "gsk_", "xai-"]
                .iter()
                .any(|p| bare.starts_with(p))
            {
                "[redacted]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A wire protocol's decoder: bytes in, [`ChatEvent`]s out.
pub(crate) trait Decoder: Send + 'static {
    /// Decodes the next bytes of the body, pushing the events they complete.
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError>;

    /// The body ended: push what remains (a final [`ChatEvent::Done`] when the protocol
    /// allows ending there); pushing no `Done` makes the stream report a cut-off reply.
    fn finish(&mut self, out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError>;
}

struct Reading<D> {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    decoder: D,
    queue: VecDeque<ChatEvent>,
    /// Until the first chunk: the first-byte deadline; then none.
    first_deadline: Option<Instant>,
    idle: Duration,
    body_ended: bool,
    finished: bool,
}

/// Streams the events `decoder` reads from `response`'s body: the first chunk must come
/// by `first_deadline`, each next one within `timeouts.idle`. The stream ends after
/// [`ChatEvent::Done`] or the first error.
pub(crate) fn event_stream<D: Decoder>(
    response: reqwest::Response,
    decoder: D,
    first_deadline: Instant,
    timeouts: &Timeouts,
) -> ChatStream {
    let state = Reading {
        body: response.bytes_stream().boxed(),
        decoder,
        queue: VecDeque::new(),
        first_deadline: Some(first_deadline),
        idle: timeouts.idle,
        body_ended: false,
        finished: false,
    };
    Box::pin(futures::stream::unfold(state, |mut s| async move {
        loop {
            if s.finished {
                return None;
            }
            if let Some(event) = s.queue.pop_front() {
                if matches!(event, ChatEvent::Done(_)) {
                    s.finished = true;
                }
                return Some((Ok(event), s));
            }
            if s.body_ended {
                s.finished = true;
                return Some((
                    Err(LlmError::Unavailable(
                        "the reply stream stopped early".into(),
                    )),
                    s,
                ));
            }
            let (next, limit) = match s.first_deadline.take() {
                Some(deadline) => (
                    tokio::time::timeout_at(deadline, s.body.next()).await,
                    "no reply started in time",
                ),
                None => (
                    tokio::time::timeout(s.idle, s.body.next()).await,
                    "the reply stalled",
                ),
            };
            let step = match next {
                Err(_) => Err(LlmError::Unavailable(limit.into())),
                Ok(Some(Err(e))) => Err(LlmError::Unavailable(format!(
                    "the reply stream broke: {}",
                    crate::net::error_chain(&e.without_url())
                ))),
                Ok(Some(Ok(bytes))) => s.decoder.feed(&bytes, &mut s.queue),
                Ok(None) => {
                    s.body_ended = true;
                    s.decoder.finish(&mut s.queue)
                }
            };
            if let Err(e) = step {
                s.finished = true;
                return Some((Err(e), s));
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_survive_in_messages() {
        let secret = "sk-proj-abcdef1234567890";
        let m = redact(
            "Incorrect API key provided: sk-proj-****7890. Also sk-proj-abcdef1234567890 here",
            secret,
        );
        assert!(!m.contains("abcdef"), "{m}");
        assert!(!m.contains("sk-proj"), "{m}");
        assert!(m.starts_with("Incorrect API key provided:"));
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn error_bodies_of_each_provider_give_their_message() {
        let openai =
            serde_json::json!({"error": {"message": "bad model", "type": "invalid_request_error"}});
        let gemini = serde_json::json!([{"error": {"message": "quota"}}]);
        let bedrock = serde_json::json!({"message": "not authorized"});
        assert_eq!(json_message(&openai).as_deref(), Some("bad model"));
        assert_eq!(json_message(&gemini).as_deref(), Some("quota"));
        assert_eq!(json_message(&bedrock).as_deref(), Some("not authorized"));
    }
}
