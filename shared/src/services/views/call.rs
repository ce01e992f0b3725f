//! Calls (SPEC §10) as the API shows them.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::call::{Call, CallStatus, Direction};
use crate::engine::call::{CallMetrics, EndReason, TranscriptEntry};
use crate::engine::report::Report;

/// A call. Lists leave `transcript` out; `GET /calls/{id}` has it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CallView {
    /// UUIDv7.
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
    /// When it was placed.
    pub started_at: String,
    /// When it connected.
    pub answered_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Seconds from answer to hang-up.
    pub duration_seconds: Option<u64>,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// What was said, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TranscriptEntry>>,
    /// The report, once written.
    pub report: Option<Report>,
    /// Where the recording is.
    pub recording_url: Option<String>,
    /// Turn timings.
    pub metrics: Option<CallMetrics>,
}

impl CallView {
    /// The view of `call` with `transcript` (None in lists).
    pub fn new(call: Call, transcript: Option<Vec<TranscriptEntry>>) -> Self {
        Self {
            id: call.id,
            direction: call.direction,
            status: call.status,
            agent_id: call.agent_id,
            task_id: call.task_id,
            campaign_id: call.campaign_id,
            contact_id: call.contact_id,
            channel_id: call.channel_id,
            from: call.from,
            to: call.to,
            started_at: call.started_at,
            answered_at: call.answered_at,
            ended_at: call.ended_at,
            duration_seconds: call.duration_seconds,
            end_reason: call.end_reason,
            transcript,
            report: call.report,
            recording_url: call.recording_url,
            metrics: call.metrics,
        }
    }
}

/// `GET /calls/{id}/recording`: a link that downloads the recording's WAV
/// without other credentials until it expires.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecordingLinkView {
    /// The signed download link.
    pub url: String,
    /// When the link stops working (RFC 3339).
    pub expires_at: String,
}

/// `GET /calls/{id}/transcript`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TranscriptView {
    /// The call.
    pub call_id: String,
    /// Where the call is (the transcript grows while it is live).
    pub status: CallStatus,
    /// What was said, in order.
    pub transcript: Vec<TranscriptEntry>,
}

/// `POST /calls/{id}/transcript`: what re-processing the stored events produced.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProcessedTranscriptView {
    /// The call.
    pub call_id: String,
    /// The transcript rebuilt from the stored entries.
    pub transcript: Vec<TranscriptEntry>,
    /// The report's extracted data.
    #[schema(value_type = Object)]
    pub extracted_data: Map<String, Value>,
    /// The rewritten report.
    pub report: Report,
}
