//! The bodies an agent is written with: `POST /agents` ([`AgentCreate`])
//! and `PATCH`/`PUT /agents/{id}` ([`AgentPatch`]). Every field is a
//! [`Field`], so [`super::AgentSpec::parse`] reports every bad field at once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{DtmfRule, ExtractionField, VoiceSettings, Voicemail};
use crate::domain::input::{Field, create_body};

/// The body of `PATCH`/`PUT /agents/{id}`, and every field an agent body
/// may hold: the fields sent change (`null` puts a field back to its
/// default), the others are kept; the result is checked as a whole.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AgentPatch {
    /// Display name (required on create).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// What the agent is and how it behaves (required on create).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 50_000)]
    #[serde(default)]
    pub system_prompt: Field<String>,
    /// Free text for humans.
    #[schema(value_type = Option<String>, max_length = 2_000)]
    #[serde(default)]
    pub description: Field<String>,
    /// Model name; `offline` (the default) is the built-in engine.
    #[schema(value_type = Option<String>, max_length = 100)]
    #[serde(default)]
    pub llm_model: Field<String>,
    /// The model a call continues on when `llm_model`'s provider is down
    /// (timeout, 5xx, 429 after retries); it must differ from `llm_model`.
    #[schema(value_type = Option<String>, max_length = 100)]
    #[serde(default)]
    pub fallback_llm_model: Field<String>,
    /// BCP 47 tag, `en-US` by default.
    #[schema(value_type = Option<String>, example = "en-US")]
    #[serde(default)]
    pub language: Field<String>,
    /// First thing said on a call.
    #[schema(value_type = Option<String>, max_length = 2_000)]
    #[serde(default)]
    pub greeting: Field<String>,
    /// Alias of `greeting`; send one of them, or the same text in both.
    #[schema(value_type = Option<String>, max_length = 2_000)]
    #[serde(default)]
    pub starting_message: Field<String>,
    /// Disabled agents take no calls (default true).
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub enabled: Field<bool>,
    /// Text-to-speech settings.
    #[schema(value_type = Option<VoiceSettings>)]
    #[serde(default)]
    pub voice_settings: Field<VoiceSettings>,
    /// What keypad digits do, one rule a digit.
    #[schema(value_type = Option<Vec<DtmfRule>>)]
    #[serde(default)]
    pub dtmf_rules: Field<Vec<DtmfRule>>,
    /// The id of a flow of this organization.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub flow_id: Field<String>,
    /// Where `transfer` actions send the caller (E.164, `+` and 7–15 digits).
    #[schema(value_type = Option<String>, example = "+14155550100")]
    #[serde(default)]
    pub transfer_number: Field<String>,
    /// Hard cap on a call's length (10..=14400, default 600).
    #[schema(value_type = Option<i64>, minimum = 10, maximum = 14_400)]
    #[serde(default)]
    pub max_duration_seconds: Field<i64>,
    /// Hang up after this much caller silence (1..=300, default 10).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 300)]
    #[serde(default)]
    pub silence_timeout_seconds: Field<i64>,
    /// Whether callers can interrupt the agent (default true).
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub allow_interruptions: Field<bool>,
    /// Phrases that end the call when the agent says them (at most 50, each
    /// 1..=200 characters).
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(default)]
    pub end_call_phrases: Field<Vec<String>>,
    /// What to do on reaching voicemail.
    #[schema(value_type = Option<Voicemail>)]
    #[serde(default)]
    pub voicemail: Field<Voicemail>,
    /// Fields to fill in each call's report.
    #[schema(value_type = Option<Vec<ExtractionField>>)]
    #[serde(default)]
    pub data_extraction: Field<Vec<ExtractionField>>,
    /// Keys an agent does not have (each one is a 422: a typo such as
    /// `sytem_prompt` must not be silently lost), apart from
    /// [`super::ECHOED`], which a read returns and a body may send back.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

create_body! {
    /// The body of `POST /agents`: the fields of [`AgentPatch`], with
    /// `name` and `system_prompt` required.
    AgentCreate = AgentPatch requiring ["name", "system_prompt"]
}
