//! `/ws/calls/{call_id}` (SPEC §14, the seed's protocol): a call's live
//! transcript. Credentials are `?api_key=` (with `?mode=`) or the
//! `?session_token=` of `GET /calls/{id}/live`; bad or expired ones are a 401
//! on the upgrade, another org's or an unknown call a 404. The viewer gets
//! `connected`, one `transcript_update` with the transcript so far (after
//! `?after_seq=`), then each new entry and status change as the
//! [`Follower`] reports them; `{"type":"ping"}` is answered with `pong`.
//!
//! Bounded: a viewer that falls [`hub::BUFFER`] events behind, or cannot take
//! a message within [`SEND_TIMEOUT`], is dropped (it reconnects with
//! `after_seq`); a socket with no client message for [`IDLE_TIMEOUT`] is
//! closed; client messages over [`MAX_MESSAGE`] bytes end the socket; one
//! credential holds at most [`MAX_PER_API_KEY`] or [`MAX_PER_SESSION_TOKEN`]
//! sockets at once.
//!
//! [`hub::BUFFER`]: switchboard::services::live::hub::BUFFER

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use switchboard::domain::call::CallStatus;
use switchboard::domain::{Mode, Tenant};
use switchboard::engine::call::{EndReason, TranscriptEntry};
use switchboard::services::api_keys;
use switchboard::services::caller::Caller;
use switchboard::services::live::audio;
use switchboard::services::live::control::{self, Control};
use switchboard::services::live::follow::{Follower, Start, Update};
use switchboard::services::live::token;
use switchboard::speech::audio::{pcm16_from_le, pcm16_le};
use switchboard::{App, Error};
use tokio::sync::broadcast;

use crate::reject::{self, reject};

/// A socket with no message from its client this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// A viewer that cannot take one message this long is dropped.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest client message (clients only send pings).
pub const MAX_MESSAGE: usize = 4 * 1024;
/// Sockets one API key may hold open at once.
pub const MAX_PER_API_KEY: usize = 200;
/// Sockets one session token may hold open at once.
pub const MAX_PER_SESSION_TOKEN: usize = 20;

/// The live transcript socket's route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ws/calls/{call_id}", get(upgrade))
        .with_state(app)
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn upgrade(
    State(app): State<Arc<App>>,
    call_id: Result<Path<String>, PathRejection>,
    params: Params,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Ok(Path(call_id)) = call_id else {
        return reject(Error::BadRequest(
            "the call id in the path is malformed".into(),
        ));
    };
    match open(app, &call_id, params, ws).await {
        Ok(response) => response,
        Err(e) => reject(e),
    }
}

/// Checks the credentials and the call, then upgrades.
async fn open(
    app: Arc<App>,
    call_id: &str,
    params: Params,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let params = reject::query(params)?;
    let (tenant, slot) = authenticate(&app, call_id, &params).await?;
    let after_seq = match params.get("after_seq").filter(|s| !s.is_empty()) {
        None => 0,
        Some(s) => s
            .parse::<u32>()
            .map_err(|_| Error::field("after_seq", "must be a whole number of at least 0"))?,
    };
    let ws = reject::websocket(ws)?;
    let (follower, start) = Follower::start(app, tenant, call_id, after_seq).await?;
    let call_id = call_id.to_owned();
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        // Clients only send pings: a small read buffer (the default 128 KiB
        // per socket is most of an idle viewer's memory).
        .read_buffer_size(crate::READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            Viewer {
                socket,
                call_id,
                follower,
                watcher: Watcher::Viewer,
            }
            .run(start)
            .await;
        }))
}

