//! Refusals on the relay's routes (a failed upgrade, a refused internal
//! request): the API's own error body and status (`ApiError`), so both
//! edges of the platform answer alike.

use axum::response::{IntoResponse, Response};
use switchboard::Error;
use switchboard_functions::http::ApiError;

/// `e` as the SPEC error body with its status; an internal cause is logged,
/// not shown.
pub fn reject(e: Error) -> Response {
    ApiError(e).into_response()
}
