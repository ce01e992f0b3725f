//! A task: one outbound call to place, with its context and webhooks (SPEC §8),
//! and the state machine `pending → in_progress → completed | failed`, reset to
//! `pending`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::input::{Checks, Field};
use super::shape::JsonLimits;
use super::{E164, is_id, rfc3339};
use crate::error::Error;

mod input;
pub use input::{TaskCreate, TaskPatch};

/// Lowest and highest `priority` (higher runs first).
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = -1_000..=1_000;

/// How big a task's `context_data` may be: it becomes call variables, is copied
/// into every call of the task and must stay far below the item limit.
pub const CONTEXT_LIMITS: JsonLimits = JsonLimits {
    max_depth: 8,
    max_values: 1_000,
    max_text_bytes: 32 * 1024,
};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Created, not executed yet.
    Pending,
    /// Its call is live.
    InProgress,
    /// Its call completed.
    Completed,
    /// Its call failed or was cancelled.
    Failed,
}

impl TaskStatus {
    /// The name used in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
        }
    }

    /// Parses a `status` filter.
    pub fn parse(s: &str) -> Option<TaskStatus> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// The task-webhook events a task can subscribe to (the seed's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskEvent {
    /// The callee answered.
    CallStarted,
    /// The call completed.
    CallCompleted,
    /// The call failed.
    CallFailed,
}

impl TaskEvent {
    /// The seed's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskEvent::CallStarted => "call_started",
            TaskEvent::CallCompleted => "call_completed",
            TaskEvent::CallFailed => "call_failed",
        }
    }
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// UUIDv7.
    pub id: String,
    /// The agent that makes the call.
    pub agent_id: String,
    /// Who is called.
    pub to_number: E164,
    /// Display name.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Replaces the agent's greeting on this task's calls.
    pub starting_message: Option<String>,
    /// Becomes `context.*` (and top-level) variables of the call.
    pub context_data: Map<String, Value>,
    /// Higher runs first.
    pub priority: i64,
    /// When the scheduler executes it (RFC 3339 UTC, milliseconds).
    pub scheduled_at: Option<String>,
    /// Where task webhooks go.
    pub webhook_url: Option<String>,
    /// Which task webhooks are sent.
    pub webhook_events: Vec<TaskEvent>,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// Its latest call.
    pub call_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Task {
    /// `pending → in_progress` with `call_id`: the only way a call starts.
    pub fn start(&mut self, call_id: &str) -> Result<(), Error> {
        if self.status != TaskStatus::Pending {
            return Err(Error::Conflict(format!(
                "only a pending task can be executed; this one is {}",
                self.status.as_str()
            )));
        }
        self.status = TaskStatus::InProgress;
        self.call_id = Some(call_id.to_owned());
        Ok(())
    }

    /// `in_progress → completed | failed` when its call ended. Finishing twice
    /// with the same result is a no-op (a redelivered event).
    pub fn finish(&mut self, completed: bool) -> Result<(), Error> {
        let to = if completed {
            TaskStatus::Completed
        } else {
            TaskStatus::Failed
        };
        match self.status {
            TaskStatus::InProgress => {
                self.status = to;
                Ok(())
            }
            s if s == to => Ok(()),
            s => Err(Error::Conflict(format!(
                "a {} task cannot become {}",
                s.as_str(),
                to.as_str()
            ))),
        }
    }

    /// Anything but `pending` → `pending`, so it can be executed again.
    pub fn reset(&mut self) -> Result<(), Error> {
        if self.status == TaskStatus::Pending {
            return Err(Error::Conflict("the task is already pending".into()));
        }
        self.status = TaskStatus::Pending;
        Ok(())
    }

    /// PATCH is for pending tasks only.
    pub fn check_editable(&self) -> Result<(), Error> {
        match self.status {
            TaskStatus::Pending => Ok(()),
            s => Err(Error::Conflict(format!(
                "only a pending task can be changed; this one is {}",
                s.as_str()
            ))),
        }
    }

    /// DELETE is for pending or failed tasks only.
    pub fn check_deletable(&self) -> Result<(), Error> {
        match self.status {
            TaskStatus::Pending | TaskStatus::Failed => Ok(()),
            s => Err(Error::Conflict(format!(
                "only a pending or failed task can be deleted; this one is {}",
                s.as_str()
            ))),
        }
    }

    /// Whether the task subscribed to `event` (and has somewhere to send it).
    pub fn wants(&self, event: TaskEvent) -> Option<&str> {
        self.webhook_url
            .as_deref()
            .filter(|_| self.webhook_events.contains(&event))
    }

    /// This task as a body, with `patch`'s fields laid over it (a PATCH is
    /// "the task as it is, changed by these"), for [`TaskSpec::parse`].
    pub fn patched(&self, patch: TaskPatch) -> TaskPatch {
        // The stored task reads back through the body type, so the two
        // cannot disagree on a field's shape; its stored-only keys (`id`,
        // `status`, …) land in `unknown` and are dropped for the patch's.
        let stored = serde_json::to_value(self)
            .ok()
            .and_then(|v| serde_json::from_value::<TaskPatch>(v).ok())
            .unwrap_or_default();
        let TaskPatch {
            agent_id,
            to_number,
            name,
            description,
            starting_message,
            context_data,
            priority,
            scheduled_at,
            webhook_url,
            webhook_events,
            unknown,
        } = patch;
        TaskPatch {
            agent_id: agent_id.or(stored.agent_id),
            to_number: to_number.or(stored.to_number),
            name: name.or(stored.name),
            description: description.or(stored.description),
            starting_message: starting_message.or(stored.starting_message),
            context_data: context_data.or(stored.context_data),
            priority: priority.or(stored.priority),
            scheduled_at: scheduled_at.or(stored.scheduled_at),
            webhook_url: webhook_url.or(stored.webhook_url),
            webhook_events: webhook_events.or(stored.webhook_events),
            unknown,
        }
    }
}