/// The tenant `params`' credentials act in, with their connection slot.
async fn authenticate(
    app: &App,
    call_id: &str,
    params: &HashMap<String, String>,
) -> Result<(Tenant, Slot), Error> {
    let given = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());
    if let Some(token) = given("session_token") {
        let claims = token::verify(app, token, call_id)?;
        let slot = Slot::take(format!("token:{}", claims.token_id), MAX_PER_SESSION_TOKEN)?;
        return Ok((claims.tenant(), slot));
    }
    let Some(secret) = given("api_key") else {
        return Err(Error::Unauthorized(
            "missing credentials: add ?api_key=<API key> or ?session_token=<token from GET /calls/{id}/live>"
                .into(),
        ));
    };
    let caller = api_key_caller(app, secret, given("mode")).await?;
    let key = match &caller.principal {
        switchboard::services::caller::Principal::ApiKey { key_id, .. } => key_id.clone(),
        other => format!("{other:?}"),
    };
    let slot = Slot::take(format!("key:{key}"), MAX_PER_API_KEY)?;
    Ok((caller.tenant, slot))
}

/// The caller of a socket's `?api_key=` in the partition `?mode=` names
/// (live when absent), counted against the key's rate limit: 401 for a bad
/// key, 429 past the limit.
pub(crate) async fn api_key_caller(
    app: &App,
    secret: &str,
    mode: Option<&str>,
) -> Result<Caller, Error> {
    let mode = match mode {
        None => Mode::Live,
        Some(m) => Mode::parse(m).ok_or_else(|| Error::field("mode", "must be live or test"))?,
    };
    let Some((caller, rate)) = api_keys::authenticate(app, secret, mode).await? else {
        return Err(Error::Unauthorized("invalid or revoked API key".into()));
    };
    if !rate.allowed {
        let retry = (rate.reset - app.now().timestamp()).max(1) as u64;
        return Err(Error::RateLimited(retry));
    }
    Ok(caller)
}

/// Open sockets per credential.
static OPEN: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Default::default);

/// One socket counted against its credential until it is dropped.
pub(crate) struct Slot(String);

impl Slot {
    /// Counts one more socket against `credential`, or 409 when it holds
    /// `max` already.
    pub(crate) fn take(credential: String, max: usize) -> Result<Self, Error> {
        Self::take_of(
            credential,
            max,
            "this credential",
            "live transcript sockets",
        )
    }

    /// As [`Slot::take`], the refusal naming `holder` and `what` it holds.
    pub(crate) fn take_of(
        credential: String,
        max: usize,
        holder: &str,
        what: &str,
    ) -> Result<Self, Error> {
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(credential.clone()).or_default();
        if *n >= max {
            return Err(Error::Conflict(format!(
                "{holder} already holds {max} {what}; close one first"
            )));
        }
        *n += 1;
        Ok(Self(credential))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.0);
            }
        }
    }
}

/// Who watches a call, which decides what they see and may send.
pub(crate) enum Watcher {
    /// A live-transcript viewer: whispers redacted, sends only pings.
    Viewer,
    /// A supervisor (`/ws/supervisor`): sees whispers, and `say`s text that
    /// is spoken as the `supervisor` while the call is taken over; on a voice
    /// call run by this process, also hears both sides and speaks.
    Supervisor {
        /// The platform.
        app: Arc<App>,
        /// The call's tenant.
        tenant: Tenant,
        /// The call's audio, both sides mixed (`None`: not a voice call run here).
        audio: Option<broadcast::Receiver<audio::Frame>>,
        /// Why the supervisor's voice was last refused (told once per reason).
        unheard: Option<audio::Unheard>,
    },
}

/// One connected socket following a call.
pub(crate) struct Viewer {
    /// The client's socket.
    pub socket: WebSocket,
    /// The call followed.
    pub call_id: String,
    /// Its position in the call.
    pub follower: Follower,
    /// Who it is.
    pub watcher: Watcher,
}

/// Why a viewer's socket ends.
enum Ending {
    /// The call ended (its final status was sent).
    CallEnded,
    /// The client left, or its connection broke.
    ClientGone,
    /// Closed by the relay, with an `error` message first.
    Dropped(String),
}

