//! The internal control route (`POST /internal/calls/{id}/control`): another
//! Switchboard process hands a live-space control to the call this relay
//! holds, over a request signed with the installation's signing key
//! ([`switchboard::services::live::internal`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use switchboard::services::live::internal::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use switchboard::{App, Error};

/// The internal routes.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/internal/calls/{id}/control", post(control))
}

async fn control(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let received = internal::receive(
        &app,
        &id,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
    )
    .await;
    match received {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({
                "success": true,
                "data": {"call_id": id, "delivered": true},
                "meta": {"timestamp": app.now_rfc3339()},
            })),
        )
            .into_response(),
        Err(e) => error_response(&app, &e),
    }
}

/// The SPEC error body (§1) for `e`, with its status.
pub(crate) fn error_response(app: &App, e: &Error) -> Response {
    let status = match e {
        Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = match e {
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "relay request failed");
            "internal error".to_owned()
        }
        other => other.to_string(),
    };
    let request_id = uuid::Uuid::now_v7().to_string();
    (
        status,
        axum::Json(json!({
            "success": false,
            "error": message,
            "detail": message,
            "details": null,
            "meta": {"timestamp": app.now_rfc3339(), "request_id": request_id},
        })),
    )
        .into_response()
}
