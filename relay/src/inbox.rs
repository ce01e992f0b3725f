//! `/ws/inbox` (SPEC §14): the inbox, live. Credentials are the
//! `?session_token=` of `GET /conversations/live` or `?api_key=` (with
//! `?mode=`); bad or expired ones are a 401 on the upgrade. The socket gets
//! `connected`, then `{"type":"conversation.created"|"conversation.updated",
//! "data":<conversation>}` and `{"type":"message.created","data":<message>}`
//! for every change of the org's inbox from then on, in the order written:
//! an `agent` only those of conversations assigned to them or to no one;
//! `{"type":"ping"}` is answered with `pong`. Delivery is at least once (a
//! client keys what it shows by id).
//!
//! Bounded: a socket that falls [`inbox_feed::QUEUE`] entries behind, or
//! cannot take a message within [`SEND_TIMEOUT`], is closed (it reconnects
//! and reloads); so is one with no client message for [`IDLE_TIMEOUT`], and
//! one whose session ended or whose user left the org or changed role
//! (checked every [`RECHECK`]). A user holds at most [`MAX_PER_USER`]
//! sockets, an API key or token [`MAX_PER_KEY`], an org [`MAX_PER_ORG`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use switchboard::services::caller::Principal;
use switchboard::services::conversations::socket::{self, Viewer};
use switchboard::{App, Error};
use tokio::sync::broadcast::error::RecvError;

use crate::calls_ws::{IDLE_TIMEOUT, MAX_MESSAGE, SEND_TIMEOUT, Slot, api_key_caller};
use crate::inbox_feed::{self, Shared};
use crate::reject::{self, reject};

/// Inbox sockets one signed-in user may hold open at once (tabs, devices).
pub const MAX_PER_USER: usize = 10;
/// Inbox sockets one API key (or one token minted with it) may hold.
pub const MAX_PER_KEY: usize = 50;
/// Inbox sockets one org may hold on one relay process.
pub const MAX_PER_ORG: usize = 500;
/// How often an open socket re-checks its session and membership.
pub const RECHECK: Duration = Duration::from_secs(60);

/// The inbox socket's route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ws/inbox", get(upgrade))
        .with_state(app)
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn upgrade(
    State(app): State<Arc<App>>,
    params: Params,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match open(app, params, ws).await {
        Ok(response) => response,
        Err(e) => reject(e),
    }
}

/// Checks the credentials and the limits, then upgrades.
async fn open(
    app: Arc<App>,
    params: Params,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let params = reject::query(params)?;
    let (viewer, credential) = authenticate(&app, &params).await?;
    let ws = reject::websocket(ws)?;
    let slots = credential.take_slots(&viewer)?;
    Ok(ws
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        // Clients only send pings.
        .read_buffer_size(crate::READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let _slots = slots;
            Inbox {
                app,
                socket,
                viewer,
            }
            .run()
            .await;
        }))
}

/// What a socket's count is kept against, and how many it may hold.
struct Credential {
    key: String,
    max: usize,
}

impl Credential {
    fn user(user_id: &str) -> Self {
        Self {
            key: format!("inbox:user:{user_id}"),
            max: MAX_PER_USER,
        }
    }

    fn key(what: &str, id: &str) -> Self {
        Self {
            key: format!("inbox:{what}:{id}"),
            max: MAX_PER_KEY,
        }
    }

    /// The socket's places against this credential's and its org's limits.
    fn take_slots(self, viewer: &Viewer) -> Result<(Slot, Slot), Error> {
        let what = "inbox sockets";
        let mine = Slot::take_of(self.key, self.max, "this user or key", what)?;
        let org = Slot::take_of(
            format!("inbox:org:{}", viewer.org_id),
            MAX_PER_ORG,
            "this organization",
            what,
        )?;
        Ok((mine, org))
    }
}

/// The viewer `params`' credentials are, with what its sockets are counted
/// against.
async fn authenticate(
    app: &App,
    params: &HashMap<String, String>,
) -> Result<(Viewer, Credential), Error> {
    let given = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());
    if let Some(token) = given("session_token") {
        let viewer = socket::verify(app, token)?;
        let credential = match &viewer.user_id {
            Some(user) => Credential::user(user),
            None => Credential::key("token", &viewer.token_id),
        };
        return Ok((viewer, credential));
    }
    let Some(secret) = given("api_key") else {
        return Err(Error::Unauthorized(
            "missing credentials: add ?session_token=<token from GET /conversations/live> or ?api_key=<API key>"
                .into(),
        ));
    };
    let caller = api_key_caller(app, secret, given("mode")).await?;
    let credential = match &caller.principal {
        Principal::ApiKey { key_id, .. } => Credential::key("key", key_id),
        Principal::Session { user_id, .. } => Credential::user(user_id),
    };
    Ok((Viewer::of(app, &caller), credential))
}

