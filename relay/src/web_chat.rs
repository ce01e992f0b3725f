//! `/ws/web/{session}?token=…` (SPEC §14): a website visitor's text chat
//! with a web channel's agent (`&mode=voice`: a spoken one, see
//! [`crate::web_voice`]). The visitor is checked on the upgrade (401 for
//! a bad or expired token or another session's, 403 for a public session
//! from a page that is not an allowed origin, 404 for a channel that is gone,
//! 409 when there is no agent to answer or the session was used, 429 over
//! the per-address connection limit); the chat itself is a `web` call run by
//! [`switchboard::services::calls::web_chat`].
//!
//! Messages (JSON text frames). In: `{"type":"user_message","text"}`,
//! `{"type":"ping"}`. Out: `connected` (with the channel's name, greeting and
//! theme for the widget), `typing` `{active}`, `agent_message`
//! `{id, text, final}` (a piece per sentence as it is produced, then
//! `final: true` with the whole reply; a person's text has `author:
//! "human"`), `transcript_update` (the entries not sent before, each with its
//! `seq`), `call_status_update` and `end` when the chat ends, `error`
//! `{"type":"error","error"}` for a message that is refused, `pong`.
//! Bounded: frame and message size, text length, messages per minute, idle
//! time (`SWITCHBOARD_WEB_CHAT_IDLE_SECONDS`), connections per address.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard::App;
use switchboard::error::Error;
use switchboard::services::calls::lease::RENEW_EVERY;
use switchboard::services::calls::web_chat::{self, Admitted, Ending, Piece, Turn, WebChat};
use switchboard::services::channels::web::verify_web_session_token;
use switchboard::services::live::control::next_steer;
use tokio::sync::mpsc;

use switchboard_functions::http::Path;

use crate::reject::reject;

/// Open chats one client address may hold at once.
pub const MAX_CHATS_PER_ADDRESS: usize = 5;
/// The largest frame or message a visitor may send (a chat message is text).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// The longest visitor message, in characters.
pub const MAX_TEXT_CHARS: usize = 2_000;
/// Visitor messages per minute; more are refused with an `error`.
pub const MAX_MESSAGES_PER_MINUTE: usize = 20;

/// The web chat route.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ws/web/{session}", get(upgrade))
        .with_state(ChatState {
            app,
            open: Arc::default(),
        })
}

#[derive(Deserialize)]
struct Credentials {
    token: Option<String>,
    /// `voice`: the visitor talks out loud ([`crate::web_voice`]); else text.
    mode: Option<String>,
}

/// The client's address: the socket's peer (the local server and the relay
/// container both record it); requests with none share one bucket.
struct Peer(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Peer(client_ip(peer, &parts.headers)))
    }
}

/// The visitor's address. Behind the relay's load balancer (a peer in the
/// VPC's private ranges; the relay's security group admits only the
/// balancer) it is the last `X-Forwarded-For` hop, the one the balancer
/// appended; any other peer is the visitor itself and its header is ignored
/// (a client cannot pick its own bucket).
fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let behind_balancer = match peer {
        Some(IpAddr::V4(ip)) => ip.is_private(),
        Some(IpAddr::V6(ip)) => ip.is_unique_local(),
        None => false,
    };
    if !behind_balancer {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .next_back()
        .or(peer)
}

/// Open chats per client address, for one router (one relay instance).
#[derive(Default)]
struct OpenChats(Mutex<HashMap<Option<IpAddr>, usize>>);

