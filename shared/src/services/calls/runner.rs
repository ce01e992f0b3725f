//! The call runner: takes a placed call off the `calls` queue, builds its
//! [`CallSetup`] from the store, runs the conversation over its carrier (the
//! simulated carrier; a phone call is placed through its channel's carrier
//! and held by its media stream, [`super::media`]) and
//! records what happens as it happens: the answer, each transcript entry, the
//! end. It holds the call's lease while the call lives.
//!
//! In AWS the relay container consumes the queue ([`consume`]); the local
//! binary runs the same loop in-process.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use super::super::table_keys::*;
use super::{finish, lease};
use crate::App;
use crate::domain::call::{Call, CallStatus};
use crate::domain::flow::Variables;
use crate::domain::{Mode, Tenant};
use crate::engine::call::{
    CallSetup, CallSink, EndReason, KnowledgeSource, Passage, Persona, TranscriptEntry,
};
use crate::engine::sim::{Pace, run_steered_sim_call};
use crate::engine::tools::mcp::McpToolRunner;
use crate::engine::tools::{LocalToolRunner, ToolDefinition, ToolRunner, ToolSet};
use crate::error::{Error, Result};
use crate::services::live::hub::{self, LiveEvent};
use crate::services::views::CallView;
use crate::store::{Condition, Item, StoreError};

/// The queue placed calls wait on.
pub const QUEUE: &str = "calls";
/// Calls one process runs at once (more wait on the queue).
pub const MAX_RUNNING: usize = 256;
/// How long a received message stays hidden before a runner claims it.
const VISIBILITY: Duration = Duration::from_secs(60);
/// Pause between polls of an empty queue.
const IDLE: Duration = Duration::from_millis(50);

/// A message on the calls queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallJob {
    /// The org.
    pub org_id: String,
    /// Live or test partition.
    pub mode: Mode,
    /// The call to run.
    pub call_id: String,
}

impl CallJob {
    fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }
}

/// Puts a placed call on the calls queue.
pub async fn enqueue(app: &App, tenant: &Tenant, call_id: &str) -> Result<()> {
    let job = CallJob {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call_id.to_owned(),
    };
    let body = serde_json::to_string(&job).map_err(|e| Error::Internal(e.to_string()))?;
    app.queue(QUEUE)?.send(&body, Duration::ZERO).await?;
    Ok(())
}

/// This process's name as a lease owner.
pub(crate) fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| format!("runner-{}", uuid::Uuid::now_v7()))
}

/// The calls this process runs, with a switch that stops each (`end`/`cancel`
/// through the API reach a call run here at once; one run elsewhere through a
/// signed [`crate::services::live::control::Control::Stop`] to its holder, or
/// at the holder's next lease renewal, which finds the call ended).
static RUNNING: LazyLock<Mutex<HashMap<String, watch::Sender<bool>>>> =
    LazyLock::new(Default::default);

/// Registers a call this process runs; the receiver turns `true` when it
/// must stop (ended through the API).
pub(super) fn register(call_id: &str) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    if let Ok(mut m) = RUNNING.lock() {
        m.insert(call_id.to_owned(), tx);
    }
    rx
}

/// Forgets a call this process ran.
pub(crate) fn forget(call_id: &str) {
    if let Ok(mut m) = RUNNING.lock() {
        m.remove(call_id);
    }
}

/// Whether this process runs `call_id` now (its live events are on this
/// process's hub; anyone else reads the store).
pub fn runs_here(call_id: &str) -> bool {
    RUNNING.lock().is_ok_and(|m| m.contains_key(call_id))
}

/// Stops a call this process runs, if it runs it.
pub(crate) fn signal_stop(call_id: &str) {
    if let Ok(m) = RUNNING.lock()
        && let Some(tx) = m.get(call_id)
    {
        let _ = tx.send(true);
    }
}

