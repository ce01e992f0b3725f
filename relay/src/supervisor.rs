//! The supervisor socket (`/ws/supervisor/{call_id}?token=`, SPEC §14): a
//! supervisor sees the call's transcript as it happens, whispers included,
//! and while the call is taken over says text on it as the `supervisor`
//! (`{"type":"say","text"}`). On a voice call held by this relay process
//! the supervisor also hears both sides, mixed, as binary 20 ms frames of
//! 16 kHz PCM16 (little-endian), and while holding the call speaks to the
//! caller by sending the same. The token comes from
//! `POST /live-space/live-calls/{id}/supervisor/join`.
//!
//! Messages out: `connected`, one `transcript_update` with the transcript so
//! far, then `transcript_update` per new entry (each `seq` once, in order),
//! `call_status_update` on each status change (the socket closes after the
//! end), `error` with a reason (a refused `say`), `pong`.

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use switchboard::App;
use switchboard::services::live::audio;
use switchboard::services::live::follow::Follower;
use switchboard::services::live::supervisor;

use crate::calls_ws::{Viewer, Watcher};
use crate::reject::reject;

/// The largest message a supervisor may send.
const MAX_MESSAGE: usize = 16 * 1024;

/// The supervisor socket's route.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/ws/supervisor/{call_id}", get(upgrade))
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn upgrade(
    State(app): State<Arc<App>>,
    Path(call_id): Path<String>,
    Query(q): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let claims = match supervisor::verify(&app, q.token.as_deref().unwrap_or(""), &call_id) {
        Ok(c) => c,
        Err(e) => return reject(e),
    };
    let tenant = claims.tenant();
    // The same follower as a live-transcript viewer: hub events for a call
    // run here, the store for one held elsewhere, each entry once, in order.
    let (follower, start) = match Follower::start(app.clone(), tenant.clone(), &call_id, 0).await {
        Ok(f) => f,
        Err(e) => return reject(e),
    };
    // The call's audio, when it is a voice call run by this process.
    let audio = audio::listen(&call_id);
    ws.read_buffer_size(crate::READ_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            Viewer {
                socket,
                call_id,
                follower,
                watcher: Watcher::Supervisor {
                    audio,
                    app,
                    tenant,
                    unheard: None,
                },
            }
            .run(start)
            .await;
        })
        .into_response()
}
