//! Agents (SPEC §3) as the API shows them (the bodies it accepts are
//! [`crate::domain::agent::AgentCreate`] and `AgentPatch`).

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
