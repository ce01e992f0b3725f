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

use crate::reject::reject;
use switchboard::App;
use switchboard::services::live::internal::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

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
        Err(e) => reject(e),
    }
}
