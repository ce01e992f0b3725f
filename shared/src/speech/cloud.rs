//! What the cloud speech clients share: their key (never printed), reading a
//! provider's refusal into a [`SpeechError`], a WebSocket connection with a
//! bounded handshake, and PCM16 little-endian bytes to samples.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::SpeechError;

/// A provider's API key. Its `Debug` says only that there is one, so a client,
/// a log line or an error can never print it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps `key`.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How long a cloud client waits for the provider before calling it unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS + the HTTP or WebSocket handshake.
    pub connect: Duration,
    /// The provider's next reply once it owes one (a final transcript after
    /// `Finalize`, the next audio chunk of a sentence, a transcription).
    pub reply: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            reply: Duration::from_secs(15),
        }
    }
}

/// A client-side WebSocket to a provider.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The error a provider's HTTP status means; `detail` is the start of its
/// reply (providers say there which field or voice was wrong).
pub(crate) fn status_error(provider: &str, status: u16, detail: &str) -> SpeechError {
    let detail: String = detail.trim().chars().take(300).collect();
    let said = if detail.is_empty() {
        format!("{provider} answered HTTP {status}")
    } else {
        format!("{provider} answered HTTP {status}: {detail}")
    };
    match status {
        401 | 403 => SpeechError::Auth(said),
        429 => SpeechError::RateLimited,
        400..=499 => SpeechError::BadRequest(said),
        _ => SpeechError::Unavailable(said),
    }
}

/// The error a failed request means (no HTTP status: connect, timeout, reset).
pub(crate) fn transport_error(provider: &str, error: &reqwest::Error) -> SpeechError {
    if error.is_timeout() {
        SpeechError::Unavailable(format!("{provider} did not answer in time"))
    } else {
        // reqwest's message names the URL (never the key, which is in a header).
        SpeechError::Unavailable(format!("{provider}: {error}"))
    }
}

/// Opens a WebSocket to `url` with `headers` (the key goes in one), within
/// `timeout`. A refused handshake maps like an HTTP reply.
pub(crate) async fn connect(
    provider: &str,
    url: &str,
    headers: &[(&'static str, &str)],
    timeout: Duration,
) -> Result<Socket, SpeechError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| SpeechError::BadRequest(format!("{provider} URL {url:?}: {e}")))?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value).map_err(|_| {
            SpeechError::Auth(format!(
                "the {provider} key has characters a header cannot carry"
            ))
        })?;
        request.headers_mut().insert(*name, value);
    }
    // Nagle off: a session writes small messages back to back (ElevenLabs'
    // settings then the first sentence; Deepgram's last audio then
    // `Finalize`), and with it on the second waits for the provider's
    // delayed ACK of the first, ~40 ms added to every turn. A 16 KiB read
    // buffer, not tungstenite's 128 KiB: it is zero-filled to its size before
    // every read, per socket, per call (the relay's sockets: `READ_BUFFER`).
    let config = tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024);
    let handshake = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => Err(SpeechError::Unavailable(format!(
            "{provider} did not accept the connection within {} ms",
            timeout.as_millis()
        ))),
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Err(status_error(provider, response.status().as_u16(), &body))
        }
        Ok(Err(e)) => Err(SpeechError::Unavailable(format!("{provider}: {e}"))),
    }
}

/// `base` (no trailing slash) with `path`, `http(s)` turned into `ws(s)`.
pub(crate) fn ws_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    format!("{base}{path}")
}

/// Samples from PCM16 little-endian bytes. A chunk may end in the middle of a
/// sample: its first byte waits in `carry` for the next chunk.
pub(crate) fn samples_le(carry: &mut Option<u8>, bytes: &[u8]) -> Vec<i16> {
    let mut out = Vec::with_capacity(bytes.len() / 2 + 1);
    let mut rest = bytes;
    if let Some(low) = carry.take() {
        match rest.split_first() {
            Some((high, tail)) => {
                out.push(i16::from_le_bytes([low, *high]));
                rest = tail;
            }
            None => {
                *carry = Some(low);
                return out;
            }
        }
    }
    let mut pairs = rest.chunks_exact(2);
    out.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
    *carry = pairs.remainder().first().copied();
    out
}

/// Samples as PCM16 little-endian bytes.
pub(crate) fn bytes_le(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// The language part of a BCP 47 tag (`en-US` → `en`), what OpenAI wants.
pub(crate) fn primary_language(tag: &str) -> &str {
    tag.split(['-', '_']).next().unwrap_or(tag).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_survive_any_chunking() {
        let samples: Vec<i16> = (0..101).map(|i| (i * 317 - 15_000) as i16).collect();
        let bytes = bytes_le(&samples);
        for size in [1, 2, 3, 7, 64, 1000] {
            let mut carry = None;
            let got: Vec<i16> = bytes
                .chunks(size)
                .flat_map(|c| samples_le(&mut carry, c))
                .collect();
            assert_eq!(got, samples, "chunks of {size}");
            assert_eq!(carry, None);
        }
    }

    #[test]
    fn statuses_map_to_their_error() {
        assert!(matches!(status_error("x", 401, ""), SpeechError::Auth(_)));
        assert!(matches!(status_error("x", 403, ""), SpeechError::Auth(_)));
        assert_eq!(status_error("x", 429, ""), SpeechError::RateLimited);
        assert!(
            matches!(status_error("x", 422, "bad voice"), SpeechError::BadRequest(m) if m.contains("bad voice"))
        );
        assert!(matches!(
            status_error("x", 503, ""),
            SpeechError::Unavailable(_)
        ));
    }

    #[test]
    fn keys_never_print() {
        let key = ApiKey::new("sk-secret-123");
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn urls_and_languages() {
        assert_eq!(
            ws_url("https://api.x.com/", "/v1/a"),
            "wss://api.x.com/v1/a"
        );
        assert_eq!(
            ws_url("http://127.0.0.1:9", "/v1/a"),
            "ws://127.0.0.1:9/v1/a"
        );
        assert_eq!(primary_language("en-US"), "en");
        assert_eq!(primary_language("fr"), "fr");
    }
}
