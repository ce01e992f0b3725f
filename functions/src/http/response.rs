//! The SPEC envelope (§1): `{success, data, meta}` and the one error body that
//! reads right to clients of all three reference APIs. The bodies are the
//! typed structs below, so what the OpenAPI document says (their `ToSchema`)
//! is what is serialized.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard::Error;
use switchboard::services::page::{self, PageOf, PageRequest};
use utoipa::ToSchema;

use super::request_id::current_request_id;

/// `meta` of every body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Meta {
    /// When the response was made (RFC 3339, UTC).
    pub timestamp: String,
    /// The request's id, as in the `X-Request-Id` header.
    pub request_id: String,
}

impl Meta {
    fn now() -> Self {
        Self {
            timestamp: switchboard::domain::rfc3339(chrono::Utc::now()),
            request_id: current_request_id(),
        }
    }
}

/// Where a page sits in the collection (`meta.pagination`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    /// The page size applied.
    pub limit: usize,
    /// Items skipped.
    pub offset: usize,
    /// Matching items in all, when cheap to know.
    pub total: Option<u64>,
    /// Pass as `cursor` to read the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `meta` of a list: [`Meta`] plus the pagination.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListMeta {
    #[serde(flatten)]
    #[schema(inline)]
    pub meta: Meta,
    pub pagination: Pagination,
}

/// A successful response with one resource (or a result object): `T` is
/// the resource's view (or the result's).
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always true.
    pub success: bool,
    /// The resource.
    pub data: T,
    pub meta: Meta,
}

/// A successful response with a page of resources.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListEnvelope<T> {
    /// Always true.
    pub success: bool,
    /// The page's items.
    pub data: Vec<T>,
    pub meta: ListMeta,
}

/// `details` of a 422: each invalid field and what is wrong with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetails {
    pub fields: BTreeMap<String, String>,
}

/// The SPEC error body, on every 4xx and 5xx.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// What went wrong, for people.
    pub error: String,
    /// The same message (the field FastAPI clients read).
    pub detail: String,
    /// Per-field reasons on a 422, else null.
    pub details: Option<ErrorDetails>,
    pub meta: Meta,
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut resp = (status, bytes).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn envelope(status: StatusCode, data: impl Serialize) -> Response {
    json_response(
        status,
        &Envelope {
            success: true,
            data,
            meta: Meta::now(),
        },
    )
}

/// 200 with `data`.
pub fn ok(data: impl Serialize) -> Response {
    envelope(StatusCode::OK, data)
}

/// 201 with the created resource.
pub fn created(data: impl Serialize) -> Response {
    envelope(StatusCode::CREATED, data)
}

fn list_of<T: Serialize>(data: Vec<T>, pagination: Pagination) -> Response {
    json_response(
        StatusCode::OK,
        &ListEnvelope {
            success: true,
            data,
            meta: ListMeta {
                meta: Meta::now(),
                pagination,
            },
        },
    )
}

/// 200 with a page and `meta.pagination`.
pub fn list<T: Serialize>(page: PageOf<T>) -> Response {
    let pagination = Pagination {
        limit: page.limit,
        offset: page.offset,
        total: page.total,
        next_cursor: page.next_cursor,
    };
    list_of(page.items, pagination)
}

/// 200 with the page `req` asks for of a collection read whole (see
/// [`page::slice`]).
pub fn list_slice<T: Serialize>(items: Vec<T>, req: &PageRequest) -> Result<Response, ApiError> {
    Ok(list(page::slice(items, req)?))
}

/// 200 with a whole (small, unpaginated) collection.
pub fn all<T: Serialize>(items: Vec<T>) -> Response {
    let total = items.len();
    let pagination = Pagination {
        limit: total,
        offset: 0,
        total: Some(total as u64),
        next_cursor: None,
    };
    list_of(items, pagination)
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
        Error::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
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
            Error::Validation(fields) => Some(ErrorDetails {
                fields: fields.clone(),
            }),
            _ => None,
        };
        let body = ErrorBody {
            success: false,
            error: message.clone(),
            detail: message,
            details,
            meta: Meta::now(),
        };
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
