//! Refusals on the relay's routes (a failed upgrade, a refused internal
//! request): the API's own error body and status (`ApiError`), so both
//! edges of the platform answer alike.

use std::collections::HashMap;

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::{IntoResponse, Response};
use switchboard::Error;
use switchboard_functions::http::ApiError;

/// `e` as the SPEC error body with its status; an internal cause is logged,
/// not shown.
pub fn reject(e: Error) -> Response {
    ApiError(e).into_response()
}

/// An upgrade's query string, or a 400 saying it is malformed.
pub fn query(
    params: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, Error> {
    params
        .map(|Query(params)| params)
        .map_err(|_| Error::BadRequest("the query string is malformed".into()))
}

/// The upgrade itself, or a 400 saying the route is a WebSocket.
pub fn websocket(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, Error> {
    ws.map_err(|e| Error::BadRequest(format!("this route is a WebSocket; open it as one ({e})")))
}
