//! An AI agent: prompt, model, voice and behaviour on a call (SPEC §3).

mod input;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{Checks, Field, overlay};
use super::{E164, is_snake_case};
use crate::error::Error;

pub use input::{AgentCreate, AgentPatch};

/// The built-in engine that needs no provider key.
pub const OFFLINE_MODEL: &str = "offline";

/// An agent as stored and returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
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
    #[serde(default)]
    pub fallback_llm_model: Option<String>,
    /// BCP 47 tag.
    pub language: String,
    /// First thing said on a call (input/output alias `starting_message`).
    pub greeting: Option<String>,
    /// Disabled agents take no calls.
    pub enabled: bool,
    /// Text-to-speech settings.
    pub voice_settings: Option<VoiceSettings>,
    /// What keypad digits do.
    pub dtmf_rules: Vec<DtmfRule>,
    /// The flow the agent follows, if any.
    pub flow_id: Option<String>,
    /// Where `transfer` actions send the caller.
    pub transfer_number: Option<E164>,
    /// Hard cap on a call's length.
    pub max_duration_seconds: u32,
    /// Hang up after this much caller silence.
    pub silence_timeout_seconds: u32,
    /// Whether callers can interrupt the agent (barge-in).
    pub allow_interruptions: bool,
    /// Phrases that end the call when the agent says them.
    pub end_call_phrases: Vec<String>,
    /// What to do on reaching voicemail.
    pub voicemail: Option<Voicemail>,
    /// Fields to fill in each call's report.
    pub data_extraction: Vec<ExtractionField>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Text-to-speech settings (ElevenLabs-style).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceSettings {
    /// `elevenlabs`, `polly`, `offline`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Provider's voice id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
    /// 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stability: Option<f64>,
    /// 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity_boost: Option<f64>,
    /// 0.5..=2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

/// What a keypad digit does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DtmfRule {
    /// `0`–`9`, `*` or `#`.
    pub digit: String,
    /// The action.
    pub action: DtmfAction,
    /// Transfer number, node id, or text to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Keypad actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DtmfAction {
    /// Transfer to `value` (or the agent's transfer number).
    Transfer,
    /// Hang up.
    EndCall,
    /// Jump to flow node `value`.
    SendToNode,
    /// Say `value`.
    Say,
}

/// Voicemail behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    /// Hang up or leave a message.
    pub action: VoicemailAction,
    /// The message to leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Voicemail actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailAction {
    /// Hang up at once.
    HangUp,
    /// Speak `message`, then hang up.
    LeaveMessage,
}

/// A field the post-call analyser fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractionField {
    /// snake_case key in `extracted_data`.
    pub name: String,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: ExtractionType,
    /// What to extract, for the analyser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Allowed values for `enum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
}

/// Extracted value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExtractionType {
    /// Text.
    String,
    /// Number.
    Number,
    /// true/false.
    Boolean,
    /// ISO date.
    Date,
    /// One of `options`.
    Enum,
}

const NAME_MAX: usize = 200;
const PROMPT_MAX: usize = 50_000;
const TEXT_MAX: usize = 2_000;

/// Checks a BCP 47 tag's shape (`en`, `en-US`, `zh-Hant-TW`).
fn parse_language(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = (2..=3).contains(&parts[0].len())
        && parts[0].chars().all(|c| c.is_ascii_alphabetic())
        && parts[1..]
            .iter()
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be a BCP 47 language tag such as en-US".into())
    }
}

/// The agent fields a client may write, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    name: String,
    system_prompt: String,
    description: Option<String>,
    llm_model: String,
    fallback_llm_model: Option<String>,
    language: String,
    greeting: Option<String>,
    enabled: bool,
    voice_settings: Option<VoiceSettings>,
    dtmf_rules: Vec<DtmfRule>,
    flow_id: Option<String>,
    transfer_number: Option<E164>,
    max_duration_seconds: u32,
    silence_timeout_seconds: u32,
    allow_interruptions: bool,
    end_call_phrases: Vec<String>,
    voicemail: Option<Voicemail>,
    data_extraction: Vec<ExtractionField>,
}