/// One open inbox socket.
struct Inbox {
    app: Arc<App>,
    socket: WebSocket,
    viewer: Viewer,
}

/// Why a socket ends.
enum Ending {
    /// The client left, or its connection broke.
    ClientGone,
    /// Closed by the relay, with an `error` message first.
    Dropped(String),
}

impl Inbox {
    /// Pushes the inbox to the client until it leaves or is dropped, then
    /// closes the socket.
    async fn run(mut self) {
        let why = match self.stream().await {
            Ending::ClientGone => return,
            Ending::Dropped(why) => why,
        };
        let _ = self.send(&error(&why)).await;
        let frame = CloseFrame {
            code: close_code::POLICY,
            reason: why.chars().take(100).collect::<String>().into(),
        };
        let _ =
            tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Close(Some(frame)))).await;
    }

    async fn stream(&mut self) -> Ending {
        // Subscribed before `connected`: every change written after the
        // client reads it arrives.
        let mut feed = inbox_feed::subscribe(&self.app, &self.viewer.tenant());
        let connected = json!({"type": "connected", "data": {
            "org_id": self.viewer.org_id,
            "mode": self.viewer.mode,
            "user_id": self.viewer.user_id,
        }});
        if !self.send(&connected).await {
            return Ending::ClientGone;
        }
        let idle = tokio::time::sleep(IDLE_TIMEOUT);
        tokio::pin!(idle);
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        loop {
            tokio::select! {
                entry = feed.recv() => match entry {
                    Ok(entry) => {
                        if !self.push(&entry).await {
                            return Ending::ClientGone;
                        }
                    }
                    Err(RecvError::Lagged(n)) => return Ending::Dropped(format!(
                        "the socket fell {n} changes behind; reconnect and reload the inbox"
                    )),
                    Err(RecvError::Closed) => return Ending::Dropped(
                        "the inbox feed stopped; reconnect".into()
                    ),
                },
                message = self.socket.recv() => {
                    idle.as_mut().reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            if !self.answer(text.as_str()).await {
                                return Ending::ClientGone;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            if !self.send(&error("binary messages are not accepted; send JSON text")).await {
                                return Ending::ClientGone;
                            }
                        }
                        // Pings are answered by the socket itself.
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return Ending::ClientGone,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "inbox socket failed");
                            return Ending::ClientGone;
                        }
                    }
                }
                _ = recheck.tick() => match self.viewer.still_allowed(&self.app).await {
                    Ok(true) => {}
                    Ok(false) => return Ending::Dropped(
                        "the session ended or the user's access changed; open the socket again".into()
                    ),
                    // The store is down: keep the socket, check again later.
                    Err(e) => tracing::warn!(error = %e, "inbox socket: the access re-check failed"),
                },
                _ = &mut idle => return Ending::Dropped(format!(
                    "no message from the client in {} s; send {{\"type\":\"ping\"}} to keep the socket open",
                    IDLE_TIMEOUT.as_secs()
                )),
            }
        }
    }

    /// Passes on one change if the viewer may see it; false when the client
    /// is gone.
    async fn push(&mut self, entry: &Shared) -> bool {
        if !self.viewer.sees(entry) {
            return true;
        }
        self.send(&json!({"type": entry.event_type, "data": entry.data}))
            .await
    }

    /// Answers a client message; false when the client is gone.
    async fn answer(&mut self, text: &str) -> bool {
        let message = serde_json::from_str::<Value>(text).ok();
        let reply = match message
            .as_ref()
            .and_then(|v| v.get("type"))
            .and_then(Value::as_str)
        {
            Some("ping") => json!({"type": "pong"}),
            Some(other) => error(&format!(
                "unknown message type {other:?}; the inbox socket accepts only {{\"type\":\"ping\"}}"
            )),
            None => error("messages are JSON objects with a \"type\"; send {\"type\":\"ping\"}"),
        };
        self.send(&reply).await
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

fn error(why: &str) -> Value {
    json!({"type": "error", "error": why})
}
