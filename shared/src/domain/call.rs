//! A call (SPEC §10) and its state machine: `initiated → in_progress →
//! completed | failed`, or `initiated → failed` when it never connects.
//! Ended calls never change status again.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::call::{CallMetrics, CallOutcome, EndReason, TranscriptEntry};
use crate::engine::report::Report;
use crate::error::Error;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Placed, not connected yet.
    Initiated,
    /// Connected and live.
    InProgress,
    /// Ended after it connected.
    Completed,
    /// Never connected, was cancelled, or its runner died.
    Failed,
}

impl CallStatus {
    /// The name used in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Initiated => "initiated",
            CallStatus::InProgress => "in_progress",
            CallStatus::Completed => "completed",
            CallStatus::Failed => "failed",
        }
    }

    /// Parses a `status` filter.
    pub fn parse(s: &str) -> Option<CallStatus> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }

    /// Whether the call has ended.
    pub fn is_final(self) -> bool {
        matches!(self, CallStatus::Completed | CallStatus::Failed)
    }
}

/// Which way a call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Placed by the platform (tasks, campaigns).
    Outbound,
    /// Received on a channel's number.
    Inbound,
    /// A website visitor (web channel).
    Web,
}

impl Direction {
    /// Parses a `direction` filter.
    pub fn parse(s: &str) -> Option<Direction> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// What the conversation left besides the transcript, kept on the call so the
/// report can be written (and rewritten) later from the store alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Whether the callee answered.
    pub answered: bool,
    /// Simulated or real milliseconds from answer to hang-up.
    pub duration_ms: u64,
    /// Milliseconds spent ringing.
    pub ring_ms: u64,
    /// The flow's variables at the end.
    pub variables: Value,
    /// Intents recognised over the call.
    pub intents: Vec<String>,
    /// Where the call was transferred, if it was.
    pub transferred_to: Option<String>,
}

/// A call as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// UUIDv7 (so ids sort by when calls started).
    pub id: String,
    /// Which way it goes.
    pub direction: Direction,
    /// Where it is in its life.
    pub status: CallStatus,
    /// The agent on the call.
    pub agent_id: String,
    /// The task it was placed for.
    pub task_id: Option<String>,
    /// The campaign it was placed for.
    pub campaign_id: Option<String>,
    /// The campaign contact.
    pub contact_id: Option<String>,
    /// The channel it uses.
    pub channel_id: Option<String>,
    /// Caller id.
    pub from: String,
    /// The number dialed.
    pub to: String,
    /// When it was placed (RFC 3339).
    pub started_at: String,
    /// When it connected.
    pub answered_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Seconds from answer to hang-up.
    pub duration_seconds: Option<u64>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// The final transcript, once the post-call job stored it (until then the
    /// entries live as call events).
    pub transcript: Option<Vec<TranscriptEntry>>,
    /// The report, once written.
    pub report: Option<Report>,
    /// Where the recording is, once there is one.
    pub recording_url: Option<String>,
    /// Turn timings, once it ended.
    pub metrics: Option<CallMetrics>,
    /// What the conversation left (set when it ends).
    pub conversation: Option<Conversation>,
    /// The task's `context_data`, as the call saw it.
    #[serde(default)]
    pub context: serde_json::Map<String, Value>,
    /// The task's `starting_message`.
    pub starting_message: Option<String>,
    /// Whether the simulated carrier places it (test mode, a `sim` channel,
    /// or no telephony configured).
    #[serde(default)]
    pub simulated: bool,
    /// RFC 3339.
    pub updated_at: String,
}

impl Call {
    /// A call just placed (`initiated`): who it is for and where it goes;
    /// the rest (answer, end, transcript, report, …) is filled in as it
    /// happens. The caller sets what links it (task, campaign, contact,
    /// channel), its context and starting message.
    pub fn placed(
        id: String,
        direction: Direction,
        agent_id: String,
        from: String,
        to: String,
        simulated: bool,
        now: String,
    ) -> Call {
        Call {
            id,
            direction,
            status: CallStatus::Initiated,
            agent_id,
            task_id: None,
            campaign_id: None,
            contact_id: None,
            channel_id: None,
            from,
            to,
            started_at: now.clone(),
            answered_at: None,
            ended_at: None,
            duration_seconds: None,
            end_reason: None,
            transcript: None,
            report: None,
            recording_url: None,
            metrics: None,
            conversation: None,
            context: serde_json::Map::new(),
            starting_message: None,
            simulated,
            updated_at: now,
        }
    }

