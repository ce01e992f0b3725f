//! The bodies a task is written with: `POST /tasks` ([`TaskCreate`]) and
//! `PATCH /tasks/{id}` ([`TaskPatch`]). Every field is a [`Field`], so
//! [`super::TaskSpec::parse`] reports every bad field at once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::TaskEvent;
use crate::domain::input::{Field, create_body};

/// The body of `PATCH /tasks/{id}`, and every field a task body may hold:
/// the fields sent change (`null` puts a field back to its default), the
/// others are kept; the result is checked as a whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TaskPatch {
    /// An agent of this organization (required on create).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub agent_id: Field<String>,
    /// Who is called, E.164 (`+` and 7–15 digits; required on create).
    #[schema(value_type = Option<String>, example = "+15005550007")]
    #[serde(default)]
    pub to_number: Field<String>,
    /// Display name.
    #[schema(value_type = Option<String>, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// Free text.
    #[schema(value_type = Option<String>, max_length = 5_000)]
    #[serde(default)]
    pub description: Field<String>,
    /// Replaces the agent's greeting.
    #[schema(value_type = Option<String>, max_length = 2_000)]
    #[serde(default)]
    pub starting_message: Field<String>,
    /// Call variables: at most 8 levels deep, 1,000 values, 32 KB of text.
    /// `sim_persona` picks the simulated callee (SPEC §15).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub context_data: Field<Map<String, Value>>,
    /// Higher runs first (-1000..=1000, default 0).
    #[schema(value_type = Option<i64>, minimum = -1000, maximum = 1000)]
    #[serde(default)]
    pub priority: Field<i64>,
    /// RFC 3339; the scheduler executes the task when due.
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(default)]
    pub scheduled_at: Field<String>,
    /// `https://` (or `http://localhost` on a development server).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub webhook_url: Field<String>,
    /// Subset of `call_started`, `call_completed`, `call_failed`.
    #[schema(value_type = Option<Vec<TaskEvent>>)]
    #[serde(default)]
    pub webhook_events: Field<Vec<TaskEvent>>,
    /// Keys a task does not have (each one is a 422: a typo must not be
    /// silently ignored), apart from the stored ones a client may echo back.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

create_body! {
    /// The body of `POST /tasks`: the fields of [`TaskPatch`], with
    /// `agent_id` and `to_number` required.
    TaskCreate = TaskPatch requiring ["agent_id", "to_number"]
}
