//! Agents (SPEC §3) as the API shows them and as it accepts them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::agent::{Agent, DtmfRule, ExtractionField, VoiceSettings, Voicemail};

/// An agent as returned by every agent route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentView {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the agent is and how it behaves.
    pub system_prompt: String,
    /// Free text for humans.
    pub description: Option<String>,
    /// Model name; `offline` is the built-in engine.
    pub llm_model: String,
    /// The model a call continues on when `llm_model`'s provider is down.
    pub fallback_llm_model: Option<String>,
    /// BCP 47 tag.
    pub language: String,
    /// First thing said on a call.
    pub greeting: Option<String>,
    /// The same as `greeting` (the name other platforms use).
    pub starting_message: Option<String>,
    /// Disabled agents take no calls.
    pub enabled: bool,
    /// Text-to-speech settings.
    #[schema(value_type = Option<Object>)]
    pub voice_settings: Option<VoiceSettings>,
    /// What keypad digits do.
    #[schema(value_type = Vec<Object>)]
    pub dtmf_rules: Vec<DtmfRule>,
    /// The flow the agent follows, if any.
    pub flow_id: Option<String>,
    /// Where `transfer` actions send the caller (E.164).
    pub transfer_number: Option<String>,
    /// Hard cap on a call's length.
    pub max_duration_seconds: u32,
    /// Hang up after this much caller silence.
    pub silence_timeout_seconds: u32,
    /// Whether callers can interrupt the agent (barge-in).
    pub allow_interruptions: bool,
    /// Phrases that end the call when the agent says them.
    pub end_call_phrases: Vec<String>,
    /// What to do on reaching voicemail.
    #[schema(value_type = Option<Object>)]
    pub voicemail: Option<Voicemail>,
    /// Fields to fill in each call's report.
    #[schema(value_type = Vec<Object>)]
    pub data_extraction: Vec<ExtractionField>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        Self {
            id: a.id,
            name: a.name,
            system_prompt: a.system_prompt,
            description: a.description,
            llm_model: a.llm_model,
            fallback_llm_model: a.fallback_llm_model,
            language: a.language,
            starting_message: a.greeting.clone(),
            greeting: a.greeting,
            enabled: a.enabled,
            voice_settings: a.voice_settings,
            dtmf_rules: a.dtmf_rules,
            flow_id: a.flow_id,
            transfer_number: a.transfer_number.map(|n| n.as_str().to_owned()),
            max_duration_seconds: a.max_duration_seconds,
            silence_timeout_seconds: a.silence_timeout_seconds,
            allow_interruptions: a.allow_interruptions,
            end_call_phrases: a.end_call_phrases,
            voicemail: a.voicemail,
            data_extraction: a.data_extraction,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// The body of `POST /agents` (and, every field optional, of `PATCH`/`PUT
/// /agents/{id}`). Documentation only: [`crate::domain::agent::AgentSpec::parse`]
/// reads the body, so every invalid field gets its own 422 reason.
#[derive(Debug, ToSchema)]
pub struct AgentInput {
    /// Display name (required on create).
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// What the agent is and how it behaves (required on create).
    #[schema(min_length = 1)]
    pub system_prompt: String,
    /// Free text for humans.
    #[schema(required = false)]
    pub description: String,
    /// Model name; `offline` (the default) is the built-in engine.
    #[schema(required = false, max_length = 100)]
    pub llm_model: String,
    /// The model a call continues on when `llm_model`'s provider is down
    /// (timeout, 5xx, 429 after retries); it must differ from `llm_model`.
    #[schema(required = false, max_length = 100)]
    pub fallback_llm_model: String,
    /// BCP 47 tag, `en-US` by default.
    #[schema(required = false, example = "en-US")]
    pub language: String,
    /// First thing said on a call.
    #[schema(required = false)]
    pub greeting: String,
    /// Alias of `greeting`; send one of them, or the same text in both.
    #[schema(required = false)]
    pub starting_message: String,
    /// Disabled agents take no calls (default true).
    #[schema(required = false)]
    pub enabled: bool,
    /// Text-to-speech settings: `provider`, `voice_id`, `stability` (0..1),
    /// `similarity_boost` (0..1), `speed` (0.5..2).
    #[schema(required = false, value_type = Object)]
    pub voice_settings: serde_json::Value,
    /// What keypad digits do: `[{digit, action, value}]`, one rule a digit.
    #[schema(required = false, value_type = Vec<Object>)]
    pub dtmf_rules: serde_json::Value,
    /// The id of a flow of this organization.
    #[schema(required = false)]
    pub flow_id: String,
    /// Where `transfer` actions send the caller (E.164, `+` and 7–15 digits).
    #[schema(required = false, example = "+14155550100")]
    pub transfer_number: String,
    /// Hard cap on a call's length (10..=14400, default 600).
    #[schema(required = false, minimum = 10, maximum = 14_400)]
    pub max_duration_seconds: u32,
    /// Hang up after this much caller silence (1..=300, default 10).
    #[schema(required = false, minimum = 1, maximum = 300)]
    pub silence_timeout_seconds: u32,
    /// Whether callers can interrupt the agent (default true).
    #[schema(required = false)]
    pub allow_interruptions: bool,
    /// Phrases that end the call when the agent says them.
    #[schema(required = false)]
    pub end_call_phrases: Vec<String>,
    /// What to do on reaching voicemail: `{action, message}`.
    #[schema(required = false, value_type = Object)]
    pub voicemail: serde_json::Value,
    /// Fields to fill in each call's report: `[{name, type, description, options}]`.
    #[schema(required = false, value_type = Vec<Object>)]
    pub data_extraction: serde_json::Value,
}