/// A validated create (or merged PATCH) body.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    agent_id: String,
    to_number: E164,
    name: Option<String>,
    description: Option<String>,
    starting_message: Option<String>,
    context_data: Map<String, Value>,
    priority: i64,
    scheduled_at: Option<DateTime<Utc>>,
    webhook_url: Option<String>,
    webhook_events: Vec<TaskEvent>,
}

/// Keys a task body may echo back from a read without a 422: the stored
/// fields, and the agent a `GET` embeds. They are not changed by a body.
pub const STORED: [&str; 6] = [
    "id",
    "status",
    "call_id",
    "created_at",
    "updated_at",
    "agent",
];

impl TaskSpec {
    /// Parses a create body (or a stored task with a PATCH laid over it,
    /// [`Task::patched`]), naming every bad field. `loopback_http` allows an
    /// `http://` webhook URL to a loopback host (development only).
    pub fn parse(body: TaskPatch, loopback_http: bool) -> Result<Self, Error> {
        let mut f = Checks::new();
        for k in body.unknown.keys() {
            if !STORED.contains(&k.as_str()) {
                f.error(k.clone(), "is not a task field");
            }
        }
        let agent_id = f.req_str("agent_id", body.agent_id, 64);
        if agent_id.as_deref().is_some_and(|id| !is_id(id)) {
            f.error("agent_id", "must be an agent id");
        }
        let to_number = f.req_parsed("to_number", body.to_number, E164::parse);
        let name = f.opt_str("name", body.name, 200);
        let description = f.opt_str("description", body.description, 5_000);
        let starting_message = f.opt_str("starting_message", body.starting_message, 2_000);
        let context_data = match body.context_data {
            Field::Value(m) => {
                if let Some(why) = CONTEXT_LIMITS.check(&Value::Object(m.clone())) {
                    f.error("context_data", why);
                }
                m
            }
            Field::Invalid(_) => {
                f.error("context_data", "must be an object");
                Map::new()
            }
            Field::Absent | Field::Null => Map::new(),
        };
        let priority = f
            .opt_int("priority", body.priority, PRIORITY_RANGE)
            .unwrap_or(0);
        let scheduled_at = f.opt_parsed("scheduled_at", body.scheduled_at, |s| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| "must be an RFC 3339 date-time such as 2030-01-31T09:00:00Z".into())
        });
        let webhook_url = f.opt_parsed("webhook_url", body.webhook_url, |s| {
            parse_webhook_url(s, loopback_http)
        });
        let webhook_events: Vec<TaskEvent> = f
            .opt_json("webhook_events", body.webhook_events)
            .unwrap_or_default();
        if webhook_events
            .iter()
            .enumerate()
            .any(|(i, e)| webhook_events[..i].contains(e))
        {
            f.error("webhook_events", "must list each event at most once");
        }
        f.finish()?;
        Ok(Self {
            agent_id: agent_id.unwrap_or_default(),
            to_number: to_number.ok_or_else(|| Error::field("to_number", "is required"))?,
            name,
            description,
            starting_message,
            context_data,
            priority,
            scheduled_at,
            webhook_url,
            webhook_events,
        })
    }

    /// The agent that makes the call.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// A pending task from this spec.
    pub fn into_task(self, id: String, created_at: String, updated_at: String) -> Task {
        Task {
            id,
            agent_id: self.agent_id,
            to_number: self.to_number,
            name: self.name,
            description: self.description,
            starting_message: self.starting_message,
            context_data: self.context_data,
            priority: self.priority,
            scheduled_at: self.scheduled_at.map(rfc3339),
            webhook_url: self.webhook_url,
            webhook_events: self.webhook_events,
            status: TaskStatus::Pending,
            call_id: None,
            created_at,
            updated_at,
        }
    }
}