/// Keys an agent body may echo back from a read without a 422: the stored
/// fields a body does not write. They are not changed by a body.
pub const ECHOED: [&str; 3] = ["id", "created_at", "updated_at"];

impl AgentSpec {
    /// Checks a create body (or an existing agent with a PATCH laid over it,
    /// [`Agent::patched`]). Every invalid field is reported, not just the first.
    pub fn parse(body: AgentPatch) -> Result<Self, Error> {
        let mut f = Checks::new();
        f.unknown_except(body.unknown.keys(), &ECHOED, "is not an agent field");
        let name = f.req_str("name", body.name, NAME_MAX);
        let system_prompt = f.req_str("system_prompt", body.system_prompt, PROMPT_MAX);
        let description = f.opt_str("description", body.description, TEXT_MAX);
        let llm_model = f
            .opt_str("llm_model", body.llm_model, 100)
            .unwrap_or_else(|| OFFLINE_MODEL.to_owned());
        let fallback_llm_model = f.opt_str("fallback_llm_model", body.fallback_llm_model, 100);
        if fallback_llm_model.as_deref() == Some(llm_model.as_str()) {
            f.error(
                "fallback_llm_model",
                "must differ from llm_model (it is used when that model is down)",
            );
        }
        let language = f
            .opt_parsed("language", body.language, parse_language)
            .unwrap_or_else(|| "en-US".to_owned());
        let greeting = f.opt_str("greeting", body.greeting, TEXT_MAX);
        let starting_message = f.opt_str("starting_message", body.starting_message, TEXT_MAX);
        if let (Some(g), Some(s)) = (&greeting, &starting_message)
            && g != s
        {
            f.error(
                "starting_message",
                "is an alias of greeting; send one of them, or the same text in both",
            );
        }
        let greeting = greeting.or(starting_message);
        let enabled = f.opt_bool("enabled", body.enabled).unwrap_or(true);
        let voice_settings: Option<VoiceSettings> =
            f.opt_json("voice_settings", body.voice_settings);
        if let Some(v) = &voice_settings {
            for (field, value, range) in [
                ("stability", v.stability, 0.0..=1.0),
                ("similarity_boost", v.similarity_boost, 0.0..=1.0),
                ("speed", v.speed, 0.5..=2.0),
            ] {
                if value.is_some_and(|x| !range.contains(&x)) {
                    f.error(
                        format!("voice_settings.{field}"),
                        format!("must be from {} to {}", range.start(), range.end()),
                    );
                }
            }
        }
        let dtmf_rules: Vec<DtmfRule> = f
            .opt_json("dtmf_rules", body.dtmf_rules)
            .unwrap_or_default();
        for (i, rule) in dtmf_rules.iter().enumerate() {
            if !matches!(
                rule.digit.as_str(),
                "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "*" | "#"
            ) {
                f.error(
                    format!("dtmf_rules.{i}.digit"),
                    "must be one of 0-9, * or #",
                );
            }
            let needs_value = matches!(rule.action, DtmfAction::SendToNode | DtmfAction::Say);
            if needs_value && rule.value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                f.error(
                    format!("dtmf_rules.{i}.value"),
                    "is required for this action",
                );
            }
            if rule.action == DtmfAction::Transfer
                && let Some(v) = &rule.value
                && let Err(e) = E164::parse(v)
            {
                f.error(format!("dtmf_rules.{i}.value"), e);
            }
        }
        let mut digits: Vec<&str> = dtmf_rules.iter().map(|r| r.digit.as_str()).collect();
        digits.sort_unstable();
        if digits.windows(2).any(|w| w[0] == w[1]) {
            f.error("dtmf_rules", "each digit may have one rule");
        }
        let flow_id = f.opt_parsed("flow_id", body.flow_id, |s| {
            if super::is_id(s) {
                Ok(s.to_owned())
            } else {
                Err("must be a flow id".into())
            }
        });
        let transfer_number = f.opt_parsed("transfer_number", body.transfer_number, E164::parse);
        let max_duration_seconds = f
            .opt_int(
                "max_duration_seconds",
                body.max_duration_seconds,
                10..=14_400,
            )
            .unwrap_or(600) as u32;
        let silence_timeout_seconds = f
            .opt_int(
                "silence_timeout_seconds",
                body.silence_timeout_seconds,
                1..=300,
            )
            .unwrap_or(10) as u32;
        let allow_interruptions = f
            .opt_bool("allow_interruptions", body.allow_interruptions)
            .unwrap_or(true);
        let end_call_phrases = f
            .opt_str_list("end_call_phrases", body.end_call_phrases, 200, 50)
            .unwrap_or_default();
        let voicemail: Option<Voicemail> = f.opt_json("voicemail", body.voicemail);
        if let Some(vm) = &voicemail
            && vm.action == VoicemailAction::LeaveMessage
            && vm.message.as_deref().is_none_or(|m| m.trim().is_empty())
        {
            f.error(
                "voicemail.message",
                "is required when action is leave_message",
            );
        }
        let data_extraction: Vec<ExtractionField> = f
            .opt_json("data_extraction", body.data_extraction)
            .unwrap_or_default();
        for (i, field) in data_extraction.iter().enumerate() {
            if !is_snake_case(&field.name) {
                f.error(
                    format!("data_extraction.{i}.name"),
                    "must be snake_case (a-z, 0-9, _), at most 64 characters",
                );
            }
            if field.kind == ExtractionType::Enum
                && field.options.as_ref().is_none_or(|o| o.is_empty())
            {
                f.error(
                    format!("data_extraction.{i}.options"),
                    "is required for enum fields",
                );
            }
        }
        f.finish()?;
        // finish() returned Ok, so every required field was read successfully.
        let (Some(name), Some(system_prompt)) = (name, system_prompt) else {
            return Err(Error::Internal(
                "required agent fields missing after validation".into(),
            ));
        };
        Ok(Self {
            name,
            system_prompt,
            description,
            llm_model,
            fallback_llm_model,
            language,
            greeting,
            enabled,
            voice_settings,
            dtmf_rules,
            flow_id,
            transfer_number,
            max_duration_seconds,
            silence_timeout_seconds,
            allow_interruptions,
            end_call_phrases,
            voicemail,
            data_extraction,
        })
    }

    /// The flow the spec points at, to check that it exists.
    pub fn flow_id(&self) -> Option<&str> {
        self.flow_id.as_deref()
    }

    /// Builds the stored agent.
    pub fn into_agent(self, id: String, created_at: String, updated_at: String) -> Agent {
        Agent {
            id,
            name: self.name,
            system_prompt: self.system_prompt,
            description: self.description,
            llm_model: self.llm_model,
            fallback_llm_model: self.fallback_llm_model,
            language: self.language,
            greeting: self.greeting,
            enabled: self.enabled,
            voice_settings: self.voice_settings,
            dtmf_rules: self.dtmf_rules,
            flow_id: self.flow_id,
            transfer_number: self.transfer_number,
            max_duration_seconds: self.max_duration_seconds,
            silence_timeout_seconds: self.silence_timeout_seconds,
            allow_interruptions: self.allow_interruptions,
            end_call_phrases: self.end_call_phrases,
            voicemail: self.voicemail,
            data_extraction: self.data_extraction,
            created_at,
            updated_at,
        }
    }
}