    /// The only transitions a call makes; anything else is a 409.
    pub fn transition(&mut self, to: CallStatus) -> Result<(), Error> {
        use CallStatus::*;
        let allowed = matches!(
            (self.status, to),
            (Initiated, InProgress)
                | (Initiated, Failed)
                | (InProgress, Completed)
                | (InProgress, Failed)
        );
        if !allowed {
            return Err(Error::Conflict(format!(
                "a call that is {} cannot become {}",
                self.status.as_str(),
                to.as_str()
            )));
        }
        self.status = to;
        Ok(())
    }

    /// Records the answer (`initiated → in_progress`).
    pub fn answer(&mut self, at: String) -> Result<(), Error> {
        self.transition(CallStatus::InProgress)?;
        self.answered_at = Some(at);
        Ok(())
    }

    /// Ends the call: `completed` when it had connected, else `failed`, with
    /// `reason`. Calls that never connected or ended in an error fail.
    pub fn end(&mut self, reason: EndReason, at: String) -> Result<(), Error> {
        let failed = self.status == CallStatus::Initiated
            || matches!(
                reason,
                EndReason::Busy
                    | EndReason::NoAnswer
                    | EndReason::CarrierError
                    | EndReason::Cancelled
                    | EndReason::RunnerLost
                    | EndReason::Error
            );
        self.transition(if failed {
            CallStatus::Failed
        } else {
            CallStatus::Completed
        })?;
        self.end_reason = Some(reason);
        self.ended_at = Some(at);
        Ok(())
    }

    /// Ends the call as the conversation reported it.
    pub fn finish(&mut self, outcome: &CallOutcome, at: String) -> Result<(), Error> {
        if outcome.answered && self.status == CallStatus::Initiated {
            self.answer(at.clone())?;
        }
        self.end(outcome.end_reason, at)?;
        self.duration_seconds = Some(outcome.duration_ms.div_ceil(1_000));
        self.metrics = Some(outcome.metrics.clone());
        self.conversation = Some(Conversation {
            answered: outcome.answered,
            duration_ms: outcome.duration_ms,
            ring_ms: outcome.ring_ms,
            variables: outcome.variables.clone(),
            intents: outcome.intents.clone(),
            transferred_to: outcome.transferred_to.clone(),
        });
        Ok(())
    }

    /// The conversation's outcome rebuilt from what is stored (for the report).
    pub fn outcome(&self, transcript: Vec<TranscriptEntry>) -> CallOutcome {
        let c = self.conversation.clone().unwrap_or_default();
        CallOutcome {
            answered: c.answered,
            end_reason: self.end_reason.unwrap_or(EndReason::Error),
            duration_ms: c.duration_ms,
            ring_ms: c.ring_ms,
            transcript,
            variables: c.variables,
            intents: c.intents,
            transferred_to: c.transferred_to,
            metrics: self.metrics.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call::placed(
            "c".into(),
            Direction::Outbound,
            "a".into(),
            "+15555550100".into(),
            "+15005550007".into(),
            true,
            "t0".into(),
        )
    }

    #[test]
    fn calls_move_forward_only() {
        let mut c = call();
        assert!(
            c.transition(CallStatus::Completed).is_err(),
            "not connected"
        );
        c.answer("t1".into()).unwrap();
        assert!(c.answer("t2".into()).is_err(), "answered once");
        c.end(EndReason::AgentHungUp, "t3".into()).unwrap();
        assert_eq!(c.status, CallStatus::Completed);
        for to in [
            CallStatus::Initiated,
            CallStatus::InProgress,
            CallStatus::Failed,
        ] {
            assert!(
                matches!(c.transition(to), Err(Error::Conflict(_))),
                "{to:?}"
            );
        }
    }

    #[test]
    fn calls_that_never_connect_or_break_fail() {
        let mut c = call();
        c.end(EndReason::Busy, "t".into()).unwrap();
        assert_eq!(c.status, CallStatus::Failed);
        let mut c = call();
        c.answer("t".into()).unwrap();
        c.end(EndReason::RunnerLost, "t".into()).unwrap();
        assert_eq!(c.status, CallStatus::Failed);
        assert_eq!(c.end_reason, Some(EndReason::RunnerLost));
    }
}
