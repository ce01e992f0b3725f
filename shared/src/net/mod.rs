//! The one outbound HTTP client for user-configured destinations: tools, MCP servers,
//! knowledge `ingest-url` and webhooks (SPEC §6 "outbound requests obey the same SSRF rules
//! as ingest-url").
//!
//! What it guarantees, whatever the URL says:
//! - only `http` and `https`;
//! - every address a host name resolves to is checked *by the resolver reqwest connects
//!   through*, so the checked addresses are the connected ones (no re-resolution window);
//!   one non-public address refuses the request (see [`address`] for the ranges);
//! - literal addresses in any notation the URL parser accepts (`2130706433`, `0x7f000001`,
//!   `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]`) are checked before anything is sent;
//! - redirects are never followed by reqwest: [`GuardedClient::send`] follows at most
//!   [`MAX_REDIRECTS`] itself, re-checking each hop;
//! - no environment proxy is used (a proxy would resolve names where we cannot check them);
//! - one deadline for the whole exchange (at most [`MAX_TIMEOUT`]) and a cap on the body.

pub mod address;
mod guard;
#[cfg(test)]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect::Policy;
use reqwest::{StatusCode, Url};

pub use guard::{GuardConfig, HostResolver, SystemResolver};
pub use reqwest::Method;

use guard::{CheckingResolver, Guard};

/// The longest any outbound exchange may take, redirects and body included.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);
/// How many redirects [`GuardedClient::send`] follows before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// The body cap used when a request does not set one.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why an outbound request did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The URL cannot be parsed or has no host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// A header name or value cannot be sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The destination is not allowed (scheme, address or host name).
    #[error("blocked: {reason}")]
    Blocked {
        /// What rule refused it, naming the address or host.
        reason: String,
    },
    /// The deadline passed before the response was complete.
    #[error("the request timed out")]
    Timeout,
    /// The response body is larger than the cap.
    #[error("the response is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// More redirects than [`MAX_REDIRECTS`].
    #[error("more than {limit} redirects")]
    TooManyRedirects {
        /// The redirect limit.
        limit: usize,
    },
    /// The connection or the HTTP exchange failed (refused, reset, TLS, DNS …).
    #[error("request failed: {0}")]
    Http(String),
}

/// One request to a user-configured destination.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The HTTP method.
    pub method: Method,
    /// Where to send it (absolute `http`/`https` URL).
    pub url: String,
    /// Headers, in order; names are case-insensitive.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Bytes>,
    /// The deadline for the whole exchange; clamped to [`MAX_TIMEOUT`].
    pub timeout: Duration,
    /// The largest body accepted; a longer one is [`NetError::TooLarge`]
    /// unless [`Self::truncate_body`] is set.
    pub max_body_bytes: usize,
    /// Keep only the first `max_body_bytes` of the body and stop reading
    /// there, instead of failing: for callers that only log an excerpt
    /// (webhook deliveries), whose outcome is the status code.
    pub truncate_body: bool,
    /// Follow redirects (up to [`MAX_REDIRECTS`], each re-checked); when
    /// false a 3xx is the response (webhook deliveries: a redirected POST is
    /// not a delivery).
    pub follow_redirects: bool,
}

