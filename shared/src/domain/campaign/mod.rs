//! A campaign (SPEC §9): an agent calling a list of contacts inside calling
//! windows, a few at a time, retrying per a policy. The state machine is
//! `draft → running ⇄ paused`, `→ cancelled` from any of those, and
//! `running → completed` when no contact can be dialed again.

pub mod contact;
mod input;
pub mod schedule;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::input::{Checks, Field, overlay};
use super::is_id;
use super::task::CONTEXT_LIMITS;
use crate::error::Error;
pub use input::{
    BulkContactsInput, CampaignContactInput, CampaignCreate, CampaignPatch, RetryInput,
};
pub use schedule::{Schedule, Window};

/// Calls a campaign may have live at once, at most.
pub const MAX_CONCURRENT_RANGE: std::ops::RangeInclusive<i64> = 1..=500;
/// Attempts per contact, at most.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<i64> = 1..=10;
/// Minutes between attempts, at most a week.
pub const DELAY_MINUTES_RANGE: std::ops::RangeInclusive<i64> = 0..=10_080;

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being prepared; nothing is dialed.
    Draft,
    /// Dialing.
    Running,
    /// Not dialing; calls in progress finish.
    Paused,
    /// Every contact reached its end.
    Completed,
    /// Stopped for good; contacts not yet called were cancelled.
    Cancelled,
}

impl CampaignStatus {
    /// The name used in the API and in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Completed => "completed",
            CampaignStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a `status` filter.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }

    /// Whether the campaign has ended for good.
    pub fn is_final(self) -> bool {
        matches!(self, CampaignStatus::Completed | CampaignStatus::Cancelled)
    }
}

/// A state-machine step requested through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `draft → running`.
    Start,
    /// `running → paused`.
    Pause,
    /// `paused → running`.
    Resume,
    /// `draft | running | paused → cancelled`.
    Cancel,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Start => "started",
            Action::Pause => "paused",
            Action::Resume => "resumed",
            Action::Cancel => "cancelled",
        }
    }
}

/// Contact results a retry may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// Nobody answered (or an answered line stayed silent).
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The call failed (carrier error, lost runner).
    Failed,
    /// A voicemail answered.
    Voicemail,
}

/// When a contact is called again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryPolicy {
    /// Calls per contact at most, the first included (default 2).
    pub max_attempts: u32,
    /// Minutes between attempts (default 60).
    pub delay_minutes: u32,
    /// Which results are retried (default all four).
    pub on: Vec<RetryOn>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 2,
            delay_minutes: 60,
            on: vec![
                RetryOn::NoAnswer,
                RetryOn::Busy,
                RetryOn::Failed,
                RetryOn::Voicemail,
            ],
        }
    }
}

/// A campaign as stored (its statistics are counters beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The agent that makes the calls.
    pub agent_id: String,
    /// The channel the calls go out on (default: the org's line).
    pub channel_id: Option<String>,
    /// Where it is in its life.
    pub status: CampaignStatus,
    /// When it may dial.
    pub schedule: Schedule,
    /// Calls live at once, at most.
    pub max_concurrent_calls: u32,
    /// When contacts are called again.
    pub retry: RetryPolicy,
    /// Variables every call gets (a contact's own override them).
    pub context_defaults: Map<String, Value>,
    /// When it first started.
    pub started_at: Option<String>,
    /// When it completed or was cancelled.
    pub ended_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Campaign {
    /// Applies an API action; a wrong one for the current status is a 409.
    pub fn apply(&mut self, action: Action, at: &str) -> Result<(), Error> {
        use CampaignStatus::*;
        let to = match (self.status, action) {
            (Draft, Action::Start) | (Paused, Action::Resume) => Running,
            (Running, Action::Pause) => Paused,
            (Draft | Running | Paused, Action::Cancel) => Cancelled,
            (from, _) => {
                return Err(Error::Conflict(format!(
                    "a {} campaign cannot be {}",
                    from.as_str(),
                    action.name()
                )));
            }
        };
        if action == Action::Start {
            self.started_at = Some(at.to_owned());
        }
        if to == Cancelled {
            self.ended_at = Some(at.to_owned());
        }
        self.status = to;
        Ok(())
    }

    /// `running → completed`, the dialer's own step.
    pub fn complete(&mut self, at: &str) -> Result<(), Error> {
        if self.status != CampaignStatus::Running {
            return Err(Error::Conflict(format!(
                "a {} campaign cannot complete",
                self.status.as_str()
            )));
        }
        self.status = CampaignStatus::Completed;
        self.ended_at = Some(at.to_owned());
        Ok(())
    }

    /// PATCH is refused once the campaign ended.
    pub fn check_editable(&self) -> Result<(), Error> {
        if self.status.is_final() {
            return Err(Error::Conflict(format!(
                "a {} campaign cannot be changed",
                self.status.as_str()
            )));
        }
        Ok(())
    }

    /// DELETE is refused while it dials.
    pub fn check_deletable(&self) -> Result<(), Error> {
        if self.status == CampaignStatus::Running {
            return Err(Error::Conflict(
                "a running campaign cannot be deleted; pause or cancel it first".into(),
            ));
        }
        Ok(())
    }

    /// This campaign as a body, with `patch`'s fields laid over it (a PATCH
    /// is "the campaign as it is, changed by these"), for
    /// [`CampaignSpec::parse`].
    pub fn patched(&self, patch: CampaignPatch) -> CampaignPatch {
        // The stored campaign reads back through the body type, so the two
        // cannot disagree on a field's shape; its stored-only keys (`id`,
        // `status`, …) land in `unknown` and are dropped for the patch's.
        let stored = serde_json::to_value(self)
            .ok()
            .and_then(|v| serde_json::from_value::<CampaignPatch>(v).ok())
            .unwrap_or_default();
        overlay!(
            CampaignPatch {
                name,
                description,
                agent_id,
                channel_id,
                schedule,
                max_concurrent_calls,
                retry,
                context_defaults;
                own unknown
            },
            stored,
            patch
        )
    }
}

