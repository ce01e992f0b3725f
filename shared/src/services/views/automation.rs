//! Automations (SPEC §12) as the API shows them: the automation in the shape
//! it is written with, and its run log.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::automation::{Action, ActionResult, Automation, Run, RunStatus, Trigger};

/// An automation as returned by every `/automations` route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AutomationView {
    /// UUIDv7.
    pub id: String,
    /// Label.
    pub name: String,
    /// Whether it runs.
    pub active: bool,
    /// When it runs.
    pub trigger: Trigger,
    /// What it does, in order.
    pub actions: Vec<Action>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Automation> for AutomationView {
    fn from(a: Automation) -> Self {
        Self {
            id: a.id,
            name: a.name,
            active: a.active,
            trigger: a.trigger,
            actions: a.actions,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// One run of an automation on one event (`GET /automations/{id}/runs`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AutomationRunView {
    /// UUIDv7, derived from the event and the automation.
    pub id: String,
    /// The automation.
    pub automation_id: String,
    /// The event it ran on.
    pub event_id: String,
    /// `conversation.created`, `message.received`, `call.completed`,
    /// `conversation.tag_added` or `campaign.completed`.
    pub event_type: String,
    /// How many automation actions led to the event (0: none).
    pub depth: u32,
    /// The conversation acted on.
    pub conversation_id: Option<String>,
    /// `succeeded`, `failed`, `skipped` (or `running` while under way).
    pub status: RunStatus,
    /// What each action did, in order.
    pub actions: Vec<ActionResult>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Run> for AutomationRunView {
    fn from(r: Run) -> Self {
        Self {
            id: r.id,
            automation_id: r.automation_id,
            event_id: r.event_id,
            event_type: r.event_type,
            depth: r.depth,
            conversation_id: r.conversation_id,
            status: r.status,
            actions: r.actions,
            error: r.error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
