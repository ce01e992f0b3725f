//! The bodies a campaign is written with: `POST /campaigns`
//! ([`CampaignCreate`]), `PATCH /campaigns/{id}` ([`CampaignPatch`]) and its
//! contacts' `POST /campaigns/{id}/contacts` ([`CampaignContactInput`]) and
//! `…/contacts/bulk` ([`BulkContactsInput`]). Every field is a [`Field`], so
//! the parse steps report every bad field at once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{RetryOn, Schedule};
use crate::domain::input::{Field, create_body};

/// The body of `PATCH /campaigns/{id}`, and every field a campaign body may
/// hold: the fields sent change (`null` puts a field back to its default),
/// the others are kept; the result is checked as a whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CampaignPatch {
    /// Display name (required on create).
    #[schema(value_type = Option<String>, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// Free text.
    #[schema(value_type = Option<String>, max_length = 5_000)]
    #[serde(default)]
    pub description: Field<String>,
    /// An agent of this organization (required on create).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub agent_id: Field<String>,
    /// A channel of this organization (default: the org's line).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub channel_id: Field<String>,
    /// When it may dial (default: any time, UTC).
    #[schema(value_type = Option<Schedule>)]
    #[serde(default)]
    pub schedule: Field<Schedule>,
    /// Calls live at once (1–500, default 5).
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 500)]
    #[serde(default)]
    pub max_concurrent_calls: Field<i64>,
    /// When contacts are called again (default 2 attempts, 60 minutes apart,
    /// on no_answer, busy, failed and voicemail). Sent whole: the fields it
    /// leaves out take their defaults.
    #[schema(value_type = Option<RetryInput>)]
    #[serde(default)]
    pub retry: Field<RetryInput>,
    /// Variables every call gets.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub context_defaults: Field<Map<String, Value>>,
    /// Keys a campaign does not have (each one is a 422: a typo must not be
    /// silently ignored), apart from the stored ones a client may echo back.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

create_body! {
    /// The body of `POST /campaigns`: the fields of [`CampaignPatch`], with
    /// `name` and `agent_id` required.
    CampaignCreate = CampaignPatch requiring ["name", "agent_id"]
}

/// The `retry` object as sent: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryInput {
    /// Calls per contact at most, the first included (1–10, default 2).
    #[schema(minimum = 1, maximum = 10)]
    pub max_attempts: Option<i64>,
    /// Minutes between attempts (0–10080, default 60).
    #[schema(minimum = 0, maximum = 10_080)]
    pub delay_minutes: Option<i64>,
    /// Which results are retried (default all four).
    pub on: Option<Vec<RetryOn>>,
}

/// One contact to add to a campaign.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CampaignContactInput {
    /// E.164 (spaces, dashes, dots and brackets are removed first).
    #[schema(value_type = String, required = true, example = "+15005550007")]
    #[serde(default)]
    pub phone: Field<String>,
    /// Display name.
    #[schema(value_type = Option<String>, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// E-mail address.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub email: Field<String>,
    /// Call variables (`sim_persona` picks the simulated callee).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub variables: Field<Map<String, Value>>,
    /// Keys a contact does not have: the contact is refused.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /campaigns/{id}/contacts/bulk`. Each item is read on
/// its own: a bad one is listed in the answer, the others are added.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct BulkContactsInput {
    /// At most 10,000 contacts.
    #[schema(value_type = Vec<CampaignContactInput>, required = true, max_items = 10000)]
    #[serde(default)]
    pub contacts: Field<Vec<Field<CampaignContactInput>>>,
    /// Keys a bulk add does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}