impl OpenChats {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<IpAddr>, usize>> {
        // A poisoned count is still a count.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One open chat counted against its address until dropped.
struct Slot {
    open: Arc<OpenChats>,
    peer: Option<IpAddr>,
}

impl Slot {
    fn take(open: &Arc<OpenChats>, peer: Option<IpAddr>) -> Option<Slot> {
        let mut counts = open.lock();
        let n = counts.entry(peer).or_default();
        if *n >= MAX_CHATS_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: open.clone(),
            peer,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.lock();
        if let Some(n) = counts.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}

#[derive(Clone)]
struct ChatState {
    app: Arc<App>,
    open: Arc<OpenChats>,
}

async fn upgrade(
    State(ChatState { app, open }): State<ChatState>,
    Path(session): Path<String>,
    Peer(peer): Peer,
    headers: HeaderMap,
    credentials: Result<Query<Credentials>, QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let (token, mode) = match credentials {
        Ok(Query(c)) => (c.token.unwrap_or_default(), c.mode),
        Err(_) => (String::new(), None),
    };
    let voice = match mode.as_deref() {
        None | Some("text") => false,
        Some("voice") => true,
        Some(other) => {
            return reject(Error::field(
                "mode",
                format!("must be text or voice, not {other:?}"),
            ));
        }
    };
    let claims = match verify_web_session_token(&app, &token) {
        Ok(claims) => claims,
        Err(e) => return reject(e),
    };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let admitted = match web_chat::admit(&app, &claims, &session, origin).await {
        Ok(admitted) => admitted,
        Err(e) => return reject(e),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => {
            return reject(Error::BadRequest(
                "this is a WebSocket endpoint: send an Upgrade request".into(),
            ));
        }
    };
    let Some(slot) = Slot::take(&open, peer) else {
        return reject(Error::RateLimited(5));
    };
    ws.read_buffer_size(crate::READ_BUFFER)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            serve(app, admitted, socket, voice).await;
        })
        .into_response()
}

fn frame(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

fn error_message(why: &str) -> Message {
    frame(json!({"type": "error", "error": why}))
}

/// Runs one chat over its socket to its end.
async fn serve(app: Arc<App>, admitted: Admitted, mut socket: WebSocket, voice: bool) {
    let channel = admitted.channel();
    let mut chat = match admitted.start(app.clone()).await {
        Ok(chat) => chat,
        Err(e) => {
            let why = match e {
                Error::Internal(cause) => {
                    // The cause is for operators; the page gets a generic message.
                    tracing::error!(%cause, "starting a web chat failed");
                    "the chat could not start; try again".to_owned()
                }
                other => other.to_string(),
            };
            let _ = socket.send(error_message(&why)).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    };
    let call_id = chat.call_id().to_owned();
    let mut connected = json!({"type": "connected", "data": {
        "call_id": call_id, "status": "in_progress", "channel": channel,
    }});
    if voice {
        connected["data"]["audio"] = json!({"encoding": "pcm_s16le", "sample_rate": 16_000});
        if socket.send(frame(connected)).await.is_err() {
            let _ = chat.end(Ending::Left).await;
            return;
        }
        return crate::web_voice::converse(chat, socket).await;
    }
    let why = match socket.send(frame(connected)).await {
        Ok(()) => converse(&app, &mut chat, &mut socket).await,
        Err(_) => Ending::Left,
    };
    let ended = match chat.end(why).await {
        Ok(call) => call,
        Err(e) => {
            tracing::error!(call = %call_id, error = %e, "ending a web chat failed");
            let _ = socket
                .send(error_message("the chat could not be ended cleanly"))
                .await;
            return;
        }
    };
    if why == Ending::Left {
        return;
    }
    let (status, reason) = (ended.status, ended.end_reason);
    let data = json!({"call_id": call_id, "status": status, "end_reason": reason});
    let _ = socket
        .send(frame(json!({"type": "call_status_update", "data": data})))
        .await;
    let _ = socket
        .send(frame(
            json!({"type": "end", "data": {"call_id": call_id, "reason": reason}}),
        ))
        .await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "the chat ended".into(),
        })))
        .await;
}

/// What a visitor sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    UserMessage { text: String },
    Ping,
}

/// Visitor messages in the last minute.
struct Rate(VecDeque<Instant>);

impl Rate {
    /// Counts a message now; `false` when it is over the limit.
    fn allow(&mut self, now: Instant) -> bool {
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.0.pop_front();
        }
        if self.0.len() >= MAX_MESSAGES_PER_MINUTE {
            return false;
        }
        self.0.push_back(now);
        true
    }
}

/// The chat from the greeting to its end; returns why it ended.
async fn converse(app: &App, chat: &mut WebChat, socket: &mut WebSocket) -> Ending {
    let call_id = chat.call_id().to_owned();
    let mut replies = 0u64;
    let mut message_id = || {
        replies += 1;
        format!("{call_id}-{replies}")
    };
    let id = message_id();
    let (tx, rx) = mpsc::unbounded_channel();
    let (turn, streamed) = tokio::join!(chat.open(tx), stream(&id, rx, socket));
    if let Some(why) = reply(&call_id, &id, turn, streamed, false, socket).await {
        return why;
    }
    let idle = app.config.web_chat_idle;
    let mut deadline = tokio::time::Instant::now() + idle;
    let mut renew = tokio::time::interval(RENEW_EVERY);
    renew.tick().await;
    let mut rate = Rate(VecDeque::new());
    let mut steering = chat.take_steering();
    loop {
        let received = tokio::select! {
            received = socket.recv() => received,
            () = tokio::time::sleep_until(deadline) => return Ending::Idle,
            _ = renew.tick() => {
                if chat.keep().await { continue } else { return Ending::Stopped }
            }
            () = chat.stopped() => return Ending::Stopped,
            Some(steer) = next_steer(&mut steering) => {
                // A supervisor in the live space: a barge streams like a reply,
                // supervisor text reaches the page as a person's message.
                let id = message_id();
                let (tx, rx) = mpsc::unbounded_channel();
                let (turn, streamed) = tokio::join!(chat.steer(steer, tx), stream(&id, rx, socket));
                if let Some(why) = reply(&call_id, &id, turn, streamed, false, socket).await {
                    return why;
                }
                continue;
            }
        };
        let raw = match received {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ending::Left,
            Some(Ok(Message::Text(raw))) => raw,
            Some(Ok(Message::Binary(_))) => {
                if send(
                    socket,
                    error_message("send chat messages as JSON text frames"),
                )
                .await
                {
                    continue;
                }
                return Ending::Left;
            }
            Some(Ok(_)) => continue,
        };
        let refusal = match serde_json::from_str::<Incoming>(raw.as_str()) {
            Ok(Incoming::Ping) => {
                if send(socket, frame(json!({"type": "pong"}))).await {
                    continue;
                }
                return Ending::Left;
            }
            Ok(Incoming::UserMessage { text }) => match refuse(&text, &mut rate) {
                None => Ok(text),
                Some(why) => Err(why),
            },
            Err(e) => Err(format!(
                "expected {{\"type\":\"user_message\",\"text\":\"...\"}} or {{\"type\":\"ping\"}}: {e}"
            )),
        };
        let text = match refusal {
            Ok(text) => text,
            Err(why) => {
                if send(socket, error_message(&why)).await {
                    continue;
                }
                return Ending::Left;
            }
        };
        deadline = tokio::time::Instant::now() + idle;
        if !send(socket, typing(true)).await {
            return Ending::Left;
        }
        let id = message_id();
        let (tx, rx) = mpsc::unbounded_channel();
        let (turn, streamed) = tokio::join!(chat.say(text, tx), stream(&id, rx, socket));
        if let Some(why) = reply(&call_id, &id, turn, streamed, true, socket).await {
            return why;
        }
    }
}