impl OutboundRequest {
    /// A request with no headers or body, a 10 s deadline and the default body cap.
    pub fn new(method: Method, url: impl Into<String>) -> OutboundRequest {
        OutboundRequest {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(10),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            truncate_body: false,
            follow_redirects: true,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the deadline (clamped to [`MAX_TIMEOUT`] when sent).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the body cap.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Returns a 3xx as the response instead of following it.
    pub fn without_redirects(mut self) -> Self {
        self.follow_redirects = false;
        self
    }

    /// Reads at most `limit` bytes of the response body and drops the rest
    /// (never [`NetError::TooLarge`]).
    pub fn body_excerpt(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self.truncate_body = true;
        self
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, as sent.
    pub content_type: Option<String>,
    /// Response headers whose values are text.
    pub headers: Vec<(String, String)>,
    /// The body, at most the request's cap.
    pub body: Bytes,
    /// The URL that answered (after redirects).
    pub url: String,
}

impl OutboundResponse {
    /// Whether the content type says JSON (`application/json`, `application/*+json`).
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The guarded outbound client. Cheap to clone; build one per process and share it.
#[derive(Clone)]
pub struct GuardedClient {
    guard: Arc<Guard>,
    http: reqwest::Client,
    streaming: reqwest::Client,
}

impl std::fmt::Debug for GuardedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedClient")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl GuardedClient {
    /// A client using the system resolver.
    pub fn new(config: &GuardConfig) -> Result<GuardedClient, NetError> {
        GuardedClient::with_resolver(config, Arc::new(SystemResolver))
    }

    /// A client resolving names through `resolver` (tests map names to local addresses).
    pub fn with_resolver(
        config: &GuardConfig,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<GuardedClient, NetError> {
        let guard = Arc::new(Guard::new(config)?);
        let build = |pool_idle: bool| {
            let mut builder = reqwest::Client::builder()
                .redirect(Policy::none())
                .no_proxy()
                .connect_timeout(Duration::from_secs(10))
                .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
                .dns_resolver(Arc::new(CheckingResolver {
                    guard: guard.clone(),
                    inner: resolver.clone(),
                }));
            if !pool_idle {
                builder = builder.pool_max_idle_per_host(0);
            }
            builder
                .build()
                .map_err(|e| NetError::Http(format!("cannot build the HTTP client: {e}")))
        };
        Ok(GuardedClient {
            http: build(true)?,
            // MCP's streamable HTTP transport: no idle pooling (rmcp's own default, it avoids
            // delayed-ACK stalls on half-read streams).
            streaming: build(false)?,
            guard,
        })
    }

    /// Checks a URL without sending anything (scheme, literal addresses, internal names);
    /// names are resolved and checked when a request is sent. For validating a tool's URL
    /// when it is saved.
    pub fn check_url(&self, url: &str) -> Result<Url, NetError> {
        let parsed = Url::parse(url).map_err(|e| NetError::InvalidUrl(e.to_string()))?;
        self.guard.check_url(&parsed)?;
        Ok(parsed)
    }

    /// The reqwest client behind the guard (resolver-checked, no redirects, no proxy), for
    /// transports that drive HTTP themselves (MCP). Callers must [`Self::check_url`] first.
    pub(crate) fn streaming_client(&self) -> reqwest::Client {
        self.streaming.clone()
    }

    /// The pooled reqwest client behind the guard (resolver-checked, no redirects, no
    /// proxy), for clients that stream a response themselves (language models). Callers
    /// must [`Self::check_url`] their base URL first: literal addresses are checked there.
    pub(crate) fn pooled_client(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// Sends `request`, following up to [`MAX_REDIRECTS`] redirects (each re-checked), and
    /// reads the body up to its cap, all within the request's deadline.
    pub async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, NetError> {
        let deadline = request.timeout.min(MAX_TIMEOUT);
        match tokio::time::timeout(deadline, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout),
        }
    }

    async fn exchange(&self, request: OutboundRequest) -> Result<OutboundResponse, NetError> {
        let mut url = self.check_url(&request.url)?;
        let mut method = request.method.clone();
        let mut body = request.body.clone();
        let mut headers = header_map(&request.headers)?;
        let mut redirects = 0;
        loop {
            let mut builder = self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(b) = &body {
                builder = builder.body(b.clone());
            }
            let response = builder.send().await.map_err(from_reqwest)?;
            let status = response.status();
            if status.is_redirection()
                && request.follow_redirects
                && let Some(location) = response.headers().get(reqwest::header::LOCATION)
            {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(NetError::TooManyRedirects {
                        limit: MAX_REDIRECTS,
                    });
                }
                let location = location
                    .to_str()
                    .map_err(|_| NetError::Http("a redirect Location is not text".into()))?;
                let next = url
                    .join(location)
                    .map_err(|e| NetError::InvalidUrl(format!("redirect to {location}: {e}")))?;
                self.guard.check_url(&next)?;
                if next.origin() != url.origin() {
                    for name in ["authorization", "cookie", "proxy-authorization"] {
                        headers.remove(name);
                    }
                }
                // 301/302/303 turn into a GET without a body (as browsers do); 307/308 keep both.
                if matches!(
                    status,
                    StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER
                ) && method != Method::HEAD
                {
                    method = Method::GET;
                    body = None;
                    headers.remove(reqwest::header::CONTENT_TYPE);
                    headers.remove(reqwest::header::CONTENT_LENGTH);
                }
                url = next;
                continue;
            }
            return read_response(response, request.max_body_bytes, request.truncate_body).await;
        }
    }
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, NetError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| NetError::InvalidRequest(format!("{name:?} is not a header name")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            NetError::InvalidRequest(format!("the value of header {name} cannot be sent"))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

async fn read_response(
    mut response: reqwest::Response,
    limit: usize,
    truncate: bool,
) -> Result<OutboundResponse, NetError> {
    if !truncate
        && response
            .content_length()
            .is_some_and(|len| len > limit as u64)
    {
        return Err(NetError::TooLarge { limit });
    }
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(from_reqwest)? {
        if body.len() + chunk.len() > limit {
            if truncate {
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
            }
            return Err(NetError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(OutboundResponse {
        status,
        content_type,
        headers,
        body: body.freeze(),
        url,
    })
}

/// Maps a reqwest error, recovering the guard's own refusal when the resolver raised it.
pub(crate) fn from_reqwest(e: reqwest::Error) -> NetError {
    if let Some(own) = find_net_error(&e) {
        return own;
    }
    if e.is_timeout() {
        return NetError::Timeout;
    }
    NetError::Http(error_chain(&e))
}

/// The guard's error somewhere in a source chain (the resolver's refusal travels up through
/// hyper and reqwest as a boxed source).
pub(crate) fn find_net_error(e: &(dyn StdError + 'static)) -> Option<NetError> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(own) = err.downcast_ref::<NetError>() {
            return Some(own.clone());
        }
        current = err.source();
    }
    None
}

/// "outer: inner: root cause", without repeating a message its source already says.
pub(crate) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}
