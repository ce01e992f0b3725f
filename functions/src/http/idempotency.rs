//! `Idempotency-Key` on POST (SPEC §1), after authentication so keys are
//! scoped to the credential that sent them.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use switchboard::services::Caller;
use switchboard::services::idempotency::{self, Claim, StoredResponse};
use switchboard::{App, Error};

use super::response::ApiError;

/// Largest body any route accepts (uploads); the route's own limit still applies.
const BUFFER_LIMIT: usize = 30 * 1024 * 1024;
/// Responses larger than this are not kept for replay.
const STORE_LIMIT: usize = 256 * 1024;

/// Middleware: replays, rejects (409) or runs and records the request.
pub async fn idempotency(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, BUFFER_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError(Error::TooLarge("the request body is too large".into()))
                .into_response();
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.to_string());
    hasher.update([0]);
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());
    match idempotency::claim(&app, &caller, &key, &fingerprint).await {
        Err(e) => ApiError(e).into_response(),
        Ok(Claim::Replay(stored)) => {
            let mut resp = (
                StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
                stored.body,
            )
                .into_response();
            if let Some(ct) = stored
                .content_type
                .and_then(|c| HeaderValue::from_str(&c).ok())
            {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            resp
        }
        Ok(Claim::Run) => {
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            if resp.status().is_server_error() {
                let _ = idempotency::release(&app, &caller, &key).await;
                return resp;
            }
            let (parts, body) = resp.into_parts();
            let Ok(bytes) = to_bytes(body, STORE_LIMIT).await else {
                // Too big to keep: forget the key rather than replay a partial body.
                let _ = idempotency::release(&app, &caller, &key).await;
                return ApiError(Error::Internal(
                    "response too large to store for idempotency".into(),
                ))
                .into_response();
            };
            let stored = StoredResponse {
                status: parts.status.as_u16(),
                content_type: parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            };
            if let Err(e) = idempotency::complete(&app, &caller, &key, &fingerprint, stored).await {
                tracing::warn!(error = %e, "could not store an idempotent response");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}