/// A task webhook URL: `https://`, or `http://` to a loopback host when
/// `loopback_http` (a development server whose deliveries may reach loopback).
pub fn parse_webhook_url(s: &str, loopback_http: bool) -> Result<String, String> {
    let url = super::parse_http_url(s)?;
    let parsed = reqwest::Url::parse(&url).map_err(|_| "must be an absolute https:// URL")?;
    if parsed.scheme() == "https" {
        return Ok(url);
    }
    let host = parsed.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback && loopback_http {
        Ok(url)
    } else {
        Err("must be an https:// URL (http:// only to localhost on a development server)".into())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::input::from_json;

    fn spec(body: Value) -> Result<TaskSpec, Error> {
        TaskSpec::parse(from_json::<TaskCreate>(body)?.0, false)
    }

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Validation(f) => f.into_keys().collect(),
            other => panic!("{other}"),
        }
    }

    const AGENT: &str = "0190f0f0-0000-7000-8000-000000000001";

    #[test]
    fn a_full_body_parses_and_bad_fields_are_each_named() {
        let ok = spec(json!({
            "agent_id": AGENT, "to_number": "+15005550007", "name": "Call", "priority": 5,
            "scheduled_at": "2030-01-01T10:00:00+02:00", "context_data": {"customer_name": "Ann"},
            "webhook_url": "https://example.com/hook", "webhook_events": ["call_started", "call_completed"]
        }))
        .unwrap();
        let task = ok.into_task("t".into(), "c".into(), "u".into());
        assert_eq!(
            task.scheduled_at.as_deref(),
            Some("2030-01-01T08:00:00.000Z")
        );
        assert_eq!(task.status, TaskStatus::Pending);

        let err = spec(json!({
            "agent_id": "x", "to_number": "555", "priority": 5000, "scheduled_at": "tomorrow",
            "context_data": [1], "webhook_url": "http://example.com/", "webhook_events": ["call_exploded"],
            "colour": "red"
        }))
        .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "agent_id",
                "colour",
                "context_data",
                "priority",
                "scheduled_at",
                "to_number",
                "webhook_events.[0]",
                "webhook_url"
            ]
        );
        assert_eq!(
            fields(spec(json!({})).unwrap_err()),
            ["agent_id", "to_number"]
        );
        let twice = json!({"agent_id": AGENT, "to_number": "+15005550001",
            "webhook_events": ["call_started", "call_failed", "call_started"]});
        assert_eq!(fields(spec(twice).unwrap_err()), ["webhook_events"]);
    }

    #[test]
    fn http_webhooks_only_reach_loopback_in_development() {
        assert!(parse_webhook_url("http://127.0.0.1:9/h", true).is_ok());
        assert!(parse_webhook_url("http://localhost/h", true).is_ok());
        assert!(parse_webhook_url("http://127.0.0.1:9/h", false).is_err());
        assert!(parse_webhook_url("http://example.com/h", true).is_err());
        assert!(parse_webhook_url("ftp://example.com/h", true).is_err());
    }

    #[test]
    fn context_data_is_bounded() {
        let deep = (0..20).fold(json!(1), |v, _| json!({ "a": v }));
        let err =
            spec(json!({"agent_id": AGENT, "to_number": "+15005550001", "context_data": deep}))
                .unwrap_err();
        assert_eq!(fields(err), ["context_data"]);
        let wide: Map<String, Value> = (0..2_000).map(|i| (format!("k{i}"), json!(i))).collect();
        let err =
            spec(json!({"agent_id": AGENT, "to_number": "+15005550001", "context_data": wide}))
                .unwrap_err();
        assert_eq!(fields(err), ["context_data"]);
    }

    #[test]
    fn the_state_machine_refuses_wrong_transitions() {
        let mut t = spec(json!({"agent_id": AGENT, "to_number": "+15005550001"}))
            .unwrap()
            .into_task("t".into(), "c".into(), "u".into());
        assert!(t.reset().is_err(), "pending cannot be reset");
        assert!(t.finish(true).is_err(), "pending cannot finish");
        t.start("call-1").unwrap();
        assert!(matches!(t.start("call-2"), Err(Error::Conflict(_))));
        assert!(t.check_editable().is_err() && t.check_deletable().is_err());
        t.finish(false).unwrap();
        t.finish(false).unwrap();
        assert!(t.finish(true).is_err(), "failed does not become completed");
        assert!(t.check_deletable().is_ok());
        t.reset().unwrap();
        assert_eq!(t.status, TaskStatus::Pending);
        assert_eq!(t.call_id.as_deref(), Some("call-1"), "the last call stays");
    }
}
