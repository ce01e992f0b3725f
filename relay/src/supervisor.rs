//! The supervisor socket (`/ws/supervisor/{call_id}?token=`, SPEC §14), text
//! for now: a supervisor sees the call's transcript as it happens, whispers
//! included, and while the call is taken over says text on it as the
//! `supervisor` (`{"type":"say","text"}`). The token comes from
//! `POST /live-space/live-calls/{id}/supervisor/join`.
//!
//! Messages out: `connected`, one `transcript_update` with the transcript so
//! far, then `transcript_update` per new entry (each `seq` once, in order),
//! `call_status_update` on each status change (the socket closes after the
//! end), `error` with a reason (a refused `say`), `pong`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use switchboard::domain::Tenant;
use switchboard::domain::call::CallStatus;
use switchboard::engine::call::TranscriptEntry;
use switchboard::services::calls;
use switchboard::services::live::control::{self, Control};
use switchboard::services::live::hub::{self, LiveEvent};
use switchboard::services::live::supervisor;
use switchboard::{App, Error};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::reject::reject;

/// The largest message a supervisor may send.
const MAX_MESSAGE: usize = 16 * 1024;
/// How often the socket reads the store for a call this process does not
/// hold (its entries reach no hub here).
const POLL: Duration = Duration::from_millis(250);

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
    if let Err(e) = calls::load(&app, &tenant, &call_id).await {
        return reject(e);
    }
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            if let Err(e) = watch(&app, &tenant, &call_id, socket).await {
                tracing::debug!(call = %call_id, error = %e, "supervisor socket closed");
            }
        })
        .into_response()
}

/// What the supervisor has been sent: entries up to `seq`, and the status.
struct Seen {
    seq: u32,
    status: Option<CallStatus>,
}

impl Seen {
    /// The entries of `entries` not sent yet, remembered as sent.
    fn fresh(&mut self, entries: Vec<TranscriptEntry>) -> Vec<TranscriptEntry> {
        let fresh: Vec<TranscriptEntry> =
            entries.into_iter().filter(|e| e.seq > self.seq).collect();
        if let Some(last) = fresh.last() {
            self.seq = last.seq;
        }
        fresh
    }
}

fn transcript_update(call_id: &str, entries: &[TranscriptEntry]) -> Message {
    text(json!({"type": "transcript_update", "data": {"call_id": call_id, "transcript": entries}}))
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

async fn watch(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
    mut socket: WebSocket,
) -> Result<(), axum::Error> {
    // Subscribe before reading the store: nothing said in between is lost
    // (entries come twice at most, and `seq` drops the repeat).
    let mut events = Some(hub::subscribe(call_id));
    let mut seen = Seen {
        seq: 0,
        status: None,
    };
    let (call, _) = match calls::load(app, tenant, call_id).await {
        Ok(c) => c,
        Err(e) => return socket.send(error_message(&e)).await,
    };
    socket
        .send(text(
            json!({"type": "connected", "data": {"call_id": call_id, "status": call.status}}),
        ))
        .await?;
    seen.status = Some(call.status);
    let so_far = calls::full_transcript_of(app, tenant, &call)
        .await
        .unwrap_or_default();
    let so_far = seen.fresh(so_far);
    socket.send(transcript_update(call_id, &so_far)).await?;
    if call.status.is_final() {
        return end(socket, call_id, call.status, call.end_reason).await;
    }
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            event = next_event(&mut events) => match event {
                // The next entry goes out at once; after a gap (a lagged
                // receiver) the store fills in, in order.
                Ok(LiveEvent::Entry(entry)) if entry.seq == seen.seq + 1 => {
                    let fresh = seen.fresh(vec![entry]);
                    socket.send(transcript_update(call_id, &fresh)).await?;
                }
                Ok(LiveEvent::Entry(_)) => {}
                Ok(LiveEvent::Status { status, end_reason }) => {
                    if status.is_final() {
                        // The last entries may still be in the store only.
                        if let Ok(entries) = calls::stored_entries(app, tenant, call_id).await {
                            let fresh = seen.fresh(entries);
                            if !fresh.is_empty() {
                                socket.send(transcript_update(call_id, &fresh)).await?;
                            }
                        }
                        return end(socket, call_id, status, end_reason).await;
                    }
                    if seen.status != Some(status) {
                        seen.status = Some(status);
                        socket.send(status_update(call_id, status, None)).await?;
                    }
                }
                // A supervisor that fell behind catches up from the store.
                Err(RecvError::Lagged(_)) => {}
                // The call's channel closed here; the store says the rest.
                Err(RecvError::Closed) => events = None,
            },
            _ = poll.tick() => {
                let Ok((call, _)) = calls::load(app, tenant, call_id).await else { continue };
                if let Ok(entries) = calls::stored_entries(app, tenant, call_id).await {
                    let fresh = seen.fresh(entries);
                    if !fresh.is_empty() {
                        socket.send(transcript_update(call_id, &fresh)).await?;
                    }
                }
                if call.status.is_final() {
                    return end(socket, call_id, call.status, call.end_reason).await;
                }
                if seen.status != Some(call.status) {
                    seen.status = Some(call.status);
                    socket.send(status_update(call_id, call.status, None)).await?;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(Message::Text(t))) => {
                    let reply = said(app, tenant, call_id, t.as_str()).await;
                    if let Some(reply) = reply {
                        socket.send(reply).await?;
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
            },
        }
    }
}

/// The next hub event, or never once the call's channel has closed.
async fn next_event(
    events: &mut Option<broadcast::Receiver<LiveEvent>>,
) -> Result<LiveEvent, RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Handles one message from the supervisor; returns the answer, if any.
async fn said(app: &App, tenant: &Tenant, call_id: &str, message: &str) -> Option<Message> {
    let v: Value = match serde_json::from_str(message) {
        Ok(v) => v,
        Err(_) => {
            return Some(error_message(&Error::BadRequest(
                "messages are JSON objects".into(),
            )));
        }
    };
    match v.get("type").and_then(Value::as_str) {
        Some("ping") => Some(text(json!({"type": "pong"}))),
        Some("say") => {
            let Some(words) = v.get("text").and_then(Value::as_str) else {
                return Some(error_message(&Error::field("text", "is required")));
            };
            let spoken = match Control::SupervisorText(words.to_owned()).checked("text") {
                Ok(c) => control::deliver(app, tenant, call_id, c).await,
                Err(e) => Err(e),
            };
            // What was said arrives as a transcript entry; only a refusal answers.
            spoken.err().map(|e| error_message(&e))
        }
        _ => Some(error_message(&Error::BadRequest(
            "unknown message type: send `say` or `ping`".into(),
        ))),
    }
}

fn error_message(e: &Error) -> Message {
    text(json!({"type": "error", "error": e.to_string()}))
}

fn status_update(
    call_id: &str,
    status: CallStatus,
    end_reason: Option<switchboard::engine::call::EndReason>,
) -> Message {
    text(
        json!({"type": "call_status_update", "data": {"call_id": call_id, "status": status, "end_reason": end_reason}}),
    )
}

async fn end(
    mut socket: WebSocket,
    call_id: &str,
    status: CallStatus,
    end_reason: Option<switchboard::engine::call::EndReason>,
) -> Result<(), axum::Error> {
    socket
        .send(status_update(call_id, status, end_reason))
        .await?;
    socket.send(Message::Close(None)).await
}
