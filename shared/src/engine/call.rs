//! The contract between a call's conversation and whoever runs it (the call runner of a sim
//! call, a web chat, a phone call): what goes into a call ([`CallSetup`]), what it reports
//! while it lives ([`CallSink`]) and what it leaves behind ([`CallOutcome`]).
//!
//! Nothing here does I/O: knowledge, tools and the language model come in as traits, the
//! runner persists and streams what the sink receives.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::agent::Agent;
use crate::domain::flow::FlowGraph;
use crate::domain::flow::Variables;
use crate::engine::llm::ChatModel;
use crate::engine::tools::ToolRunner;

/// Who said a transcript entry (SPEC §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The AI agent.
    Agent,
    /// The caller / callee.
    User,
    /// A person from the live space speaking on the call.
    Supervisor,
    /// Notes for supervisors (whispers, transfers, voicemail detected); never spoken.
    System,
    /// A tool call and its result.
    Tool,
}

/// One line of a call's transcript. `seq` starts at 1 and has no gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TranscriptEntry {
    /// Position in the transcript, from 1.
    pub seq: u32,
    /// Who spoke.
    pub role: Role,
    /// What was said (for an interrupted reply: what the caller actually heard).
    pub text: String,
    /// Milliseconds from the moment the call was answered (simulated time on sim calls).
    pub at_ms: u64,
    /// The caller cut this reply short.
    pub interrupted: bool,
}

/// How a whisper's [`Role::System`] entry begins: the note itself follows.
pub const WHISPER_PREFIX: &str = "Supervisor whisper: ";

/// What the call's transcript views show instead of a whisper's text.
pub const WHISPER_REDACTED: &str = "A supervisor sent the agent a private note.";

impl TranscriptEntry {
    /// A supervisor's whisper to the agent (only the live space reads its text).
    pub fn is_whisper(&self) -> bool {
        self.role == Role::System && self.text.starts_with(WHISPER_PREFIX)
    }

    /// The entry as the call's transcript views show it: a whisper keeps its
    /// place (`seq` stays gapless) but not its words, which are for
    /// supervisors only.
    pub fn redacted(mut self) -> TranscriptEntry {
        if self.is_whisper() {
            self.text = WHISPER_REDACTED.to_owned();
        }
        self
    }
}

/// The number dialed picks how the simulated callee behaves (SPEC §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Persona {
    /// Answers, replies plausibly, says goodbye.
    Cooperative,
    /// Never connects.
    Busy,
    /// Rings out after 30 s.
    NoAnswer,
    /// A voicemail greeting and a beep.
    Voicemail,
    /// Hangs up after the greeting.
    HangUp,
    /// Asks not to be called again.
    DoNotCall,
    /// Agrees to the offer.
    Interested,
    /// Asks to be called back tomorrow morning.
    Callback,
    /// Declines politely.
    NotInterested,
    /// The carrier fails before ringing.
    CarrierError,
    /// Answers and says nothing.
    Silent,
    /// Asks for a person.
    Human,
}

impl Persona {
    /// The persona for a dialed number: `+150055500NN` per the table, anything else cooperative.
    pub fn for_number(number: &str) -> Persona {
        match number {
            "+15005550002" => Persona::Busy,
            "+15005550003" => Persona::NoAnswer,
            "+15005550004" => Persona::Voicemail,
            "+15005550005" => Persona::HangUp,
            "+15005550006" => Persona::DoNotCall,
            "+15005550007" => Persona::Interested,
            "+15005550008" => Persona::Callback,
            "+15005550009" => Persona::NotInterested,
            "+15005550010" => Persona::CarrierError,
            "+15005550011" => Persona::Silent,
            "+15005550012" => Persona::Human,
            _ => Persona::Cooperative,
        }
    }

    /// The persona named `name` (`sim_persona` in a task's `context_data`).
    pub fn parse(name: &str) -> Option<Persona> {
        serde_json::from_value(Value::String(name.to_owned())).ok()
    }
}

