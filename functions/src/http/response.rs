//! The SPEC envelope (§1): `{success, data, meta}` and the one error body that
//! reads right to clients of all three reference APIs.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard::Error;
use switchboard::services::page::{self, PageOf, PageRequest};

use super::request_id::current_request_id;

fn meta() -> Value {
    json!({"timestamp": switchboard::domain::rfc3339(chrono::Utc::now()), "request_id": current_request_id()})
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// 200 with `data`.
pub fn ok(data: Value) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": data, "meta": meta()}),
    )
}

/// 201 with the created resource.
pub fn created(data: Value) -> Response {
    json_response(
        StatusCode::CREATED,
        &json!({"success": true, "data": data, "meta": meta()}),
    )
}

/// 200 with a page and `meta.pagination`.
pub fn list(page: PageOf<Value>) -> Response {
    let mut meta = meta();
    meta["pagination"] = json!({"limit": page.limit, "offset": page.offset, "total": page.total, "next_cursor": page.next_cursor});
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": page.items, "meta": meta}),
    )
}

/// 200 with the page `req` asks for of a collection read whole (see
/// [`page::slice`]).
pub fn list_slice(items: Vec<Value>, req: &PageRequest) -> Result<Response, ApiError> {
    Ok(list(page::slice(items, req)?))
}

/// 200 with a whole (small, unpaginated) collection.
pub fn all(items: Vec<Value>) -> Response {
    let total = items.len();
    let mut meta = meta();
    meta["pagination"] = json!({"limit": total, "offset": 0, "total": total, "next_cursor": null});
    json_response(
        StatusCode::OK,
        &json!({"success": true, "data": items, "meta": meta}),
    )
}

/// An error at the HTTP edge: a core [`Error`] with its SPEC status and body.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<switchboard::store::StoreError> for ApiError {
    fn from(e: switchboard::store::StoreError) -> Self {
        Self(e.into())
    }
}

/// The status code of each error.
pub fn status_of(e: &Error) -> StatusCode {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let message = match &self.0 {
            Error::Internal(cause) => {
                // The cause is for operators; clients get a generic message.
                tracing::error!(%cause, "internal error");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let details = match &self.0 {
            Error::Validation(fields) => json!({"fields": fields}),
            _ => Value::Null,
        };
        let body = json!({"success": false, "error": message, "detail": message, "details": details, "meta": meta()});
        let mut resp = json_response(status, &body);
        if let Error::RateLimited(secs) = self.0 {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// What every handler returns.
pub type ApiResult = Result<Response, ApiError>;
