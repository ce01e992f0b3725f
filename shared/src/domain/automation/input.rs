//! The bodies an automation is written with: `POST /automations`
//! ([`AutomationInput`]) and `PATCH /automations/{id}` ([`AutomationPatch`]).
//! [`AutomationSpec::parse`] checks a body as a whole and names every bad
//! field, down to the nested one (`trigger.conditions[0].op`,
//! `actions[1].tag`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::*;
use crate::domain::conversation::{MAX_CONTENT_CHARS, MAX_TAG_CHARS};
use crate::domain::input::{Checks, Field, create_body, overlay};
use crate::domain::webhook::{MAX_URL_CHARS, check_destination};
use crate::error::{Error, Result};
use crate::net::GuardedClient;

/// What a read of an automation returns and a body does not write: accepted
/// and ignored, so a read can be sent back as a PATCH.
pub const ECHOED: [&str; 3] = ["id", "created_at", "updated_at"];

/// The body of `PATCH /automations/{id}`, and every field an automation body
/// may hold: the fields sent replace the stored ones (`trigger` and
/// `actions` as a whole), the result is checked as a whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AutomationPatch {
    /// Label (1 to 100 characters).
    #[schema(value_type = Option<String>, max_length = 100)]
    #[serde(default)]
    pub name: Field<String>,
    /// Whether it runs (default true).
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub active: Field<bool>,
    /// `{event, conditions}`: the event that starts it and the conditions
    /// (`{field, op, value}`, at most 10) that must all hold.
    #[schema(value_type = Option<Trigger>)]
    #[serde(default)]
    pub trigger: Field<Value>,
    /// What it does, in order (1 to 10 actions).
    #[schema(value_type = Option<Vec<Action>>, min_items = 1, max_items = 10)]
    #[serde(default)]
    pub actions: Field<Value>,
    /// Keys an automation does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

create_body! {
    /// The body of `POST /automations`: the fields of [`AutomationPatch`],
    /// `name`, `trigger` and `actions` required.
    AutomationInput = AutomationPatch requiring ["name", "trigger", "actions"]
}

impl Automation {
    /// The body that is "this automation, changed by `patch`", for
    /// [`AutomationSpec::parse`].
    pub fn patched(&self, patch: AutomationPatch) -> AutomationPatch {
        let stored = serde_json::to_value(self)
            .ok()
            .and_then(|v| serde_json::from_value::<AutomationPatch>(v).ok())
            .unwrap_or_default();
        overlay!(
            AutomationPatch {
                name,
                active,
                trigger,
                actions;
                own unknown
            },
            stored,
            patch
        )
    }
}

/// A checked automation body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomationSpec {
    /// Label.
    pub name: String,
    /// Whether it runs.
    pub active: bool,
    /// When it runs.
    pub trigger: Trigger,
    /// What it does.
    pub actions: Vec<Action>,
}

impl AutomationSpec {
    /// Checks a whole body, naming every bad field. Webhook URLs are held to
    /// the outbound rules of `net` (SSRF) now, and again at every delivery.
    /// Whether an `assign` action's user is in the org is the service's
    /// check (it needs the store).
    pub fn parse(body: AutomationPatch, net: &GuardedClient) -> Result<AutomationSpec> {
        let mut c = Checks::new();
        c.unknown_except(
            body.unknown.keys(),
            &ECHOED,
            "is not a field of an automation",
        );
        let name = c.req_str("name", body.name, MAX_NAME_CHARS);
        let active = c.opt_bool("active", body.active).unwrap_or(true);
        let (event, trigger) = match required(&mut c, "trigger", body.trigger) {
            Some(v) => trigger(&mut c, &v),
            None => (None, None),
        };
        let actions = match required(&mut c, "actions", body.actions) {
            Some(v) => actions(&mut c, &v, event, net),
            None => None,
        };
        c.finish()?;
        match (name, trigger, actions) {
            (Some(name), Some(trigger), Some(actions)) => Ok(AutomationSpec {
                name,
                active,
                trigger,
                actions,
            }),
            _ => Err(Error::Internal(
                "automation fields missing after validation".into(),
            )),
        }
    }
}