/// Why a call ended (`end_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The agent ended the call (goodbye, end-call phrase, flow `end` node).
    AgentHungUp,
    /// The other side hung up.
    CalleeHungUp,
    /// The line was busy.
    Busy,
    /// Nobody answered.
    NoAnswer,
    /// Voicemail answered.
    Voicemail,
    /// The carrier failed.
    CarrierError,
    /// The caller said nothing for the agent's silence timeout.
    SilenceTimeout,
    /// The call reached the agent's `max_duration_seconds`.
    MaxDuration,
    /// The agent transferred the call to a person.
    Transferred,
    /// Ended through the API or the live space.
    EndedByUser,
    /// Cancelled before it connected.
    Cancelled,
    /// The process running the call went away (its lease lapsed).
    RunnerLost,
    /// Something inside the platform failed.
    Error,
}

/// How the call's conversation ended, as far as the engine can tell (the report's
/// `outcome` refines it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallOutcome {
    /// Whether the callee answered (a busy line or a carrier error never did).
    pub answered: bool,
    /// Why it ended.
    pub end_reason: EndReason,
    /// Simulated or real milliseconds from answer to hang-up (0 if never answered).
    pub duration_ms: u64,
    /// Milliseconds spent ringing before the answer (or before giving up).
    pub ring_ms: u64,
    /// The whole transcript.
    pub transcript: Vec<TranscriptEntry>,
    /// The flow's variables at the end (what the call collected).
    pub variables: Value,
    /// Intents the engine recognised over the call (`do_not_call`, `callback`, …).
    pub intents: Vec<String>,
    /// Where the call was transferred, if it was.
    pub transferred_to: Option<String>,
    /// Turn timings.
    pub metrics: CallMetrics,
}

/// Turn timings kept on the call (SPEC §10 `metrics`, plus the engine's own overhead).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallMetrics {
    /// Agent turns taken.
    pub turns: u32,
    /// Mean time from the end of the caller's turn to the agent's first sentence.
    pub avg_turn_latency_ms: f64,
    /// 95th percentile of the same.
    pub p95_turn_latency_ms: f64,
    /// Mean time the engine itself spent per turn (everything but provider time), in µs.
    pub avg_engine_overhead_us: f64,
    /// 99th percentile of the same.
    pub p99_engine_overhead_us: f64,
}

/// Search over the agent's knowledge documents (voice mode: short, speakable passages).
#[async_trait]
pub trait KnowledgeSource: Send + Sync {
    /// The best `limit` passages for `query`, best first, with their scores.
    async fn search(&self, query: &str, limit: usize) -> Vec<Passage>;
}

/// One passage a knowledge search returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// The document it came from.
    pub document_id: String,
    /// The passage's text.
    pub text: String,
    /// The search's score (higher is better).
    pub score: f32,
}

/// Everything a call's conversation needs. The runner builds it from the store.
#[derive(Clone)]
pub struct CallSetup {
    /// The call's id.
    pub call_id: String,
    /// The agent, as stored.
    pub agent: Agent,
    /// The agent's flow, parsed, if it has one.
    pub flow: Option<Arc<FlowGraph>>,
    /// Variables known before the call: `context.*` (task `context_data`), `contact.*`,
    /// and the flow's top-level names.
    pub variables: Variables,
    /// The task's `starting_message`, which replaces the agent's greeting.
    pub starting_message: Option<String>,
    /// The number dialed (outbound) or the caller (inbound).
    pub to: String,
    /// The caller id.
    pub from: String,
    /// The model for `llm` turns; `None` runs the offline engine.
    pub model: Option<Arc<dyn ChatModel>>,
    /// The model to continue on when `model` is down.
    pub fallback_model: Option<Arc<dyn ChatModel>>,
    /// The agent's knowledge.
    pub knowledge: Option<Arc<dyn KnowledgeSource>>,
    /// The agent's tools (saved and MCP).
    pub tools: Option<Arc<dyn ToolRunner>>,
}

/// What a call reports while it lives: the runner persists these and streams them to
/// viewers. Called in order; a slow sink slows only its own call.
#[async_trait]
pub trait CallSink: Send {
    /// The callee answered, `ring_ms` after dialing.
    async fn answered(&mut self, ring_ms: u64);
    /// A new transcript entry.
    async fn entry(&mut self, entry: &TranscriptEntry);
}