/// The calls this process runs now.
pub(crate) fn running_calls() -> Vec<String> {
    RUNNING
        .lock()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Consumes the calls queue until `stop` changes, running at most
/// `max_running` calls at once. A message is deleted once its call's lease
/// is taken: from then on the lease, not redelivery, recovers a runner that
/// dies.
pub async fn consume(app: Arc<App>, mut stop: watch::Receiver<bool>, max_running: usize) {
    let Ok(queue) = app.queue(QUEUE).cloned() else {
        tracing::error!("the calls queue is not configured; no calls will run");
        return;
    };
    let slots = Arc::new(Semaphore::new(max_running.max(1)));
    let pace = Pace {
        scale: app.config.sim_time_scale,
    };
    loop {
        if *stop.borrow() {
            return;
        }
        let first = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let want = (slots.available_permits() + 1).min(10);
        let batch = tokio::select! {
            r = queue.receive(want, VISIBILITY) => r,
            _ = stop.changed() => return,
        };
        let messages = match batch {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => {
                drop(first);
                tokio::select! {
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            Err(e) => {
                drop(first);
                tracing::warn!(error = %e, "receiving from the calls queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut permit = Some(first);
        for m in messages {
            let slot = match permit.take() {
                Some(p) => p,
                None => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let (app, queue) = (app.clone(), queue.clone());
            tokio::spawn(async move {
                let _slot = slot;
                let job: CallJob = match serde_json::from_str(&m.body) {
                    Ok(job) => job,
                    Err(e) => {
                        tracing::error!(error = %e, "dropping a malformed calls message");
                        let _ = queue.delete(&m.receipt).await;
                        return;
                    }
                };
                match claim(&app, &job).await {
                    Ok(claimed) => {
                        if let Err(e) = queue.delete(&m.receipt).await {
                            tracing::warn!(error = %e, "deleting a claimed calls message failed");
                        }
                        if let Some(claimed) = claimed {
                            let knowledge = Some(app.clone());
                            if let Err(e) = drive(&app, knowledge, claimed, pace).await {
                                tracing::error!(call = %job.call_id, error = %e, "call run failed");
                            }
                        }
                    }
                    // Left on the queue: it comes back after its visibility timeout.
                    Err(e) => {
                        tracing::warn!(call = %job.call_id, error = %e, "claiming a call failed")
                    }
                }
            });
        }
    }
}

/// A call this runner holds the lease of.
pub struct Claimed {
    tenant: Tenant,
    call: Call,
}

/// Takes the lease of `job`'s call. `None` when there is nothing to run (the
/// call ended, is gone, or another live runner has it).
pub async fn claim(app: &App, job: &CallJob) -> Result<Option<Claimed>> {
    let tenant = job.tenant();
    let call = match super::load(app, &tenant, &job.call_id).await {
        Ok((call, _)) => call,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if call.status.is_final() {
        return Ok(None);
    }
    Ok(lease::hold(app, &tenant, &call.id, owner(), None)
        .await?
        .map(|_| Claimed { tenant, call }))
}

/// Runs a claimed call to its end. `knowledge` gives the conversation the
/// agent's documents (it needs a shared handle on the app).
pub async fn drive(
    app: &App,
    knowledge: Option<Arc<App>>,
    claimed: Claimed,
    pace: Pace,
) -> Result<()> {
    let Claimed { tenant, call } = claimed;
    let id = call.id.clone();
    if !call.simulated {
        // The carrier dials; the call's media stream takes it from there.
        return super::media::place(app, &tenant, &call).await;
    }
    let setup = match setup(app, knowledge, &tenant, &call).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(call = %id, error = %e, "building the call failed");
            finish(app, &tenant, &id, None, |c, at| c.end(EndReason::Error, at)).await?;
            return Ok(());
        }
    };
    let persona = call
        .context
        .get("sim_persona")
        .and_then(Value::as_str)
        .and_then(Persona::parse)
        .unwrap_or_else(|| Persona::for_number(&call.to));
    let mut stopped = register(&id);
    let mut sink = StoreSink {
        app,
        tenant: &tenant,
        call_id: &id,
    };
    let mut steer = crate::services::live::control::register(&id);
    let conversation = run_steered_sim_call(setup, persona, pace, &mut sink, &mut steer);
    tokio::pin!(conversation);
    let mut cut = false;
    let mut renew = tokio::time::interval(lease::RENEW_EVERY);
    renew.tick().await;
    let outcome = loop {
        tokio::select! {
            outcome = &mut conversation => break Some(outcome),
            _ = renew.tick() => match lease::hold(app, &tenant, &id, owner(), None).await {
                Ok(Some(_)) => super::super::campaigns::slots::renew(app, &tenant, &call).await,
                // Ended through the API or swept: stop talking.
                Ok(None) => break None,
                Err(e) => tracing::warn!(call = %id, error = %e, "renewing the call's lease failed"),
            },
            // Ended through the API (already final) or cut by a drain.
            _ = stopped.changed() => {
                cut = true;
                break None;
            }
        }
    };
    forget(&id);
    crate::services::live::control::forget(&id);
    if let Some(outcome) = outcome {
        if super::recording::sim::worth_recording(&outcome) {
            super::recording::sim::offer(app, &tenant, &id).await;
        }
        finish(app, &tenant, &id, None, |c, at| c.finish(&outcome, at)).await?;
    } else if cut {
        // A call the API ended is final already and stays as it is.
        finish(app, &tenant, &id, None, |c, at| {
            c.end(EndReason::RunnerLost, at)
        })
        .await?;
    }
    Ok(())
}

/// Places task `task_id`'s call and runs it here, to its end, as fast as the
/// machine allows, with its transcript and report written before returning
/// (the sandbox's demo calls). Returns the call's id.
pub async fn run_task_now(app: &App, tenant: &Tenant, task_id: &str) -> Result<String> {
    let call_id = super::place_task_call(app, tenant, task_id).await?;
    let job = CallJob {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call_id.clone(),
    };
    if let Some(claimed) = claim(app, &job).await? {
        drive(app, None, claimed, Pace { scale: 0.0 }).await?;
    }
    super::post_call::settle(app, tenant, &call_id).await?;
    Ok(call_id)
}

/// Everything the conversation needs, from the store: the agent, its flow,
/// the task's context as `context.*` (and top-level) variables, the callee as
/// `contact.*`, its knowledge and tools, and its model (`None`: the offline
/// engine, always in test mode).
pub async fn setup(
    app: &App,
    knowledge: Option<Arc<App>>,
    tenant: &Tenant,
    call: &Call,
) -> Result<CallSetup> {
    let (agent, _) = super::super::agents::load(app, tenant, &call.agent_id).await?;
    let flow = match &agent.flow_id {
        None => None,
        Some(flow_id) => match super::super::flows::load(app, tenant, flow_id).await {
            Ok((flow, _)) => {
                let (_, graph) = super::super::flows::check_document(app, tenant, flow.doc).await?;
                Some(Arc::new(graph))
            }
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
    };
    let tools = call_tools(app, tenant, &agent.id, &call.id).await?;
    let model = call_model(app, tenant, call, &agent.llm_model).await;
    let fallback_model = match (&model, &agent.fallback_llm_model) {
        // The fallback stands in for a provider that is down; the offline engine never is.
        (Some(_), Some(name)) => call_model(app, tenant, call, name).await,
        _ => None,
    };
    let knowledge = knowledge.map(|app| {
        Arc::new(AgentKnowledge {
            app,
            tenant: tenant.clone(),
            agent_id: agent.id.clone(),
        }) as Arc<dyn KnowledgeSource>
    });
    Ok(CallSetup {
        call_id: call.id.clone(),
        variables: variables(call, &app.now().format("%Y-%m-%d").to_string()),
        starting_message: call.starting_message.clone(),
        to: call.to.clone(),
        from: call.from.clone(),
        model,
        fallback_model,
        knowledge,
        tools,
        flow,
        agent,
    })
}

/// How long a call about to start waits for its MCP servers' handshakes (all at once).
const MCP_AT_CALL_START: Duration = Duration::from_secs(5);

/// The agent's tools for one call: its saved tools (by name, and by id for flows), then
/// the tools of each assigned MCP server that answers within [`MCP_AT_CALL_START`]. A
/// server that does not is logged and left out: the call goes on with the others.
pub async fn call_tools(
    app: &App,
    tenant: &Tenant,
    agent_id: &str,
    call_id: &str,
) -> Result<Option<Arc<dyn ToolRunner>>> {
    let saved = super::super::tools::agent_tools(app, tenant, agent_id).await?;
    let servers = super::super::mcp::agent_mcp_servers(app, tenant, agent_id).await?;
    let mut runners: Vec<Arc<dyn ToolRunner>> = Vec::new();
    let definitions: Vec<ToolDefinition> = saved
        .iter()
        .filter_map(|t| ToolDefinition::from_saved(t).ok())
        .collect();
    if !definitions.is_empty() {
        let ids = saved.iter().map(|t| (t.id.clone(), t.name.clone()));
        runners.push(Arc::new(
            LocalToolRunner::new(definitions, app.net.clone()).with_ids(ids),
        ));
    }
    let handshakes = servers.iter().map(|server| {
        McpToolRunner::connect_within(&app.net, &server.url, &server.headers, MCP_AT_CALL_START)
    });
    for (server, connected) in servers
        .iter()
        .zip(futures::future::join_all(handshakes).await)
    {
        match connected {
            Ok(runner) => runners.push(Arc::new(runner)),
            Err(e) => tracing::warn!(call = %call_id, mcp_server = %server.id, error = %e,
                "MCP server unreachable at call start; its tools are not offered on this call"),
        }
    }
    Ok(match runners.len() {
        0 => None,
        1 => runners.pop(),
        _ => Some(Arc::new(ToolSet::new(runners))),
    })
}

/// The model named `llm_model` for this call: `None` is the offline engine (always in test
/// mode). A named provider without a key still gets its call, on the offline engine, and the
/// log says why.
async fn call_model(
    app: &App,
    tenant: &Tenant,
    call: &Call,
    llm_model: &str,
) -> Option<Arc<dyn crate::engine::llm::ChatModel>> {
    match crate::engine::llm::resolve::model_for(app, tenant, llm_model).await {
        Ok(model) => model,
        Err(e) => {
            tracing::warn!(call = %call.id, llm_model, error = %e,
                "the model is unavailable; this call goes on without it");
            None
        }
    }
}

/// `context.*` is the task's `context_data`; its keys are also top-level
/// names (what flows refer to) unless they would shadow `context`/`contact`;
/// `contact.phone` is the callee, `contact.name` the context's
/// `customer_name` or `name`; `today` (`YYYY-MM-DD`, UTC) lets the engine
/// read "tomorrow" as a date.
fn variables(call: &Call, today: &str) -> Variables {
    let mut vars = Variables::new();
    vars.set("today", Value::String(today.to_owned()));
    for (k, v) in &call.context {
        if !k.contains('.') && k != "context" && k != "contact" {
            vars.set(k, v.clone());
        }
    }
    vars.set("context", Value::Object(call.context.clone()));
    vars.set("contact.phone", Value::String(call.to.clone()));
    if let Some(name) = ["customer_name", "name"]
        .iter()
        .find_map(|k| call.context.get(*k).filter(|v| v.is_string()))
    {
        vars.set("contact.name", name.clone());
    }
    vars
}

/// The agent's documents, searched in voice mode (short, speakable passages).
struct AgentKnowledge {
    app: Arc<App>,
    tenant: Tenant,
    agent_id: String,
}

#[async_trait]
impl KnowledgeSource for AgentKnowledge {
    async fn search(&self, query: &str, limit: usize) -> Vec<Passage> {
        let req = super::super::knowledge::SearchRequest {
            query: query.to_owned(),
            top_k: limit.clamp(1, 50),
            voice_mode: true,
            agent_id: Some(self.agent_id.clone()),
            document_ids: None,
            min_score: super::super::knowledge::min_score(&self.app, self.tenant.mode).await,
        };
        match super::super::knowledge::search(&self.app, &self.tenant, &req).await {
            Ok(hits) => hits
                .into_iter()
                .map(|h| Passage {
                    document_id: h.document_id,
                    text: h.text,
                    score: h.score,
                })
                .collect(),
            Err(e) => {
                // A failing search leaves the agent without an answer, not the call.
                tracing::warn!(error = %e, "knowledge search during a call failed");
                Vec::new()
            }
        }
    }
}

/// Records what a live call reports: the answer (status, lease, `call.started`)
/// and each transcript entry, as its own item, the moment it is said.
pub(super) struct StoreSink<'a> {
    app: &'a App,
    tenant: &'a Tenant,
    call_id: &'a str,
}

impl<'a> StoreSink<'a> {
    /// The sink of call `call_id` (web chats record through it too).
    pub(super) fn new(app: &'a App, tenant: &'a Tenant, call_id: &'a str) -> Self {
        Self {
            app,
            tenant,
            call_id,
        }
    }

    async fn record_answer(&self) -> Result<()> {
        for _ in 0..8 {
            let (mut call, version) = super::load(self.app, self.tenant, self.call_id).await?;
            if call.status != CallStatus::Initiated {
                return Ok(());
            }
            let now = self.app.now_rfc3339();
            call.answer(now.clone())?;
            call.updated_at = now;
            match self
                .app
                .table
                .put(
                    super::item(self.tenant, &call),
                    Condition::VersionEquals(version),
                )
                .await
            {
                Ok(_) => {
                    lease::hold(
                        self.app,
                        self.tenant,
                        self.call_id,
                        owner(),
                        Some(CallStatus::InProgress),
                    )
                    .await?;
                    let answered = LiveEvent::Status {
                        status: call.status,
                        end_reason: None,
                    };
                    hub::publish(self.call_id, answered);
                    let data = serde_json::to_value(CallView::new(call, None))
                        .map_err(|e| Error::Internal(e.to_string()))?;
                    super::super::events::emit(self.app, self.tenant, "call.started", data).await?;
                    return Ok(());
                }
                Err(StoreError::ConditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict("the call kept changing".into()))
    }
}

#[async_trait]
impl CallSink for StoreSink<'_> {
    async fn answered(&mut self, ring_ms: u64) {
        if let Err(e) = self.record_answer().await {
            tracing::warn!(call = %self.call_id, ring_ms, error = %e, "recording the answer failed");
        }
    }

    async fn entry(&mut self, entry: &TranscriptEntry) {
        let item = Item::new(
            self.tenant.pk(),
            call_event_sk(self.call_id, entry.seq),
            serde_json::to_value(entry).unwrap_or_default(),
        );
        if let Err(e) = self.app.table.put(item, Condition::None).await {
            tracing::warn!(call = %self.call_id, seq = entry.seq, error = %e, "storing a transcript entry failed");
        }
        // Live viewers get it even if storing failed: the call goes on either way.
        hub::publish(self.call_id, LiveEvent::Entry(entry.clone()));
    }
}
