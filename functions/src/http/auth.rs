//! Authentication (API key or session cookie), the per-key rate limit and the
//! test-mode switch, in one middleware in front of every protected route.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use switchboard::domain::Mode;
use switchboard::services::api_keys::{self, RateState};
use switchboard::services::{auth_limits, identity};
use switchboard::{App, Error};

use super::csrf;
use super::extract::ClientAddress;
use super::response::ApiError;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sb_session";

/// The `sb_session` cookie's value, if sent.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The `mode` query parameter (given twice, a 400: never a guess between
/// the live and test partitions).
pub fn mode_of(req: &Request) -> Result<Mode, Error> {
    match super::extract::query_map(req.uri())?.get("mode") {
        Some(v) => Mode::parse(v).ok_or_else(|| Error::field("mode", "must be live or test")),
        None => Ok(Mode::Live),
    }
}

fn rate_headers(headers: &mut HeaderMap, rate: &RateState) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(rate.reset));
}

/// Middleware: resolves the caller or answers 401/404/429.
pub async fn authenticate(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let mode = match mode_of(&req) {
        Ok(m) => m,
        Err(e) => return ApiError(e).into_response(),
    };
    let mut rate = None;
    let caller = if let Some(secret) = bearer(req.headers()) {
        match api_keys::authenticate(&app, secret, mode).await {
            Ok(Some((caller, state))) => {
                rate = Some(state);
                caller
            }
            Ok(None) => {
                return ApiError(Error::Unauthorized("invalid or revoked API key".into()))
                    .into_response();
            }
            Err(e) => return ApiError(e).into_response(),
        }
    } else if let Some(token) = session_token(req.headers()) {
        if let Err(e) = csrf::check(req.method(), req.headers(), &app.config.public_url) {
            return ApiError(e).into_response();
        }
        let org = req
            .headers()
            .get("x-organization-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match identity::authenticate_session(&app, token, org.as_deref(), mode).await {
            Ok(Some(caller)) => caller,
            Ok(None) => {
                return ApiError(Error::Unauthorized(
                    "the session has expired or is invalid; sign in again".into(),
                ))
                .into_response();
            }
            Err(e) => return ApiError(e).into_response(),
        }
    } else {
        return ApiError(Error::Unauthorized(
            "missing credentials: send `Authorization: Bearer <API key>` or sign in".into(),
        ))
        .into_response();
    };
    if let Some(state) = rate.filter(|r| !r.allowed) {
        let retry = (state.reset - chrono::Utc::now().timestamp()).max(1) as u64;
        let mut resp = ApiError(Error::RateLimited(retry)).into_response();
        rate_headers(resp.headers_mut(), &state);
        return resp;
    }
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    if let Some(state) = rate {
        rate_headers(resp.headers_mut(), &state);
    }
    resp
}

/// Middleware for the public auth routes (signup, login, accept-invite):
/// counts the attempt against the client address's budget for that route
/// (429 with `Retry-After` past it), in the table so that it holds across
/// instances.
pub async fn throttle_by_address(
    State(app): State<Arc<App>>,
    ClientAddress(address): ClientAddress,
    req: Request,
    next: Next,
) -> Response {
    let route = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
    if let Err(e) = auth_limits::check_address(&app, &route, address.as_deref()).await {
        return ApiError(e).into_response();
    }
    next.run(req).await
}

/// Adds the session cookie for a new session.
pub fn set_session_cookie(resp: &mut Response, token: &str, max_age: i64, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Clears the session cookie.
pub fn clear_session_cookie(resp: &mut Response, secure: bool) {
    set_session_cookie(resp, "", 0, secure);
}
