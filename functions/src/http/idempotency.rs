//! `Idempotency-Key` on POST (SPEC §1), after authentication so keys are
//! scoped to the credential that sent them. What is kept is sealed and
//! secrets are never replayed (see [`switchboard::services::idempotency`]).

use std::sync::Arc;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use switchboard::services::Caller;
use switchboard::services::idempotency::{
    self, Claim, Lease, Outcome, StoredResponse, WithheldReason,
};
use switchboard::services::knowledge::MAX_UPLOAD_BYTES;
use switchboard::{App, Error};

use super::extract::JSON_LIMIT;
use super::response::ApiError;

/// The most a multipart upload may carry: the file limit plus room for the
/// framing around it (the upload route's own body limit).
pub const UPLOAD_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + 64 * 1024;
/// Responses larger than this are not kept for replay.
pub const STORE_LIMIT: usize = 256 * 1024;

/// Marks a response that carries a secret shown only once (a new API key,
/// an invite token): a retry with the same `Idempotency-Key` is told the
/// request already succeeded, and is not shown the secret again.
#[derive(Debug, Clone, Copy)]
pub struct OneTimeSecret;

/// Marks `resp` as carrying a secret shown only once.
pub fn secret_once(mut resp: Response) -> Response {
    resp.extensions_mut().insert(OneTimeSecret);
    resp
}

/// The most of a request body the middleware reads to fingerprint it: the
/// route's own limit, so a JSON route never buffers more than 1 MB.
/// Multipart bodies only reach the upload route.
fn body_limit(headers: &HeaderMap) -> usize {
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if multipart {
        UPLOAD_BODY_LIMIT
    } else {
        JSON_LIMIT
    }
}

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
    let Ok(bytes) = to_bytes(body, body_limit(&parts.headers)).await else {
        return ApiError(Error::TooLarge("the request body is too large".into())).into_response();
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
        Ok(Claim::Done(outcome)) => replay(outcome),
        Ok(Claim::Run(lease)) => {
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let run = Run {
                app: &app,
                caller: &caller,
                key: &key,
                lease,
                fingerprint: &fingerprint,
            };
            run.record(resp).await
        }
    }
}

/// A request that holds its key's lease.
struct Run<'a> {
    app: &'a App,
    caller: &'a Caller,
    key: &'a str,
    lease: Lease,
    fingerprint: &'a str,
}

impl Run<'_> {
    /// Keeps what `resp` answered (sealed, or withheld) and passes it on.
    async fn record(self, resp: Response) -> Response {
        if resp.status().is_server_error() {
            self.release().await;
            return resp;
        }
        let secret = resp.extensions().get::<OneTimeSecret>().is_some()
            || resp.headers().contains_key(header::SET_COOKIE);
        let (parts, body) = resp.into_parts();
        let status = parts.status.as_u16();
        let (outcome, body) = match collect_up_to(body, STORE_LIMIT).await {
            Err(e) => {
                self.release().await;
                return ApiError(Error::Internal(format!("reading a response body: {e}")))
                    .into_response();
            }
            Ok(Collected::Over(body)) => (
                Outcome::Withheld {
                    status,
                    resource_id: None,
                    reason: WithheldReason::TooLarge,
                },
                body,
            ),
            Ok(Collected::Whole(bytes)) if secret => (
                Outcome::Withheld {
                    status,
                    resource_id: resource_id(&bytes),
                    reason: WithheldReason::OneTimeSecret,
                },
                Body::from(bytes),
            ),
            Ok(Collected::Whole(bytes)) => (
                Outcome::Response(StoredResponse {
                    status,
                    content_type: parts
                        .headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                }),
                Body::from(bytes),
            ),
        };
        if let Err(e) = idempotency::complete(
            self.app,
            self.caller,
            self.key,
            self.lease,
            self.fingerprint,
            &outcome,
        )
        .await
        {
            tracing::warn!(error = %e, "could not store an idempotent response");
        }
        Response::from_parts(parts, body)
    }

    async fn release(&self) {
        if let Err(e) = idempotency::release(self.app, self.caller, self.key, self.lease).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    }
}

/// The answer to a retry of a finished request.
fn replay(outcome: Outcome) -> Response {
    let mut resp = match outcome {
        Outcome::Response(stored) => {
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
            resp
        }
        Outcome::Withheld {
            status,
            resource_id,
            reason,
        } => {
            let created = resource_id
                .map(|id| format!(" (it answered {status} for {id})"))
                .unwrap_or_else(|| format!(" (it answered {status})"));
            let why = match reason {
                WithheldReason::OneTimeSecret => {
                    "its response carried a secret that is shown only once, so it is not shown again"
                }
                WithheldReason::TooLarge => {
                    "its response was too large to keep, so read the resource instead"
                }
            };
            ApiError(Error::Conflict(format!(
                "a request with this Idempotency-Key already succeeded{created}; {why}"
            )))
            .into_response()
        }
    };
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

/// `data.id` of a SPEC envelope, to name what a withheld response created.
fn resource_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value["data"]["id"].as_str().map(str::to_owned)
}

/// A response body read up to a limit.
enum Collected {
    /// All of it, within the limit.
    Whole(Bytes),
    /// Over the limit: the same body again (what was read, then the rest).
    Over(Body),
}

/// Reads `body` while it fits in `limit` bytes; past that, stops keeping it
/// and hands back a body that still streams all of it to the client.
async fn collect_up_to(mut body: Body, limit: usize) -> Result<Collected, axum::Error> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut size = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        size += data.len();
        chunks.push(data);
        if size > limit {
            let head = futures::stream::iter(chunks.into_iter().map(Ok::<_, axum::Error>));
            return Ok(Collected::Over(Body::from_stream(
                head.chain(body.into_data_stream()),
            )));
        }
    }
    Ok(Collected::Whole(match chunks.len() {
        1 => chunks.remove(0),
        _ => chunks.concat().into(),
    }))
}

#[cfg(test)]
mod tests;