/// The value of a required structured field.
fn required(c: &mut Checks, field: &str, input: Field<Value>) -> Option<Value> {
    match input {
        Field::Value(v) => Some(v),
        _ => {
            c.error(field, "is required");
            None
        }
    }
}

/// The object at `path`, its unknown keys (other than `known`) each named.
fn object<'a>(
    c: &mut Checks,
    path: &str,
    v: &'a Value,
    known: &[&str],
    what: &str,
) -> Option<&'a Map<String, Value>> {
    let Some(map) = v.as_object() else {
        c.error(path, "must be an object");
        return None;
    };
    for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
        c.error(format!("{path}.{key}"), format!("is not a field of {what}"));
    }
    Some(map)
}

/// A required string at `path`, trimmed, 1..=`max` characters.
fn text(c: &mut Checks, path: &str, v: Option<&Value>, max: usize) -> Option<String> {
    let input = match v {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(Value::String(s)) => Field::Value(s.clone()),
        Some(_) => {
            c.error(path, "must be a string");
            return None;
        }
    };
    c.req_str(path, input, max)
}

/// A required name of a string enum at `path` (one of `names`).
fn name_of<T: DeserializeOwned>(
    c: &mut Checks,
    path: &str,
    v: Option<&Value>,
    names: &[&str],
) -> Option<T> {
    let s = text(c, path, v, 64)?;
    let parsed = parse_name(&s);
    if parsed.is_none() {
        c.error(path, format!("must be one of {}", names.join(", ")));
    }
    parsed
}

/// The trigger's event (when it is valid, even if a condition is not, so
/// the actions are checked against it too) and the whole trigger.
fn trigger(c: &mut Checks, v: &Value) -> (Option<TriggerEvent>, Option<Trigger>) {
    let Some(map) = object(c, "trigger", v, &["event", "conditions"], "a trigger") else {
        return (None, None);
    };
    let event: Option<TriggerEvent> =
        name_of(c, "trigger.event", map.get("event"), &TriggerEvent::NAMES);
    let mut conditions = Vec::new();
    let mut ok = true;
    match map.get("conditions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.len() > MAX_CONDITIONS => {
            c.error(
                "trigger.conditions",
                format!("must have at most {MAX_CONDITIONS} conditions"),
            );
            ok = false;
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match condition(c, &format!("trigger.conditions[{i}]"), item, event) {
                    Some(cond) => conditions.push(cond),
                    None => ok = false,
                }
            }
        }
        Some(_) => {
            c.error("trigger.conditions", "must be an array of conditions");
            ok = false;
        }
    }
    let trigger = event
        .filter(|_| ok)
        .map(|event| Trigger { event, conditions });
    (event, trigger)
}

fn condition(
    c: &mut Checks,
    path: &str,
    v: &Value,
    event: Option<TriggerEvent>,
) -> Option<Condition> {
    let map = object(c, path, v, &["field", "op", "value"], "a condition")?;
    let field_path = format!("{path}.field");
    let field: ConditionField = name_of(c, &field_path, map.get("field"), &ConditionField::NAMES)?;
    let op_path = format!("{path}.op");
    let op: ConditionOp = name_of(c, &op_path, map.get("op"), &ConditionOp::NAMES)?;
    let value_path = format!("{path}.value");
    let value = text(c, &value_path, map.get("value"), MAX_VALUE_CHARS)?;
    if let Some(event) = event
        && !field.available_on(event)
    {
        c.error(
            field_path,
            format!("is not available on {}", trigger_name(event)),
        );
        return None;
    }
    if !field.ops().contains(&op) {
        let ops: Vec<&str> = field.ops().iter().map(|o| op_name(*o)).collect();
        c.error(
            op_path,
            format!("must be one of {} for this field", ops.join(", ")),
        );
        return None;
    }
    let known = match field {
        ConditionField::ChannelType => {
            parse_name::<crate::domain::conversation::ChannelType>(&value).map_or(
                Err(crate::domain::conversation::ChannelType::expected()),
                |_| Ok(()),
            )
        }
        ConditionField::Status => parse_name::<ConversationStatus>(&value)
            .map_or(Err(ConversationStatus::expected()), |_| Ok(())),
        ConditionField::Tags | ConditionField::Tag if value.chars().count() > MAX_TAG_CHARS => {
            Err(format!("must be at most {MAX_TAG_CHARS} characters"))
        }
        _ => Ok(()),
    };
    if let Err(reason) = known {
        c.error(value_path, reason);
        return None;
    }
    Some(Condition { field, op, value })
}

