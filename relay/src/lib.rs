//! Switchboard's long-running WebSocket relay: live transcripts, the live
//! inbox, web-channel and telephony media, supervisor sockets. The local server mounts the same
//! router so one process runs everything; in AWS it is its own container.

pub mod calls_ws;
mod control;
pub mod inbox;
mod inbox_feed;
pub mod media;
mod reject;
mod supervisor;

use std::sync::Arc;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use switchboard::App;
use switchboard::services::calls::drain;

pub mod web_chat;
mod web_voice;
pub mod widget;

/// The relay's routes, over the platform's [`App`] (its store, queues, config
/// and signing key).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .merge(control::router())
        .merge(supervisor::router())
        .with_state(app.clone())
        .merge(calls_ws::router(app.clone()))
        .merge(inbox::router(app.clone()))
        .merge(media::router(app.clone()))
        .merge(web_chat::router(app))
        .merge(widget::router())
}

/// How long the health check waits for the store.
const STORE_WITHIN: Duration = Duration::from_secs(3);

/// Each socket's read buffer. tungstenite's default is 128 KiB, allocated per
/// socket and zero-filled to that size before every read: with hundreds of
/// media streams sending a 20 ms frame each, that `memset` was 11 % of the
/// relay's CPU (perf, 300 calls) and 128 KiB of each call's memory. Every
/// message the relay reads is far smaller (a Twilio media message is ~400
/// bytes); a larger one is read in several reads.
pub(crate) const READ_BUFFER: usize = 4 * 1024;

/// `200` while this process can reach its store and takes work; `503` when the
/// store does not answer (the load balancer replaces the task) or while it
/// drains (no new sockets come).
async fn health(State(app): State<Arc<App>>) -> Response {
    let about = |status: &str| json!({"status": status, "service": "switchboard", "version": env!("CARGO_PKG_VERSION")});
    if drain::draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(about("draining"))).into_response();
    }
    match tokio::time::timeout(STORE_WITHIN, app.table.get(HEALTH_KEY, HEALTH_KEY)).await {
        Ok(Ok(_)) => Json(about("ok")).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health: the store failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(about("store_unavailable")),
            )
                .into_response()
        }
        Err(_) => {
            tracing::warn!("health: the store did not answer in time");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(about("store_unavailable")),
            )
                .into_response()
        }
    }
}

/// The key the health check reads (nothing is stored there).
const HEALTH_KEY: &str = "HEALTH";
