//! Tasks (SPEC §8) as the API shows them and as it accepts them.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::AgentView;
use crate::domain::task::{Task, TaskEvent, TaskStatus};

/// A task as returned by every task route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TaskView {
    /// UUIDv7.
    pub id: String,
    /// The agent that makes the call.
    pub agent_id: String,
    /// Who is called (E.164).
    pub to_number: String,
    /// Display name.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Replaces the agent's greeting on this task's calls.
    pub starting_message: Option<String>,
    /// Call variables (`context.*`).
    #[schema(value_type = Object)]
    pub context_data: Map<String, Value>,
    /// Higher runs first.
    pub priority: i64,
    /// When the scheduler executes it.
    pub scheduled_at: Option<String>,
    /// Where task webhooks go.
    pub webhook_url: Option<String>,
    /// Which task webhooks are sent.
    pub webhook_events: Vec<TaskEvent>,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// Its latest call.
    pub call_id: Option<String>,
    /// The agent (on `GET /tasks/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentView>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Task> for TaskView {
    fn from(t: Task) -> Self {
        Self {
            id: t.id,
            agent_id: t.agent_id,
            to_number: t.to_number.as_str().to_owned(),
            name: t.name,
            description: t.description,
            starting_message: t.starting_message,
            context_data: t.context_data,
            priority: t.priority,
            scheduled_at: t.scheduled_at,
            webhook_url: t.webhook_url,
            webhook_events: t.webhook_events,
            status: t.status,
            call_id: t.call_id,
            agent: None,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// What `POST /tasks/{id}/execute` answers.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExecuteView {
    /// The call placed.
    pub call_id: String,
    /// `Call initiated`.
    pub message: String,
}
