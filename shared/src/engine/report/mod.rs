//! The post-call report (SPEC §10): `summary`, `outcome`, `sentiment`, the agent's
//! `data_extraction` fields with their types, `success`, `next_steps` — written by the
//! agent's model when one is configured, by the offline analyser otherwise.

mod llm;

pub use llm::{analyse_with_model, report_schema};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::call::CallOutcome;
use crate::domain::agent::Agent;

mod offline;
#[cfg(test)]
mod tests;

/// How a call turned out, for people and for the dialer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The callee agreed to the offer or booking.
    Interested,
    /// The callee declined.
    NotInterested,
    /// The callee asked to be called back.
    CallbackRequested,
    /// The callee asked never to be called again.
    DoNotCall,
    /// The callee asked for a person (transferred or not).
    TransferRequested,
    /// Voicemail answered.
    Voicemail,
    /// Nobody answered.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The call failed (carrier error, platform error).
    Failed,
    /// The callee hung up early.
    HungUp,
    /// The conversation ran its course with none of the above.
    Completed,
}

/// The caller's overall mood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    /// Pleased, agreeable.
    Positive,
    /// Neither.
    Neutral,
    /// Annoyed, refusing, upset.
    Negative,
}

/// A call's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// Two or three sentences on what happened.
    pub summary: String,
    /// How it turned out.
    pub outcome: Outcome,
    /// The caller's mood.
    pub sentiment: Sentiment,
    /// One key per `data_extraction` field of the agent, typed as the field says
    /// (`null` when the call did not reveal it).
    #[schema(value_type = Object)]
    pub extracted_data: Map<String, Value>,
    /// Whether the call achieved the agent's goal.
    pub success: bool,
    /// What should happen next, if anything.
    pub next_steps: Vec<String>,
}

/// The report the offline analyser writes from the transcript and how the call ended:
/// outcome from the end reason and the recognised intents, typed extraction of every
/// `data_extraction` field from the flow's variables and the caller's answers (`null` when
/// the call did not reveal it).
pub fn analyse_offline(agent: &Agent, call: &CallOutcome) -> Report {
    offline::analyse(agent, call)
}
