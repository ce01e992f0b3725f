//! Switchboard's long-running WebSocket relay: live transcripts, web-channel
//! and telephony media, supervisor sockets. The local server mounts the same
//! router so one process runs everything; in AWS it is its own container.

pub mod calls_ws;
mod reject;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use serde_json::json;
use switchboard::App;

/// The relay's routes, over the platform's [`App`] (its store, queues, config
/// and signing key).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .with_state(app.clone())
        .merge(calls_ws::router(app))
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(
        json!({"status": "ok", "service": "switchboard", "version": env!("CARGO_PKG_VERSION")}),
    )
}