/// Why a visitor message is refused, if it is.
fn refuse(text: &str, rate: &mut Rate) -> Option<String> {
    if text.trim().is_empty() {
        Some("the message is empty".to_owned())
    } else if text.chars().count() > MAX_TEXT_CHARS {
        Some(format!(
            "the message is longer than {MAX_TEXT_CHARS} characters"
        ))
    } else if !rate.allow(Instant::now()) {
        Some(format!(
            "more than {MAX_MESSAGES_PER_MINUTE} messages a minute; wait a moment"
        ))
    } else {
        None
    }
}

fn typing(active: bool) -> Message {
    frame(json!({"type": "typing", "data": {"active": active}}))
}

/// Sends one message; `false` when the visitor is gone.
async fn send(socket: &mut WebSocket, message: Message) -> bool {
    socket.send(message).await.is_ok()
}

/// Forwards a reply's pieces as the engine produces them; `false` when the
/// visitor is gone (the turn still completes and is stored).
async fn stream(
    id: &str,
    mut pieces: mpsc::UnboundedReceiver<Piece>,
    socket: &mut WebSocket,
) -> bool {
    let mut open = true;
    while let Some(piece) = pieces.recv().await {
        if !open {
            continue;
        }
        let data = match piece {
            Piece::Agent(text) => json!({"id": id, "text": text, "final": false}),
            Piece::Human(text) => {
                json!({"id": format!("{id}-human"), "text": text, "final": true, "author": "human"})
            }
        };
        open = send(
            socket,
            frame(json!({"type": "agent_message", "data": data})),
        )
        .await;
    }
    open
}

/// Closes a turn on the page: the whole reply (`final: true`), the end of
/// typing, the new transcript entries. `Some` when the chat is over.
async fn reply(
    call_id: &str,
    id: &str,
    turn: Turn,
    streamed: bool,
    typed: bool,
    socket: &mut WebSocket,
) -> Option<Ending> {
    let mut open = streamed;
    if open && !turn.reply.is_empty() {
        let data = json!({"id": id, "text": turn.reply, "final": true});
        open = send(
            socket,
            frame(json!({"type": "agent_message", "data": data})),
        )
        .await;
    }
    if open && typed {
        open = send(socket, typing(false)).await;
    }
    if open && !turn.entries.is_empty() {
        // A supervisor's whisper keeps its place (`seq` has no gap) but not its words.
        let entries: Vec<_> = turn.entries.into_iter().map(|e| e.redacted()).collect();
        let data = json!({"call_id": call_id, "transcript": entries});
        open = send(
            socket,
            frame(json!({"type": "transcript_update", "data": data})),
        )
        .await;
    }
    if !open {
        Some(Ending::Left)
    } else if turn.ended.is_some() {
        Some(Ending::Finished)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn the_balancers_last_hop_is_the_visitor_and_nobody_elses_header_counts() {
        let balancer: IpAddr = "10.0.3.7".parse().unwrap();
        let visitor: IpAddr = "203.0.113.9".parse().unwrap();
        let h = forwarded("198.51.100.1, 203.0.113.9");
        assert_eq!(client_ip(Some(balancer), &h), Some(visitor));
        assert_eq!(client_ip(Some(balancer), &HeaderMap::new()), Some(balancer));
        // A visitor straight on the socket (or on loopback) picks no bucket.
        assert_eq!(client_ip(Some(visitor), &h), Some(visitor));
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(client_ip(Some(local), &h), Some(local));
        assert_eq!(client_ip(None, &h), None);
    }
}
