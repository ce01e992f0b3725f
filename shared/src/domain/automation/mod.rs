//! Automations (SPEC §12, admin): "when this happens in the inbox, and these
//! conditions hold, do that". An automation is stored in its API shape, so
//! a read can be sent back as a PATCH and parsed by the same rules as a
//! create ([`input`]).

mod input;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::conversation::ConversationStatus;

pub use input::{AutomationInput, AutomationPatch, AutomationSpec, ECHOED};

/// The internal event of a tag added to a conversation: it starts
/// `tag_added` automations and is never offered to webhook endpoints.
pub const TAG_ADDED: &str = "conversation.tag_added";

/// Most automations a tenant may have: every event reads them all.
pub const MAX_AUTOMATIONS: i64 = 100;
/// Most conditions of one trigger.
pub const MAX_CONDITIONS: usize = 10;
/// Most actions of one automation.
pub const MAX_ACTIONS: usize = 10;
/// Longest name.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest condition value.
pub const MAX_VALUE_CHARS: usize = 200;

/// Parses an API name of a serde string enum.
fn parse_name<T: DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(Value::String(s.to_owned())).ok()
}

/// What starts an automation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerEvent {
    /// A conversation was created (`conversation.created`).
    ConversationCreated,
    /// A customer's messages arrived (`message.received`).
    MessageReceived,
    /// A call ended (`call.completed`); its conversation is the one the
    /// call's transcript went to.
    CallCompleted,
    /// A tag was added to a conversation (by a person, the API or an
    /// automation).
    TagAdded,
    /// A campaign finished (`campaign.completed`); there is no conversation.
    CampaignCompleted,
}

impl TriggerEvent {
    /// Every trigger, in the order the API lists them.
    pub const NAMES: [&str; 5] = [
        "conversation_created",
        "message_received",
        "call_completed",
        "tag_added",
        "campaign_completed",
    ];

    /// The trigger of a queued event type, if any.
    pub fn of_event(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "conversation.created" => Self::ConversationCreated,
            "message.received" => Self::MessageReceived,
            "call.completed" => Self::CallCompleted,
            TAG_ADDED => Self::TagAdded,
            "campaign.completed" => Self::CampaignCompleted,
            _ => return None,
        })
    }

    /// Whether events of this trigger are about a conversation.
    pub fn has_conversation(self) -> bool {
        self != Self::CampaignCompleted
    }
}

/// What a condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ConditionField {
    /// The conversation's channel type (`voice`, `web_chat`, `sms`, …).
    #[serde(rename = "channel_type")]
    ChannelType,
    /// The conversation's status.
    #[serde(rename = "status")]
    Status,
    /// The conversation's tags (`contains` / `not_contains` a tag).
    #[serde(rename = "tags")]
    Tags,
    /// The tag just added (`tag_added` only).
    #[serde(rename = "tag")]
    Tag,
    /// The text of the customer's message (`message_received` only).
    #[serde(rename = "message")]
    Message,
    /// The contact's name.
    #[serde(rename = "contact.name")]
    ContactName,
    /// The contact's e-mail.
    #[serde(rename = "contact.email")]
    ContactEmail,
    /// The contact's phone (E.164).
    #[serde(rename = "contact.phone")]
    ContactPhone,
}

impl ConditionField {
    /// Every field, as the API names them.
    pub const NAMES: [&str; 8] = [
        "channel_type",
        "status",
        "tags",
        "tag",
        "message",
        "contact.name",
        "contact.email",
        "contact.phone",
    ];

    /// The operators that make sense on this field.
    pub fn ops(self) -> &'static [ConditionOp] {
        use ConditionOp::*;
        match self {
            Self::ChannelType | Self::Status | Self::Tag => &[Equals, NotEquals],
            Self::Tags => &[Contains, NotContains],
            Self::Message => &[Contains, NotContains],
            Self::ContactName | Self::ContactEmail | Self::ContactPhone => {
                &[Equals, NotEquals, Contains, NotContains]
            }
        }
    }

    /// Whether `trigger`'s events carry what this field looks at.
    pub fn available_on(self, trigger: TriggerEvent) -> bool {
        match self {
            Self::Tag => trigger == TriggerEvent::TagAdded,
            Self::Message => trigger == TriggerEvent::MessageReceived,
            _ => trigger.has_conversation(),
        }
    }
}

/// How a condition compares. Text compares case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    /// The value is exactly this.
    Equals,
    /// The value is anything but this (an absent value too).
    NotEquals,
    /// The text contains this (for `tags`: has this tag).
    Contains,
    /// The text does not contain this (for `tags`: lacks this tag).
    NotContains,
}

impl ConditionOp {
    /// Every operator, as the API names them.
    pub const NAMES: [&str; 4] = ["equals", "not_equals", "contains", "not_contains"];

