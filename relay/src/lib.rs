//! Switchboard's long-running WebSocket relay: live transcripts, web-channel
//! and telephony media, supervisor sockets. For now it serves `/health`; the
//! local server mounts the same router so one process runs everything.

use axum::Router;
use axum::routing::get;
use serde_json::json;

/// The relay's routes.
pub fn router() -> Router {
    Router::new().route("/health", get(health))
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(
        json!({"status": "ok", "service": "switchboard", "version": env!("CARGO_PKG_VERSION")}),
    )
}