impl Agent {
    /// This agent as a body, with `patch`'s fields laid over it (a PATCH is
    /// "the agent as it is, changed by these"), for [`AgentSpec::parse`].
    pub fn patched(&self, patch: AgentPatch) -> AgentPatch {
        // The stored agent reads back through the body type, so the two
        // cannot disagree on a field's shape; its stored-only keys (`id`,
        // `created_at`, …) land in `unknown` and are dropped for the patch's.
        let stored = serde_json::to_value(self)
            .ok()
            .and_then(|v| serde_json::from_value::<AgentPatch>(v).ok())
            .unwrap_or_default();
        // Whichever alias the patch uses replaces the stored greeting.
        let renamed = !patch.starting_message.is_absent() && patch.greeting.is_absent();
        let mut merged = overlay!(
            AgentPatch {
                name,
                system_prompt,
                description,
                llm_model,
                fallback_llm_model,
                language,
                greeting,
                starting_message,
                enabled,
                voice_settings,
                dtmf_rules,
                flow_id,
                transfer_number,
                max_duration_seconds,
                silence_timeout_seconds,
                allow_interruptions,
                end_call_phrases,
                voicemail,
                data_extraction;
                own unknown
            },
            stored,
            patch
        );
        if renamed {
            merged.greeting = Field::Absent;
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::input::from_json;

    fn parse(v: Value) -> Result<AgentSpec, Error> {
        AgentSpec::parse(from_json(v)?)
    }

    #[test]
    fn defaults_fill_what_the_client_left_out() {
        let a = parse(json!({"name": "Ava", "system_prompt": "Be kind"}))
            .unwrap()
            .into_agent("i".into(), "t".into(), "t".into());
        assert_eq!(a.llm_model, "offline");
        assert_eq!(a.language, "en-US");
        assert!(a.enabled && a.allow_interruptions);
        assert_eq!(a.max_duration_seconds, 600);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let Err(Error::Validation(f)) = parse(json!({
            "name": "", "language": "english please", "transfer_number": "555",
            "voice_settings": {"stability": 3}, "dtmf_rules": [{"digit": "x", "action": "say"}],
            "data_extraction": [{"name": "Bad Name", "type": "enum"}], "enabled": "yes",
            "sytem_prompt": "a typo", "id": "echoed", "created_at": "echoed"
        })) else {
            panic!("expected validation error")
        };
        for key in [
            "name",
            "system_prompt",
            "language",
            "transfer_number",
            "voice_settings.stability",
            "dtmf_rules.0.digit",
            "dtmf_rules.0.value",
            "data_extraction.0.name",
            "data_extraction.0.options",
            "enabled",
            "sytem_prompt",
        ] {
            assert!(f.contains_key(key), "missing {key} in {f:?}");
        }
        assert_eq!(f["sytem_prompt"], "is not an agent field");
        assert!(!f.contains_key("id") && !f.contains_key("created_at"));
    }

    #[test]
    fn starting_message_is_an_alias_both_ways() {
        let a = parse(json!({"name": "A", "system_prompt": "p", "starting_message": "Hi"}))
            .unwrap()
            .into_agent("i".into(), "t".into(), "t".into());
        assert_eq!(a.greeting.as_deref(), Some("Hi"));
        let merged = a.patched(from_json(json!({"starting_message": "Hello"})).unwrap());
        let b = AgentSpec::parse(merged)
            .unwrap()
            .into_agent("i".into(), "t".into(), "t".into());
        assert_eq!(b.greeting.as_deref(), Some("Hello"));
        assert!(
            parse(
                json!({"name": "A", "system_prompt": "p", "greeting": "a", "starting_message": "b"})
            )
            .is_err()
        );
    }

    #[test]
    fn patch_cannot_remove_required_fields() {
        let a = parse(json!({"name": "A", "system_prompt": "p"}))
            .unwrap()
            .into_agent("i".into(), "t".into(), "t".into());
        let merged = a.patched(from_json(json!({"name": null})).unwrap());
        assert!(
            matches!(AgentSpec::parse(merged), Err(Error::Validation(f)) if f.contains_key("name"))
        );
    }

    #[test]
    fn patch_keeps_what_it_does_not_send_and_null_restores_defaults() {
        let a = parse(
            json!({"name": "A", "system_prompt": "p", "language": "fr-FR",
            "max_duration_seconds": 60, "description": "old"}),
        )
        .unwrap()
        .into_agent("i".into(), "t".into(), "t".into());
        let patch = json!({"name": "B", "max_duration_seconds": null, "description": null});
        let b = AgentSpec::parse(a.patched(from_json(patch).unwrap()))
            .unwrap()
            .into_agent("i".into(), "t".into(), "t".into());
        assert_eq!(b.name, "B");
        assert_eq!(b.system_prompt, "p");
        assert_eq!(b.language, "fr-FR");
        assert_eq!(b.max_duration_seconds, 600, "null puts the default back");
        assert_eq!(b.description, None, "null clears an optional field");
    }
}
