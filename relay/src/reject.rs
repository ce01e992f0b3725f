//! Refusals before a socket opens (a failed upgrade): the SPEC error body
//! with the status of the error, like every API response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchboard::Error;

/// The status code of `e`.
fn status_of(e: &Error) -> StatusCode {
    match e {
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
    }
}

/// `e` as the SPEC error body (`{success: false, error, detail, details,
/// meta}`); an internal cause is logged, not shown.
pub fn reject(e: Error) -> Response {
    let status = status_of(&e);
    let message = match &e {
        Error::Internal(cause) => {
            tracing::error!(%cause, "internal error on a relay socket");
            "internal server error".to_owned()
        }
        other => other.to_string(),
    };
    let details = match &e {
        Error::Validation(fields) => json!({"fields": fields}),
        _ => serde_json::Value::Null,
    };
    let body = json!({
        "success": false,
        "error": message,
        "detail": message,
        "details": details,
        "meta": {
            "timestamp": switchboard::domain::rfc3339(chrono::Utc::now()),
            "request_id": uuid::Uuid::now_v7().to_string(),
        },
    });
    let mut response = (status, Json(body)).into_response();
    if let Error::RateLimited(secs) = e {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    response
}