    /// Whether `actual` (absent: `None`) satisfies the condition's `value`.
    pub fn holds(self, actual: Option<&str>, value: &str) -> bool {
        let actual = actual.map(str::to_lowercase);
        let value = value.to_lowercase();
        match self {
            Self::Equals => actual.is_some_and(|a| a == value),
            Self::NotEquals => actual.is_none_or(|a| a != value),
            Self::Contains => actual.is_some_and(|a| a.contains(&value)),
            Self::NotContains => actual.is_none_or(|a| !a.contains(&value)),
        }
    }
}

/// One condition of a trigger; all of them must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Condition {
    /// What it looks at.
    pub field: ConditionField,
    /// How it compares.
    pub op: ConditionOp,
    /// What it compares with.
    pub value: String,
}

/// When an automation runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Trigger {
    /// The event.
    pub event: TriggerEvent,
    /// All must hold (none: always).
    pub conditions: Vec<Condition>,
}

/// What an automation does, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Assigns the conversation to `user_id` (a user of the org), or with
    /// `round_robin` to the next online agent: an `agent`-role member with a
    /// live sign-in session (signed in, not logged out, not expired).
    Assign {
        /// The user; absent with `round_robin`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        /// Take turns over the online agents instead of one user.
        #[serde(default)]
        round_robin: bool,
    },
    /// Adds a tag (which may trigger `tag_added` automations, one chain
    /// level deeper).
    AddTag {
        /// The tag.
        tag: String,
    },
    /// Sets the conversation's status.
    SetStatus {
        /// The status.
        status: ConversationStatus,
    },
    /// Sends a text to the customer on the conversation's channel, as a
    /// person's reply is sent (author `system`; it does not pause the AI).
    SendMessage {
        /// What it says.
        text: String,
    },
    /// POSTs `{type, timestamp, automation_id, data}` to `url`, signed the
    /// Standard Webhooks way with the org's webhook secret
    /// (`GET /webhooks/task-secret`), with the retries of every delivery.
    SendWebhook {
        /// `https://…`; a private or internal destination is refused.
        url: String,
    },
}

impl Action {
    /// Every action type, as the API names them.
    pub const NAMES: [&str; 5] = [
        "assign",
        "add_tag",
        "set_status",
        "send_message",
        "send_webhook",
    ];

    /// The API name of this action's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Assign { .. } => "assign",
            Self::AddTag { .. } => "add_tag",
            Self::SetStatus { .. } => "set_status",
            Self::SendMessage { .. } => "send_message",
            Self::SendWebhook { .. } => "send_webhook",
        }
    }
}

/// An automation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Automation {
    /// UUIDv7.
    pub id: String,
    /// Label.
    pub name: String,
    /// Inactive automations do not run.
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

/// How a run (or one of its actions) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Claimed, actions under way (a process that died here leaves it so:
    /// a run is never repeated, so nothing is done twice).
    Running,
    /// Everything done.
    Succeeded,
    /// An action failed (`error` says why).
    Failed,
    /// Not run (`error` says why: the chain depth, no conversation).
    Skipped,
}

/// What one action of a run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActionResult {
    /// The action's `type`.
    #[serde(rename = "type")]
    pub action_type: String,
    /// How it ended.
    pub status: RunStatus,
    /// What it did (`assigned to …`), when it did something.
    pub detail: Option<String>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
}

/// One run of an automation on one event (at most one per pair).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Derived from (event, automation): a redelivered event names the
    /// same run, which exists already, so it runs nothing twice.
    pub id: String,
    /// The automation.
    pub automation_id: String,
    /// The event's id.
    pub event_id: String,
    /// The event's type (`conversation.created`, …).
    pub event_type: String,
    /// The event's chain depth.
    pub depth: u32,
    /// The conversation acted on.
    pub conversation_id: Option<String>,
    /// How it ended.
    pub status: RunStatus,
    /// Per action, in order.
    pub actions: Vec<ActionResult>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_compare_text_case_insensitively_and_absent_values_sensibly() {
        assert!(ConditionOp::Equals.holds(Some("SMS"), "sms"));
        assert!(!ConditionOp::Equals.holds(None, "sms"));
        assert!(ConditionOp::NotEquals.holds(None, "sms"));
        assert!(ConditionOp::Contains.holds(Some("I want a Refund"), "refund"));
        assert!(!ConditionOp::NotContains.holds(Some("refund please"), "REFUND"));
        assert!(ConditionOp::NotContains.holds(None, "refund"));
    }

    #[test]
    fn names_parse_to_their_variants() {
        for name in TriggerEvent::NAMES {
            assert!(parse_name::<TriggerEvent>(name).is_some(), "{name}");
        }
        for name in ConditionField::NAMES {
            assert!(parse_name::<ConditionField>(name).is_some(), "{name}");
        }
        for name in ConditionOp::NAMES {
            assert!(parse_name::<ConditionOp>(name).is_some(), "{name}");
        }
        assert_eq!(
            TriggerEvent::of_event(TAG_ADDED),
            Some(TriggerEvent::TagAdded)
        );
        assert_eq!(TriggerEvent::of_event("call.failed"), None);
    }
}
