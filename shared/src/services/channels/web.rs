//! Web-channel sessions (SPEC §7): a page gets a relay WebSocket URL and a
//! short-lived signed token that the relay checks
//! ([`verify_web_session_token`]) before it lets the visitor talk to the
//! channel's agent.
//!
//! The token is a [`signed_token`] of kind `wst1` carrying
//! [`WebSessionClaims`]. It is stateless, so the relay needs no table read to
//! accept a visitor.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::super::caller::Caller;
use super::super::rate_limit::hit;
use super::super::signed_token::{self, Claims};
use super::super::table_keys::web_session_rate_pk;
use crate::App;
use crate::domain::channel::{Channel, ChannelType, parse_origin};
use crate::domain::{Mode, Tenant, rfc3339};
use crate::error::{Error, Result};

/// How long a session token stays valid: long enough to open the socket,
/// short enough that a leaked one is soon useless.
pub const TOKEN_TTL_SECONDS: i64 = 600;
/// Public sessions one client address may open on one channel per minute.
pub const PUBLIC_SESSIONS_PER_MINUTE: i64 = 30;

const TOKEN_PREFIX: &str = "wst1";

/// What a web-session token says; the relay trusts it once verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSessionClaims {
    /// The channel's org.
    pub org_id: String,
    /// The channel's partition (live or test).
    pub mode: Mode,
    /// The web channel.
    pub channel_id: String,
    /// This session (the `{session}` of `/ws/web/{session}`).
    pub session_id: String,
    /// The agent that answers (the channel's default agent), if set.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Whether an anonymous page opened it (public-session).
    pub public: bool,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl WebSessionClaims {
    /// The tenant the session acts in.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }
}

impl Claims for WebSessionClaims {
    const PREFIX: &'static str = TOKEN_PREFIX;
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Signs claims into a token.
pub fn sign_web_session_token(app: &App, claims: &WebSessionClaims) -> String {
    signed_token::sign(&app.signing_key, claims)
}

/// Checks a token's signature and expiry and returns its claims; anything
/// else is [`Error::Unauthorized`].
pub fn verify_web_session_token(app: &App, token: &str) -> Result<WebSessionClaims> {
    signed_token::verify(&app.signing_key, token, app.now().timestamp()).ok_or_else(|| {
        Error::Unauthorized("the web session token is invalid or has expired".into())
    })
}

fn issue(app: &App, tenant: &Tenant, channel: &Channel, public: bool) -> Value {
    let session_id = app.new_id();
    let exp = app.now().timestamp() + TOKEN_TTL_SECONDS;
    let claims = WebSessionClaims {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        channel_id: channel.id.clone(),
        session_id: session_id.clone(),
        agent_id: channel.default_agent_id.clone(),
        public,
        exp,
    };
    let expires_at = chrono::DateTime::from_timestamp(exp, 0)
        .map(rfc3339)
        .unwrap_or_default();
    json!({
        "session_id": session_id,
        "websocket_url": format!("{}/ws/web/{session_id}", app.config.relay_url),
        "token": sign_web_session_token(app, &claims),
        "expires_at": expires_at,
    })
}

/// "No such channel" reads as "no such web channel"; store failures stay.
fn as_web(e: Error) -> Error {
    match e {
        Error::NotFound(_) => Error::NotFound("web channel"),
        other => other,
    }
}

fn web_channel(channel: Channel) -> Result<Channel> {
    if channel.kind == ChannelType::Web {
        Ok(channel)
    } else {
        Err(Error::NotFound("web channel"))
    }
}

/// `POST /channels/web/{id}/session`: a session for a signed-in caller (the
/// dashboard's preview, a server that embeds the widget for its users).
pub async fn session(app: &App, caller: &Caller, channel_id: &str) -> Result<Value> {
    let (channel, _) = super::load(app, &caller.tenant, channel_id)
        .await
        .map_err(as_web)?;
    let channel = web_channel(channel)?;
    Ok(issue(app, &caller.tenant, &channel, false))
}

/// A page asking for a public session: where it says it is, and where it
/// comes from.
#[derive(Debug, Clone, Default)]
pub struct PublicRequest<'a> {
    /// The `Origin` header, if sent.
    pub origin: Option<&'a str>,
    /// The client's address (API Gateway's source IP, the socket's peer
    /// locally); requests with none share one bucket.
    pub client_address: Option<&'a str>,
}

/// What a public session answers: the body and the origin to allow (for the
/// `Access-Control-Allow-Origin` header).
#[derive(Debug, Clone)]
pub struct PublicSession {
    /// `{session_id, websocket_url, token, expires_at}`.
    pub body: Value,
    /// The page's normalised origin.
    pub origin: String,
}

/// `POST /channels/web/{id}/public-session` (no credentials): the channel
/// must be a public web channel (else 404, so private channels do not
/// reveal themselves), the page's `Origin` one of its `allowed_origins`
/// (else 403), and the client address under
/// [`PUBLIC_SESSIONS_PER_MINUTE`] for this channel (else 429).
pub async fn public_session(
    app: &App,
    channel_id: &str,
    req: PublicRequest<'_>,
) -> Result<PublicSession> {
    let (tenant, channel) = super::locate(app, channel_id).await.map_err(as_web)?;
    let channel = web_channel(channel)?;
    let config = channel.web_config().unwrap_or_default();
    if !config.public {
        return Err(Error::NotFound("web channel"));
    }
    // Counted before the origin check, so probing origins costs the same.
    let pk = web_session_rate_pk(&channel.id, req.client_address.unwrap_or("unknown"));
    let now = app.now().timestamp();
    if let Some(retry) = hit(&*app.table, &pk, 60, PUBLIC_SESSIONS_PER_MINUTE, now).await? {
        return Err(Error::RateLimited(retry));
    }
    let origin = req
        .origin
        .and_then(|o| parse_origin(o).ok())
        .ok_or_else(|| {
            Error::Forbidden("a public session needs the page's Origin header".into())
        })?;
    if !config.allowed_origins.contains(&origin) {
        return Err(Error::Forbidden(format!(
            "origin {origin} is not allowed on this web channel"
        )));
    }
    Ok(PublicSession {
        body: issue(app, &tenant, &channel, true),
        origin,
    })
}

/// Whether `origin` may open public sessions on a channel (answers CORS
/// preflights without counting against the rate limit).
pub async fn public_origin_allowed(app: &App, channel_id: &str, origin: &str) -> Result<bool> {
    let channel = match super::locate(app, channel_id).await {
        Ok((_, channel)) => channel,
        Err(Error::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let Some(config) = channel.web_config() else {
        return Ok(false);
    };
    Ok(config.public && parse_origin(origin).is_ok_and(|o| config.allowed_origins.contains(&o)))
}
