//! Users, organizations, workspace settings and API keys (SPEC §2) as the
//! API shows them. Provider keys are masked from their stored hints (nothing
//! is decrypted to mask them); password hashes, key hashes and the admin
//! counter never leave the core.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::identity::{
    ApiKey, HoursRange, Organization, RecordingChannels, User, WorkspaceSettings,
};
use crate::domain::input::Field;
use crate::domain::{Mode, Role};

/// A user as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UserView {
    /// UUIDv7.
    pub id: String,
    /// Unique across the installation.
    #[schema(value_type = String)]
    pub email: crate::domain::Email,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            created_at: u.created_at.clone(),
        }
    }
}

/// A member of the caller's organization (`GET /users`, `PATCH /users/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MemberView {
    /// The user.
    #[serde(flatten)]
    pub user: UserView,
    /// `admin` or `agent`.
    #[schema(value_type = String)]
    pub role: Role,
    /// When they joined the organization (RFC 3339).
    pub joined_at: String,
}

/// Workspace settings as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WorkspaceSettingsView {
    /// IANA time zone.
    pub timezone: String,
    /// Opening hours per weekday: `{"mon": [{"start": "09:00", "end": "17:00"}]}`.
    #[schema(value_type = BTreeMap<String, Vec<Object>>)]
    pub business_hours: BTreeMap<String, Vec<HoursRange>>,
    /// BCP 47.
    pub default_language: String,
    /// API requests per minute per key.
    pub rate_limit_per_minute: u32,
    /// Provider name → masked key (`••••abcd`, or `••••`): keys are write-only.
    pub provider_keys: BTreeMap<String, String>,
    /// Base URL of the server `openai-compatible:<model>` models use (SPEC §16).
    pub openai_compatible_base_url: Option<String>,
    /// Campaign calls live at once across the org's campaigns (1–10,000, default 100).
    pub max_concurrent_campaign_calls: u32,
    /// Days a call recording is kept (0 = calls are not recorded; default 30).
    pub recording_retention_days: u32,
    /// `mixed` (default): one mono track of the call as it sounded; `dual`:
    /// stereo, the caller left and the agent (and supervisor) right.
    pub recording_channels: RecordingChannels,
    /// Hours without a message after which a contact's next call, chat or
    /// SMS starts a new conversation (0, the default: only once resolved).
    pub conversation_idle_hours: u32,
    /// Whether `agent` members see every conversation (default false: only
    /// those assigned to them or to no one).
    pub agents_see_all_conversations: bool,
}

impl From<&WorkspaceSettings> for WorkspaceSettingsView {
    fn from(s: &WorkspaceSettings) -> Self {
        Self {
            timezone: s.timezone.clone(),
            business_hours: s.business_hours.clone(),
            default_language: s.default_language.clone(),
            rate_limit_per_minute: s.rate_limit_per_minute,
            provider_keys: s
                .provider_keys
                .iter()
                .map(|(k, sealed)| (k.clone(), sealed.masked()))
                .collect(),
            openai_compatible_base_url: s.openai_compatible_base_url.clone(),
            max_concurrent_campaign_calls: s.max_concurrent_campaign_calls,
            recording_retention_days: s.recording_retention_days,
            recording_channels: s.recording_channels,
            conversation_idle_hours: s.conversation_idle_hours,
            agents_see_all_conversations: s.agents_see_all_conversations,
        }
    }
}

/// An organization as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrganizationView {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Workspace settings.
    pub settings: WorkspaceSettingsView,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The caller's role there (in lists of the caller's organizations).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
}

impl OrganizationView {
    /// The org, with the caller's `role` there when the route reports it.
    pub fn of(org: &Organization, role: Option<Role>) -> Self {
        Self {
            id: org.id.clone(),
            name: org.name.clone(),
            settings: WorkspaceSettingsView::from(&org.settings),
            created_at: org.created_at.clone(),
            updated_at: org.updated_at.clone(),
            role,
        }
    }
}

/// `GET|POST /settings/workspace`: the org's name beside its settings.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// The organization's display name.
    pub name: String,
    /// The settings.
    #[serde(flatten)]
    pub settings: WorkspaceSettingsView,
}

/// Who signed in: signup, login and accept-invite answer this (and set the
/// `sb_session` cookie).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SignedInView {
    /// The user.
    pub user: UserView,
    /// The organization the session acts in.
    pub organization: OrganizationView,
    /// The user's role there.
    #[schema(value_type = String)]
    pub role: Role,
}