fn trigger_name(event: TriggerEvent) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn op_name(op: ConditionOp) -> &'static str {
    match op {
        ConditionOp::Equals => "equals",
        ConditionOp::NotEquals => "not_equals",
        ConditionOp::Contains => "contains",
        ConditionOp::NotContains => "not_contains",
    }
}

fn actions(
    c: &mut Checks,
    v: &Value,
    event: Option<TriggerEvent>,
    net: &GuardedClient,
) -> Option<Vec<Action>> {
    let Some(items) = v.as_array() else {
        c.error("actions", "must be an array of actions");
        return None;
    };
    if items.is_empty() || items.len() > MAX_ACTIONS {
        c.error("actions", format!("must have 1 to {MAX_ACTIONS} actions"));
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let path = format!("actions[{i}]");
        let Some(action) = action(c, &path, item, net) else {
            ok = false;
            continue;
        };
        if let Some(event) = event
            && !event.has_conversation()
            && !matches!(action, Action::SendWebhook { .. })
        {
            c.error(
                format!("{path}.type"),
                format!(
                    "{} has no conversation to act on; only send_webhook runs on it",
                    trigger_name(event)
                ),
            );
            ok = false;
            continue;
        }
        out.push(action);
    }
    ok.then_some(out)
}

fn action(c: &mut Checks, path: &str, v: &Value, net: &GuardedClient) -> Option<Action> {
    let Some(map) = v.as_object() else {
        c.error(path, "must be an object");
        return None;
    };
    let type_path = format!("{path}.type");
    let kind = text(c, &type_path, map.get("type"), 64)?;
    let known: &[&str] = match kind.as_str() {
        "assign" => &["type", "user_id", "round_robin"],
        "add_tag" => &["type", "tag"],
        "set_status" => &["type", "status"],
        "send_message" => &["type", "text"],
        "send_webhook" => &["type", "url"],
        _ => {
            c.error(
                type_path,
                format!("must be one of {}", Action::NAMES.join(", ")),
            );
            return None;
        }
    };
    let map = object(c, path, v, known, &format!("a {kind} action"))?;
    let at = |field: &str| format!("{path}.{field}");
    Some(match kind.as_str() {
        "assign" => {
            let round_robin = match map.get("round_robin") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    c.error(at("round_robin"), "must be true or false");
                    return None;
                }
            };
            let user_id = match map.get("user_id") {
                None | Some(Value::Null) => None,
                v => Some(text(c, &at("user_id"), v, 64)?),
            };
            if round_robin == user_id.is_some() {
                c.error(
                    at("user_id"),
                    "give either a user_id or round_robin: true (not both)",
                );
                return None;
            }
            Action::Assign {
                user_id,
                round_robin,
            }
        }
        "add_tag" => Action::AddTag {
            tag: text(c, &at("tag"), map.get("tag"), MAX_TAG_CHARS)?,
        },
        "set_status" => Action::SetStatus {
            status: name_of(
                c,
                &at("status"),
                map.get("status"),
                &ConversationStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>(),
            )?,
        },
        "send_message" => Action::SendMessage {
            text: text(c, &at("text"), map.get("text"), MAX_CONTENT_CHARS)?,
        },
        _ => {
            let url = text(c, &at("url"), map.get("url"), MAX_URL_CHARS)?;
            match check_destination(&url, net) {
                Ok(url) => Action::SendWebhook { url },
                Err(reason) => {
                    c.error(at("url"), reason);
                    return None;
                }
            }
        }
    })
}
