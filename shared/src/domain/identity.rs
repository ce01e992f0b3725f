//! Organizations, users, memberships, API keys, sessions and invites (SPEC §2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Email, Role};
use crate::crypto::Sealed;

/// An organization: the owner of every resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Workspace settings.
    pub settings: WorkspaceSettings,
    /// Number of admins, kept in step with memberships inside the same
    /// transaction so "never remove the last admin" holds under concurrency.
    pub admin_count: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Default API requests per minute per key (SPEC §1).
pub const DEFAULT_RATE_LIMIT: u32 = 1000;

/// Per-org settings (SPEC `/settings/workspace`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceSettings {
    /// IANA time zone.
    pub timezone: String,
    /// Opening hours per weekday, e.g. `{"mon": [{"start":"09:00","end":"17:00"}]}`.
    #[serde(default)]
    pub business_hours: BTreeMap<String, Vec<HoursRange>>,
    /// BCP 47.
    pub default_language: String,
    /// API requests per minute per key.
    pub rate_limit_per_minute: u32,
    /// Provider name → sealed secret with its hint, which reads mask from
    /// (a key stored before hints existed has none and shows as `••••`).
    #[serde(default)]
    pub provider_keys: BTreeMap<String, Sealed>,
    /// Base URL (up to `/v1`) of the server the `openai-compatible:<model>` models use
    /// (SPEC §16); requests to it obey the outbound SSRF rules.
    #[serde(default)]
    pub openai_compatible_base_url: Option<String>,
    /// Campaign calls the org may have live at once, across its campaigns
    /// (each campaign also keeps to its own `max_concurrent_calls`).
    #[serde(default = "default_campaign_calls")]
    pub max_concurrent_campaign_calls: u32,
    /// Days a call's recording is kept before the scheduler deletes it;
    /// 0 records nothing.
    #[serde(default = "default_recording_retention")]
    pub recording_retention_days: u32,
    /// How a recording holds the call's two sides.
    #[serde(default)]
    pub recording_channels: RecordingChannels,
    /// Hours without a message after which a contact's next call, chat or
    /// SMS starts a new conversation instead of continuing the open one;
    /// 0 never does (only a resolved conversation is not continued).
    #[serde(default)]
    pub conversation_idle_hours: u32,
    /// Whether members with the `agent` role see every conversation, not
    /// only those assigned to them or to no one.
    #[serde(default)]
    pub agents_see_all_conversations: bool,
}

/// How a call's recording holds its two sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordingChannels {
    /// One mono track: the caller and the agent mixed, as the call sounded.
    #[default]
    Mixed,
    /// Two tracks, one per side (stereo: the caller left, the agent and any
    /// supervisor right), for reviewing or transcribing each side alone.
    Dual,
}

impl RecordingChannels {
    /// The setting named `name`.
    pub fn parse(name: &str) -> Option<RecordingChannels> {
        match name {
            "mixed" => Some(RecordingChannels::Mixed),
            "dual" => Some(RecordingChannels::Dual),
            _ => None,
        }
    }

    /// Audio channels in the WAV (1 or 2).
    pub fn count(self) -> u16 {
        match self {
            RecordingChannels::Mixed => 1,
            RecordingChannels::Dual => 2,
        }
    }
}

/// Longest [`WorkspaceSettings::conversation_idle_hours`] (a year).
pub const MAX_CONVERSATION_IDLE_HOURS: u32 = 8760;

/// Default of [`WorkspaceSettings::max_concurrent_campaign_calls`].
pub const DEFAULT_CAMPAIGN_CALLS: u32 = 100;

fn default_campaign_calls() -> u32 {
    DEFAULT_CAMPAIGN_CALLS
}

/// Default of [`WorkspaceSettings::recording_retention_days`].
pub const DEFAULT_RECORDING_RETENTION_DAYS: u32 = 30;

/// Longest retention a workspace may set (ten years).
pub const MAX_RECORDING_RETENTION_DAYS: u32 = 3650;

fn default_recording_retention() -> u32 {
    DEFAULT_RECORDING_RETENTION_DAYS
}

impl Default for WorkspaceSettings {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            business_hours: BTreeMap::new(),
            default_language: "en-US".into(),
            rate_limit_per_minute: DEFAULT_RATE_LIMIT,
            provider_keys: BTreeMap::new(),
            openai_compatible_base_url: None,
            max_concurrent_campaign_calls: DEFAULT_CAMPAIGN_CALLS,
            recording_retention_days: DEFAULT_RECORDING_RETENTION_DAYS,
            recording_channels: RecordingChannels::Mixed,
            conversation_idle_hours: 0,
            agents_see_all_conversations: false,
        }
    }
}

/// An opening interval, `HH:MM` local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursRange {
    /// Start, `HH:MM`.
    pub start: String,
    /// End, `HH:MM`, after start.
    pub end: String,
}

/// A person who signs in to the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// UUIDv7.
    pub id: String,
    /// Unique across the installation.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// argon2id PHC string; never leaves the core.
    pub password_hash: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A user's place in an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The org.
    pub org_id: String,
    /// The user.
    pub user_id: String,
    /// Their role there.
    pub role: Role,
    /// RFC 3339.
    pub joined_at: String,
}

/// A stored API key: only its hash identifies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// UUIDv7 (the handle for revoke/regenerate).
    pub id: String,
    /// The org it acts for.
    pub org_id: String,
    /// Label.
    pub name: String,
    /// First characters of the secret, to recognise it.
    pub prefix: String,
    /// Last four characters.
    pub last4: String,
    /// SHA-256 of the secret (hex).
    pub key_hash: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, updated at most once a minute.
    pub last_used_at: Option<String>,
}

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Random id (not the secret).
    pub id: String,
    /// Who.
    pub user_id: String,
    /// The org the session acts in unless a request picks another of the
    /// user's orgs.
    pub org_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// An invitation to join an org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    /// UUIDv7.
    pub id: String,
    /// Org to join.
    pub org_id: String,
    /// Who was invited.
    pub email: Email,
    /// Role on joining.
    pub role: Role,
    /// Who invited.
    pub invited_by: String,
    /// RFC 3339.
    pub expires_at: String,
}