/// `GET /auth/me`: who the credentials belong to.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MeView {
    /// The user, for a session; null for an API key.
    pub user: Option<UserView>,
    /// The key's id, for an API key; null for a session.
    pub api_key_id: Option<String>,
    /// The organization the request acts in.
    pub organization: OrganizationView,
    /// `admin` or `agent`.
    #[schema(value_type = String)]
    pub role: Role,
    /// `live` or `test`.
    #[schema(value_type = String)]
    pub mode: Mode,
}

/// An API key as lists show it: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// UUIDv7 (the handle for revoke and regenerate).
    pub id: String,
    /// Label.
    pub name: String,
    /// First characters of the secret, to recognise it.
    pub prefix: String,
    /// Last four characters of the secret.
    pub last4: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, updated at most once a minute; null before first use.
    pub last_used_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            last4: k.last4.clone(),
            created_at: k.created_at.clone(),
            last_used_at: k.last_used_at.clone(),
        }
    }
}

/// A key just made (create, regenerate): the only response that holds the secret.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NewApiKeyView {
    /// The key.
    #[serde(flatten)]
    pub api_key: ApiKeyView,
    /// The secret (`sb_live_…` or `sb_test_…`): shown once, never again.
    pub key: String,
}

/// `POST /auth/logout`: the session is ended and `sb_session` cleared.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LoggedOutView {
    /// Always `true`.
    pub logged_out: bool,
}

/// `POST /settings/password`: the password is changed, and the user's other
/// sessions are ended (a password change usually means "lock others out").
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PasswordChangedView {
    /// Always `true`.
    pub changed: bool,
    /// How many other sessions of the user were ended.
    pub other_sessions_ended: u32,
}

/// `POST /users/invite`: the invitation, with its token shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InviteView {
    /// UUIDv7.
    pub id: String,
    /// Who is invited.
    #[schema(value_type = String)]
    pub email: crate::domain::Email,
    /// The role they get on accepting (`admin` or `agent`).
    #[schema(value_type = String)]
    pub role: Role,
    /// The secret to accept with (`POST /auth/accept-invite`): shown once.
    pub token: String,
    /// The page that accepts it, token included.
    pub invite_url: String,
    /// RFC 3339: after this the token is refused.
    pub expires_at: String,
}

// The request bodies below are typed inputs: every field is a `Field`, so each
// service's parse step gives every invalid field its own 422 reason in one
// answer.

