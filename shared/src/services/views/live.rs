//! The live space (SPEC §11) as the API shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::call::CallStatus;
use crate::domain::input::Field;
use crate::services::calls::lease::Lease;

/// A call that is live now (placed and not ended).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveCallView {
    /// The call's id.
    pub id: String,
    /// `initiated` (ringing) or `in_progress`.
    pub status: CallStatus,
    /// The agent on the call.
    pub agent_id: String,
    /// The number dialed.
    pub to: String,
    /// When it was placed.
    pub started_at: String,
}

impl From<Lease> for LiveCallView {
    fn from(l: Lease) -> Self {
        Self {
            id: l.call_id,
            status: l.status,
            agent_id: l.agent_id,
            to: l.to,
            started_at: l.started_at,
        }
    }
}

/// The body of `POST /live-space/live-calls/{id}/whisper` and `…/barge`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LiveMessageInput {
    /// What to whisper to the agent, or what the agent says now.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 2000)]
    #[serde(default)]
    pub message: Field<String>,
    /// Keys a message body does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /live-space/live-calls/{id}/takeover`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TakeoverInput {
    /// `true` pauses the agent (a supervisor speaks), `false` hands the call back.
    #[schema(value_type = bool, required = true)]
    #[serde(default)]
    pub active: Field<bool>,
    /// Keys a takeover body does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// What a control did.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveControlView {
    /// The call.
    pub call_id: String,
    /// `whisper`, `barge`, `takeover` or `resume`.
    pub action: String,
    /// The call took it (it is in the call's transcript as it happens).
    pub delivered: bool,
}

/// `POST /live-space/live-calls/{id}/supervisor/join`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SupervisorJoinView {
    /// The supervisor token for the socket (`?token=`).
    pub token: String,
    /// `wss://…/ws/supervisor/{call_id}`.
    pub websocket_url: String,
    /// When the token stops opening the socket (RFC 3339).
    pub expires_at: String,
}
