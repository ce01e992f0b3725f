//! Web chat (SPEC §7, §14 `/ws/web/{session}`): a website visitor types to a
//! web channel's agent. The chat is a call like any other (direction `web`):
//! it is created in the store with its lease, held and renewed by this
//! process like a runner holds a placed call, runs the same
//! [`Conversation`], records each transcript entry through the runner's
//! sink the moment it is said (so live viewers, the post-call report and
//! webhooks see it as they see a phone call) and ends through
//! [`super::finish`].
//!
//! The relay owns the socket; this module owns the call. [`admit`] checks a
//! visitor before the socket is accepted (so refusals are HTTP statuses on
//! the upgrade), [`Admitted::start`] creates the call, [`WebChat::turn`]
//! answers one message while streaming the reply's sentences, and
//! [`WebChat::end`] ends it.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::held::Held;
use super::lease;
use super::voice::{self, Inbound, Outbound, Timings};
use crate::App;
use crate::domain::Tenant;
use crate::domain::call::{Call, Direction};
use crate::domain::channel::{Channel, parse_origin};
use crate::engine::call::{EndReason, TranscriptEntry};
use crate::engine::conversation::{Action, Input};
use crate::engine::sim::Steer;
use crate::error::{Error, Result};
use crate::services::channels::web::WebSessionClaims;
use crate::store::{Condition, StoreError, Write};

/// What the page is told about the channel when the chat connects (the
/// widget's title, first words and look).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatChannel {
    /// The channel's display name.
    pub name: String,
    /// The channel's `config.greeting`, if set.
    pub greeting: Option<String>,
    /// The channel's `config.theme`, as stored (the widget reads `color`,
    /// `background`, `text`, `font`, `radius`, `position`, `title`).
    pub theme: Option<Value>,
}

/// A visitor let in: the session's tenant, channel and agent.
#[derive(Debug, Clone)]
pub struct Admitted {
    tenant: Tenant,
    session_id: String,
    channel: Channel,
    agent_id: String,
    origin: Option<String>,
}

impl Admitted {
    /// What the page is told about the channel.
    pub fn channel(&self) -> ChatChannel {
        let config = self.channel.web_config().unwrap_or_default();
        ChatChannel {
            name: self.channel.name.clone(),
            greeting: config.greeting,
            theme: config.theme,
        }
    }
}