impl Viewer {
    /// Streams the call to the client until either ends, then closes the socket.
    pub(crate) async fn run(mut self, start: Start) {
        let ending = self.stream(start).await;
        let (code, reason) = match ending {
            Ending::ClientGone => return,
            Ending::CallEnded => (close_code::NORMAL, "the call ended".to_owned()),
            Ending::Dropped(why) => {
                let _ = self.send(&json!({"type": "error", "error": why})).await;
                (close_code::POLICY, why)
            }
        };
        let frame = CloseFrame {
            code,
            reason: reason.chars().take(100).collect::<String>().into(),
        };
        let _ =
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Close(Some(frame)))).await;
    }

    async fn stream(&mut self, start: Start) -> Ending {
        let connected = json!({"type": "connected",
            "data": {"call_id": self.call_id, "status": start.status}});
        if !self.send(&connected).await || !self.entries(&start.transcript).await {
            return Ending::ClientGone;
        }
        if start.status.is_final() {
            return match self.status(start.status, start.end_reason).await {
                true => Ending::CallEnded,
                false => Ending::ClientGone,
            };
        }
        let idle = tokio::time::sleep(IDLE_TIMEOUT);
        tokio::pin!(idle);
        loop {
            tokio::select! {
                update = self.follower.next() => match update {
                    Some(Ok(Update::Entries(entries))) => {
                        if !self.entries(&entries).await {
                            return Ending::ClientGone;
                        }
                    }
                    Some(Ok(Update::Status { status, end_reason })) => {
                        if !self.status(status, end_reason).await {
                            return Ending::ClientGone;
                        }
                        if status.is_final() {
                            return Ending::CallEnded;
                        }
                    }
                    Some(Err(lagged)) => return Ending::Dropped(format!(
                        "{lagged}; reconnect with ?after_seq={}", self.follower.last_seq()
                    )),
                    None => return Ending::CallEnded,
                },
                Some(frame) = next_frame(&mut self.watcher) => {
                    if !self.send_audio(&frame).await {
                        return Ending::ClientGone;
                    }
                }
                message = self.socket.recv() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            if !self.answer(text.as_str()).await {
                                return Ending::ClientGone;
                            }
                        }
                        Some(Ok(Message::Binary(bytes))) => {
                            if !self.voice(&bytes).await {
                                return Ending::ClientGone;
                            }
                        }
                        // Pings are answered by the socket itself.
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return Ending::ClientGone,
                        Some(Err(e)) => {
                            tracing::debug!(call = %self.call_id, error = %e, "viewer socket failed");
                            return Ending::ClientGone;
                        }
                    }
                }
                _ = &mut idle => return Ending::Dropped(format!(
                    "no message from the client in {} s; send {{\"type\":\"ping\"}} to keep the socket open",
                    IDLE_TIMEOUT.as_secs()
                )),
            }
        }
    }

    /// Answers a client message; false when the client is gone.
    async fn answer(&mut self, text: &str) -> bool {
        let message = serde_json::from_str::<Value>(text).ok();
        let kind = message
            .as_ref()
            .and_then(|v| v.get("type").and_then(Value::as_str));
        let accepted = match self.watcher {
            Watcher::Viewer => "viewers send only {\"type\":\"ping\"}",
            Watcher::Supervisor { .. } => {
                "supervisors send {\"type\":\"say\",\"text\"} or {\"type\":\"ping\"}"
            }
        };
        let reply = match (kind, &self.watcher) {
            (Some("ping"), _) => json!({"type": "pong"}),
            (Some("say"), Watcher::Supervisor { app, tenant, .. }) => {
                let words = message
                    .as_ref()
                    .and_then(|v| v.get("text"))
                    .and_then(Value::as_str);
                match say(app, tenant, &self.call_id, words).await {
                    // What was said arrives as a transcript entry; only a refusal answers.
                    Ok(()) => return true,
                    Err(e) => error(&e.to_string()),
                }
            }
            (Some(other), _) => error(&format!("unknown message type {other:?}; {accepted}")),
            (None, _) => error(&format!(
                "messages are JSON objects with a \"type\"; {accepted}"
            )),
        };
        self.send(&reply).await
    }

    async fn entries(&mut self, entries: &[TranscriptEntry]) -> bool {
        // A whisper keeps its place (`seq` stays gapless) but its words are
        // the live space's only (its supervisor socket shows them).
        let entries: Vec<TranscriptEntry> = match self.watcher {
            Watcher::Viewer => entries
                .iter()
                .cloned()
                .map(TranscriptEntry::redacted)
                .collect(),
            Watcher::Supervisor { .. } => entries.to_vec(),
        };
        let update = json!({"type": "transcript_update",
            "data": {"call_id": self.call_id, "transcript": entries}});
        self.send(&update).await
    }

    async fn status(&mut self, status: CallStatus, end_reason: Option<EndReason>) -> bool {
        let update = json!({"type": "call_status_update",
            "data": {"call_id": self.call_id, "status": status, "end_reason": end_reason}});
        self.send(&update).await
    }

    /// A supervisor's voice (16 kHz PCM16 little-endian) for the caller; a
    /// refusal is told once per reason, not once per chunk.
    async fn voice(&mut self, bytes: &[u8]) -> bool {
        let refused = match &mut self.watcher {
            Watcher::Viewer => {
                return self
                    .send(&error("binary messages are not accepted; send JSON text"))
                    .await;
            }
            Watcher::Supervisor { unheard, .. } => {
                let outcome = if bytes.len() % 2 == 1 {
                    return self
                        .send(&error(
                            "audio is 16 kHz 16-bit little-endian PCM: an even number of bytes",
                        ))
                        .await;
                } else {
                    let samples = pcm16_from_le(bytes);
                    audio::speak(&self.call_id, samples).err()
                };
                let fresh = outcome.is_some() && outcome != *unheard;
                *unheard = outcome;
                match outcome {
                    Some(why) if fresh => why,
                    _ => return true,
                }
            }
        };
        self.send(&error(&refused.to_string())).await
    }

    /// Sends one frame of the call's audio (PCM16 little-endian, 16 kHz).
    async fn send_audio(&mut self, frame: &[i16]) -> bool {
        let bytes = pcm16_le(frame);
        matches!(
            tokio::time::timeout(
                SEND_TIMEOUT,
                self.socket.send(Message::Binary(bytes.into()))
            )
            .await,
            Ok(Ok(()))
        )
    }

    /// Sends one message; false when the client is gone or too slow to take it.
    async fn send(&mut self, message: &Value) -> bool {
        let text = message.to_string();
        matches!(
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text.into()))).await,
            Ok(Ok(()))
        )
    }
}

/// The next frame of the call's audio a supervisor hears (never, for a
/// viewer or a call whose audio is not here); a supervisor who fell behind
/// skips to the newest audio.
async fn next_frame(watcher: &mut Watcher) -> Option<audio::Frame> {
    let Watcher::Supervisor {
        audio: Some(frames),
        ..
    } = watcher
    else {
        return std::future::pending().await;
    };
    loop {
        match frames.recv().await {
            Ok(frame) => return Some(frame),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => {
                if let Watcher::Supervisor { audio, .. } = watcher {
                    *audio = None;
                }
                return std::future::pending().await;
            }
        }
    }
}

/// A supervisor's `say`: spoken as the `supervisor` while the call is taken over.
async fn say(app: &App, tenant: &Tenant, call_id: &str, words: Option<&str>) -> Result<(), Error> {
    let words = words.ok_or_else(|| Error::field("text", "is required"))?;
    let said = Control::SupervisorText(words.to_owned()).checked("text")?;
    control::deliver(app, tenant, call_id, said).await
}

fn error(why: &str) -> Value {
    json!({"type": "error", "error": why})
}