/// Keys a campaign body may echo back from a read without a 422: the
/// stored fields and the statistics. They are not changed by a body.
pub const STORED: [&str; 7] = [
    "id",
    "status",
    "started_at",
    "ended_at",
    "created_at",
    "updated_at",
    "stats",
];

/// A validated create (or merged PATCH) body.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpec {
    name: String,
    description: Option<String>,
    agent_id: String,
    channel_id: Option<String>,
    schedule: Schedule,
    max_concurrent_calls: u32,
    retry: RetryPolicy,
    context_defaults: Map<String, Value>,
}

impl CampaignSpec {
    /// Parses a create body (or a stored campaign with a PATCH laid over
    /// it, [`Campaign::patched`]), naming every bad field.
    pub fn parse(body: CampaignPatch) -> Result<Self, Error> {
        let mut f = Checks::new();
        f.unknown(
            body.unknown
                .keys()
                .filter(|k| !STORED.contains(&k.as_str())),
            "is not a campaign field",
        );
        let name = f.req_str("name", body.name, 200);
        let description = f.opt_str("description", body.description, 5_000);
        let agent_id = f.req_str("agent_id", body.agent_id, 64);
        if agent_id.as_deref().is_some_and(|id| !is_id(id)) {
            f.error("agent_id", "must be an agent id");
        }
        let channel_id = f.opt_str("channel_id", body.channel_id, 64);
        if channel_id.as_deref().is_some_and(|id| !is_id(id)) {
            f.error("channel_id", "must be a channel id");
        }
        let schedule: Schedule = f.opt_json("schedule", body.schedule).unwrap_or_default();
        for (field, why) in schedule.problems() {
            f.error(field, why);
        }
        let max_concurrent_calls = f
            .opt_int(
                "max_concurrent_calls",
                body.max_concurrent_calls,
                MAX_CONCURRENT_RANGE,
            )
            .unwrap_or(5) as u32;
        let mut retry = RetryPolicy::default();
        if let Some(r) = f.opt_json("retry", body.retry) {
            if let Some(n) = r.max_attempts {
                if MAX_ATTEMPTS_RANGE.contains(&n) {
                    retry.max_attempts = n as u32;
                } else {
                    f.error("retry.max_attempts", "must be a number from 1 to 10");
                }
            }
            if let Some(n) = r.delay_minutes {
                if DELAY_MINUTES_RANGE.contains(&n) {
                    retry.delay_minutes = n as u32;
                } else {
                    f.error("retry.delay_minutes", "must be a number from 0 to 10080");
                }
            }
            if let Some(on) = r.on {
                if on.iter().enumerate().any(|(i, r)| on[..i].contains(r)) {
                    f.error("retry.on", "must list each result at most once");
                }
                retry.on = on;
            }
        }
        let context_defaults = match body.context_defaults {
            Field::Value(m) => {
                if let Some(why) = CONTEXT_LIMITS.check(&Value::Object(m.clone())) {
                    f.error("context_defaults", why);
                }
                m
            }
            Field::Invalid(_) => {
                f.error("context_defaults", "must be an object");
                Map::new()
            }
            Field::Absent | Field::Null => Map::new(),
        };
        f.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            description,
            agent_id: agent_id.unwrap_or_default(),
            channel_id,
            schedule,
            max_concurrent_calls,
            retry,
            context_defaults,
        })
    }

    /// The agent that makes the calls.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The channel named, if one was.
    pub fn channel_id(&self) -> Option<&str> {
        self.channel_id.as_deref()
    }

    /// A draft campaign from this spec.
    pub fn into_campaign(self, id: String, created_at: String) -> Campaign {
        Campaign {
            id,
            name: self.name,
            description: self.description,
            agent_id: self.agent_id,
            channel_id: self.channel_id,
            status: CampaignStatus::Draft,
            schedule: self.schedule,
            max_concurrent_calls: self.max_concurrent_calls,
            retry: self.retry,
            context_defaults: self.context_defaults,
            started_at: None,
            ended_at: None,
            updated_at: created_at.clone(),
            created_at,
        }
    }

    /// `current` with this spec's fields (its identity, status and times kept).
    pub fn apply_to(self, current: &Campaign, updated_at: String) -> Campaign {
        let mut c = self.into_campaign(current.id.clone(), current.created_at.clone());
        c.status = current.status;
        c.started_at = current.started_at.clone();
        c.ended_at = current.ended_at.clone();
        c.updated_at = updated_at;
        c
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::input::from_json;

    const AGENT: &str = "0190f0f0-0000-7000-8000-000000000001";

    fn campaign(body: Value) -> Result<Campaign, Error> {
        Ok(CampaignSpec::parse(from_json::<CampaignCreate>(body)?.0)?
            .into_campaign("c".into(), "t".into()))
    }

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::Validation(f) => f.into_keys().collect(),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn defaults_follow_the_spec_and_bad_fields_are_each_named() {
        let c = campaign(json!({"name": "Spring", "agent_id": AGENT})).unwrap();
        assert_eq!(c.status, CampaignStatus::Draft);
        assert_eq!(c.max_concurrent_calls, 5);
        assert_eq!(c.retry, RetryPolicy::default());
        assert_eq!(c.schedule.timezone, "UTC");
        let err = campaign(json!({
            "agent_id": "x", "max_concurrent_calls": 0,
            "retry": {"max_attempts": 50, "delay_minutes": -1, "on": ["no_answer"]},
            "schedule": {"timezone": "Nowhere/Land", "windows": []},
            "context_defaults": [], "colour": "red"
        }))
        .unwrap_err();
        assert_eq!(
            fields(err),
            [
                "agent_id",
                "colour",
                "context_defaults",
                "max_concurrent_calls",
                "name",
                "retry.delay_minutes",
                "retry.max_attempts",
                "schedule.timezone"
            ]
        );
        let err = campaign(json!({"name": "x", "agent_id": AGENT, "retry": {"on": ["sometimes"]}}))
            .unwrap_err();
        assert_eq!(fields(err), ["retry.on[0]"]);
    }

    #[test]
    fn the_state_machine_refuses_wrong_transitions() {
        let mut c = campaign(json!({"name": "x", "agent_id": AGENT})).unwrap();
        for wrong in [Action::Pause, Action::Resume] {
            assert!(matches!(c.apply(wrong, "t"), Err(Error::Conflict(_))));
        }
        assert!(c.complete("t").is_err(), "a draft does not complete");
        c.apply(Action::Start, "t1").unwrap();
        assert!(c.check_deletable().is_err());
        assert!(matches!(
            c.apply(Action::Start, "t"),
            Err(Error::Conflict(_))
        ));
        c.apply(Action::Pause, "t2").unwrap();
        assert!(c.check_deletable().is_ok());
        c.apply(Action::Resume, "t3").unwrap();
        assert_eq!(c.started_at.as_deref(), Some("t1"));
        c.complete("t4").unwrap();
        for any in [Action::Start, Action::Pause, Action::Resume, Action::Cancel] {
            assert!(c.apply(any, "t").is_err(), "{any:?}");
        }
        assert!(c.check_editable().is_err());
        let mut d = campaign(json!({"name": "x", "agent_id": AGENT})).unwrap();
        d.apply(Action::Cancel, "t5").unwrap();
        assert_eq!(d.status, CampaignStatus::Cancelled);
        assert_eq!(d.ended_at.as_deref(), Some("t5"));
    }
}