/// Checks a visitor before its socket is accepted: `session_id` must be the
/// token's session; a public session's page `origin` must still be one of
/// the channel's `allowed_origins` (the token may have been carried to
/// another page: 403); the channel must still be a web channel of the
/// token's tenant (404) with an enabled agent — the token's, else the
/// channel's current default (409 with what to fix); and the session must
/// not have been used for a chat already (409: one session, one chat).
pub async fn admit(
    app: &App,
    claims: &WebSessionClaims,
    session_id: &str,
    origin: Option<&str>,
) -> Result<Admitted> {
    if claims.session_id != session_id {
        return Err(Error::Unauthorized(
            "the web session token belongs to another session".into(),
        ));
    }
    let tenant = claims.tenant();
    let channel = match super::super::channels::load(app, &tenant, &claims.channel_id).await {
        Ok((channel, _)) => channel,
        Err(Error::NotFound(_)) => return Err(Error::NotFound("web channel")),
        Err(e) => return Err(e),
    };
    let Some(config) = channel.web_config() else {
        return Err(Error::NotFound("web channel"));
    };
    let origin = origin.and_then(|o| parse_origin(o).ok());
    if claims.public {
        if !config.public {
            return Err(Error::Forbidden(
                "this web channel no longer takes public sessions".into(),
            ));
        }
        match &origin {
            Some(o) if config.allowed_origins.contains(o) => {}
            Some(o) => {
                return Err(Error::Forbidden(format!(
                    "origin {o} is not allowed on this web channel"
                )));
            }
            None => {
                return Err(Error::Forbidden(
                    "a public web session needs the page's Origin header".into(),
                ));
            }
        }
    }
    let agent_id = claims
        .agent_id
        .clone()
        .or_else(|| channel.default_agent_id.clone())
        .ok_or_else(|| {
            Error::Conflict(
                "this web channel has no agent to answer: set its default_agent_id".into(),
            )
        })?;
    let agent = match super::super::agents::load(app, &tenant, &agent_id).await {
        Ok((agent, _)) => agent,
        Err(Error::NotFound(_)) => {
            return Err(Error::Conflict(
                "the web channel's agent no longer exists: set its default_agent_id".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    if !agent.enabled {
        return Err(Error::Conflict(
            "the web channel's agent is disabled; enable it to chat".into(),
        ));
    }
    if super::load(app, &tenant, session_id).await.is_ok() {
        return Err(Error::Conflict(
            "this web session was already used for a chat; open a new session".into(),
        ));
    }
    Ok(Admitted {
        tenant,
        session_id: session_id.to_owned(),
        channel,
        agent_id,
        origin,
    })
}

/// One piece of a reply, in the order the engine decided it.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// A sentence of the agent's reply.
    Agent(String),
    /// Text a person (a supervisor) sent the visitor.
    Human(String),
}

/// What one turn produced.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// The agent's whole reply (its sentences joined), empty when it said nothing.
    pub reply: String,
    /// The transcript entries this turn added (already stored).
    pub entries: Vec<TranscriptEntry>,
    /// Why the chat ended, when this turn ended it.
    pub ended: Option<EndReason>,
}

/// Why a chat stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The conversation ended itself (the agent said goodbye, the time limit).
    Finished,
    /// The visitor closed the page or the socket.
    Left,
    /// No visitor message for the configured idle time.
    Idle,
    /// Ended elsewhere: through the API, or the lease was lost.
    Stopped,
}

/// A live web chat held by this process.
pub struct WebChat {
    held: Held,
    latencies: Vec<u64>,
    /// Supervisors' inputs from the live space (taken by the socket's loop).
    steering: Option<mpsc::Receiver<Steer>>,
}

impl Admitted {
    /// Creates the chat's call (direction `web`, id = the session's id, so a
    /// session makes one chat), takes its lease, records the answer (the
    /// `call.started` event) and builds the conversation.
    pub async fn start(self, app: Arc<App>) -> Result<WebChat> {
        let Admitted {
            tenant,
            session_id,
            channel,
            agent_id,
            origin,
        } = self;
        let now = app.now_rfc3339();
        let greeting = channel
            .web_config()
            .and_then(|c| c.greeting)
            .filter(|g| !g.trim().is_empty());
        let call = Call {
            channel_id: Some(channel.id.clone()),
            starting_message: greeting,
            ..Call::placed(
                session_id,
                Direction::Web,
                agent_id,
                origin.unwrap_or_else(|| "web".to_owned()),
                "web".to_owned(),
                false,
                now,
            )
        };
        let writes = vec![
            Write::Put(super::item(&tenant, &call), Condition::MustNotExist),
            Write::Put(lease::queued(&app, &tenant, &call), Condition::MustNotExist),
        ];
        match app.table.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => {
                return Err(Error::Conflict(
                    "this web session was already used for a chat; open a new session".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let held = Held::take(app, tenant, &call, "the chat was ended as it started").await?;
        let steering = Some(crate::services::live::control::register(&call.id));
        Ok(WebChat {
            held,
            latencies: Vec::new(),
            steering,
        })
    }
}

impl WebChat {
    /// The chat's call.
    pub fn call_id(&self) -> &str {
        &self.held.call_id
    }

    /// The greeting turn (the chat connected: the agent speaks first).
    pub async fn open(&mut self, pieces: mpsc::UnboundedSender<Piece>) -> Turn {
        self.turn(Input::Answered, pieces).await
    }

    /// Answers one visitor message; each sentence of the reply goes to
    /// `pieces` as soon as the engine decides it (an LLM reply streams while
    /// the model writes). The new transcript entries are stored before this
    /// returns.
    pub async fn say(&mut self, text: String, pieces: mpsc::UnboundedSender<Piece>) -> Turn {
        self.turn(Input::Utterance(text), pieces).await
    }

    /// The live space's inputs to this chat, once: the socket's loop listens
    /// to them beside the visitor's messages and hands each to [`WebChat::steer`].
    pub fn take_steering(&mut self) -> Option<mpsc::Receiver<Steer>> {
        self.steering.take()
    }

    /// Applies a supervisor's input (SPEC §11) as a sim call does: a barge is
    /// said now, supervisor text only while the chat is taken over (else
    /// refused), a whisper, takeover or resume is noted. The supervisor is told
    /// whether the chat took it.
    pub async fn steer(&mut self, steer: Steer, pieces: mpsc::UnboundedSender<Piece>) -> Turn {
        let Steer { input, done } = steer;
        if let Some(why) = self.held.refuses(&input) {
            let _ = done.send(Err(why));
            return Turn {
                reply: String::new(),
                entries: Vec::new(),
                ended: self.held.conversation.ended(),
            };
        }
        let turn = self.turn(input, pieces).await;
        let _ = done.send(Ok(()));
        turn
    }

    async fn turn(&mut self, input: Input, pieces: mpsc::UnboundedSender<Piece>) -> Turn {
        let asked = Instant::now();
        let at_ms = self.held.elapsed_ms();
        let mut said: Vec<String> = Vec::new();
        let mut first: Option<u64> = None;
        self.held
            .conversation
            .handle(at_ms, input, &mut |action| match action {
                Action::Say(sentence) => {
                    first.get_or_insert_with(|| {
                        u64::try_from(asked.elapsed().as_millis()).unwrap_or(u64::MAX)
                    });
                    let _ = pieces.send(Piece::Agent(sentence.clone()));
                    said.push(sentence);
                }
                Action::SupervisorSay(text) => {
                    let _ = pieces.send(Piece::Human(text));
                }
                _ => {}
            })
            .await;
        drop(pieces);
        if let Some(ms) = first {
            self.latencies.push(ms);
        }
        let entries = self.held.store_new_entries().await;
        Turn {
            reply: said.join(" "),
            entries,
            ended: self.held.conversation.ended(),
        }
    }

    /// Turns the chat into a voice call over the page's audio (the widget's
    /// call button): the voice pipeline greets, listens and answers aloud
    /// until the visitor leaves or the call ends; returns the call as it
    /// ended.
    pub async fn voice(
        mut self,
        inbound: mpsc::Receiver<Inbound>,
        out: &mut dyn Outbound,
    ) -> Result<(Call, Timings)> {
        // The pipeline listens to the live space itself.
        self.steering = None;
        voice::run(self.held, None, inbound, out).await
    }

    /// Renews the chat's lease (every [`super::lease::RENEW_EVERY`]).
    /// `false` when the chat is no longer this process's: it was ended
    /// through the API or swept; the chat must stop.
    pub async fn keep(&self) -> bool {
        self.held.keep().await
    }

    /// Resolves when the chat was ended through the API.
    pub async fn stopped(&mut self) {
        self.held.stopped().await
    }

    /// Ends the chat for `why` and returns the call as it ended (ended
    /// elsewhere: as that ending left it). A visitor who leaves hangs up
    /// (`completed`, `callee_hung_up`); an idle chat ends as
    /// `silence_timeout`.
    pub async fn end(mut self, why: Ending) -> Result<Call> {
        if why == Ending::Left {
            self.held.hang_up().await;
        }
        let latencies = (why != Ending::Stopped).then_some(self.latencies.as_slice());
        self.held
            .close(latencies, |outcome| {
                if why == Ending::Idle && outcome.end_reason == EndReason::Error {
                    outcome.end_reason = EndReason::SilenceTimeout;
                }
            })
            .await
    }
}