/// The body of `POST /auth/signup`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SignupInput {
    /// The new organization's display name.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub org_name: Field<String>,
    /// The admin's display name.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// The admin's e-mail (unique across the installation).
    #[schema(value_type = String, required = true, example = "ada@example.com")]
    #[serde(default)]
    pub email: Field<String>,
    /// 10 to 256 characters.
    #[schema(value_type = String, required = true, min_length = 10, max_length = 256)]
    #[serde(default)]
    pub password: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /auth/login`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct LoginInput {
    /// The account's e-mail.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 254)]
    #[serde(default)]
    pub email: Field<String>,
    /// Its password.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256)]
    #[serde(default)]
    pub password: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /auth/accept-invite`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AcceptInviteInput {
    /// The invitation's `token`.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub token: Field<String>,
    /// Display name (for someone without an account yet).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// The new account's password (10 to 256 characters), or the existing
    /// account's, to join with it.
    #[schema(value_type = String, required = true, min_length = 10, max_length = 256)]
    #[serde(default)]
    pub password: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /settings/password`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PasswordChangeInput {
    /// The password in use now.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 256)]
    #[serde(default)]
    pub current_password: Field<String>,
    /// The new one: 10 to 256 characters.
    #[schema(value_type = String, required = true, min_length = 10, max_length = 256)]
    #[serde(default)]
    pub new_password: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /settings/workspace` (and `settings` of `PATCH
/// /organizations/{id}`): the fields sent change, the others are kept.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WorkspaceSettingsInput {
    /// The organization's display name.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// IANA time zone.
    #[schema(value_type = Option<String>, example = "Europe/London")]
    #[serde(default)]
    pub timezone: Field<String>,
    /// Opening hours per weekday (`mon`..`sun`): `[{"start": "09:00", "end": "17:00"}]`.
    #[schema(value_type = Option<BTreeMap<String, Vec<Object>>>)]
    #[serde(default)]
    pub business_hours: Field<BTreeMap<String, Vec<HoursRange>>>,
    /// BCP 47.
    #[schema(value_type = Option<String>, max_length = 35)]
    #[serde(default)]
    pub default_language: Field<String>,
    /// API requests per minute per key (1..=1,000,000).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000)]
    #[serde(default)]
    pub rate_limit_per_minute: Field<i64>,
    /// Campaign calls live at once across the org's campaigns (1..=10,000).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10_000)]
    #[serde(default)]
    pub max_concurrent_campaign_calls: Field<i64>,
    /// Days a call recording is kept (0..=3650; 0 = calls are not recorded).
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 3650)]
    #[serde(default)]
    pub recording_retention_days: Field<i64>,
    /// `mixed` (one mono track) or `dual` (stereo: caller left, agent right);
    /// calls that start after the change are recorded so.
    #[schema(value_type = Option<RecordingChannels>)]
    #[serde(default)]
    pub recording_channels: Field<String>,
    /// Hours without a message after which a contact's next call, chat or
    /// SMS starts a new conversation (0..=8760; 0 = only once resolved).
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 8760)]
    #[serde(default)]
    pub conversation_idle_hours: Field<i64>,
    /// Whether `agent` members see every conversation.
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub agents_see_all_conversations: Field<bool>,
    /// Provider name → key (write-only, stored encrypted); `null` removes one.
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    #[serde(default)]
    pub provider_keys: Field<serde_json::Map<String, serde_json::Value>>,
    /// Base URL of an OpenAI-compatible server (public http(s)); `null` removes it.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub openai_compatible_base_url: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /api-keys`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ApiKeyInput {
    /// A label, to recognise the key by.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100)]
    #[serde(default)]
    pub name: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /organizations`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct OrganizationInput {
    /// Display name.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `PATCH /organizations/{id}`: the fields sent change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct OrganizationPatchInput {
    /// Display name.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// Settings to change, as in `POST /settings/workspace`.
    #[schema(value_type = Option<WorkspaceSettingsInput>)]
    #[serde(default)]
    pub settings: Field<WorkspaceSettingsInput>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost), apart from [`ORGANIZATION_ECHOED`], which a read returns.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// Keys an organization PATCH may echo back from a read without a 422:
/// the stored fields a body does not write. They are not changed by a body.
pub const ORGANIZATION_ECHOED: [&str; 4] = ["id", "created_at", "updated_at", "role"];

/// The body of `POST /users/invite`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct InviteInput {
    /// Whom to invite.
    #[schema(value_type = String, required = true, example = "grace@example.com")]
    #[serde(default)]
    pub email: Field<String>,
    /// `admin` or `agent` (the default).
    #[schema(value_type = Option<String>, example = "agent")]
    #[serde(default)]
    pub role: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /users/{id}/role`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RoleInput {
    /// `admin` or `agent`.
    #[schema(value_type = String, required = true, example = "agent")]
    #[serde(default)]
    pub role: Field<String>,
    /// Keys this body does not have: each one is a 422 (a typo must not be
    /// silently lost).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Cipher, Sealed};

    /// Provider keys mask from the hint stored beside them: a ciphertext no
    /// key opens masks the same, so a read never decrypts.
    #[test]
    fn provider_keys_mask_from_their_hint_without_decrypting() {
        let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let mut settings = WorkspaceSettings::default();
        let mut sealed = Sealed::seal(&cipher, "sk-proj-1234567890abcd");
        sealed.ciphertext = "v1:not-a-ciphertext".into();
        settings.provider_keys.insert("openai".into(), sealed);
        let view = WorkspaceSettingsView::from(&settings);
        assert_eq!(view.provider_keys["openai"], "••••abcd");
    }

    /// Keys stored before hints existed are bare ciphertexts: they still read,
    /// fully masked, and still open for the engine.
    #[test]
    fn provider_keys_stored_without_a_hint_read_fully_masked() {
        let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let stored = serde_json::json!({
            "timezone": "UTC", "default_language": "en-US", "rate_limit_per_minute": 1000,
            "provider_keys": {"openai": cipher.seal("sk-proj-1234567890abcd")},
        });
        let settings: WorkspaceSettings = serde_json::from_value(stored).unwrap();
        let view = WorkspaceSettingsView::from(&settings);
        assert_eq!(view.provider_keys["openai"], "••••");
        assert_eq!(
            settings.provider_keys["openai"].open(&cipher).unwrap(),
            "sk-proj-1234567890abcd"
        );
        // Written again it takes the `{sealed}` form, still with no hint.
        let rewritten = serde_json::to_value(&settings).unwrap();
        assert!(rewritten["provider_keys"]["openai"]["sealed"].is_string());
    }
}
