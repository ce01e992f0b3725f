//! Channels (SPEC §7) as the API shows them: credentials masked from their
//! stored hints (nothing is decrypted to mask them).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::channel::{Channel, ChannelType};

/// A channel as returned by every channel route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChannelView {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `twilio`, `plivo`, `telnyx`, `vonage`, `exotel`, `web` or `sim`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: ChannelType,
    /// Credential name → masked value (`••••abcd`, or `••••`): credentials
    /// are write-only.
    pub credentials: BTreeMap<String, String>,
    /// Numbers this channel answers and dials from (E.164).
    pub phone_numbers: Vec<String>,
    /// The agent that answers inbound conversations.
    pub default_agent_id: Option<String>,
    /// Type-specific settings (a web channel's widget settings).
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Channel> for ChannelView {
    fn from(c: Channel) -> Self {
        Self {
            credentials: c.masked_credentials(),
            id: c.id,
            name: c.name,
            kind: c.kind,
            phone_numbers: c
                .phone_numbers
                .iter()
                .map(|n| n.as_str().to_owned())
                .collect(),
            default_agent_id: c.default_agent_id,
            config: c.config,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// What `POST /channels/providers/verify` answers: whether the carrier took
/// the credentials, and the account's numbers if it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProviderCheckView {
    /// True when the carrier accepted the credentials.
    pub valid: bool,
    /// The account's numbers (E.164); empty when `valid` is false.
    pub phone_numbers: Vec<String>,
}

/// What `POST /channels/web/{id}/session` and `…/public-session` answer: where
/// the page connects, and the token it connects with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct WebSessionView {
    /// UUIDv7 of the session (the conversation it starts).
    pub session_id: String,
    /// The relay's socket for this session.
    pub websocket_url: String,
    /// Signed and short-lived: the relay checks it before the visitor talks
    /// to the channel's agent.
    pub token: String,
    /// RFC 3339: the token is refused after this.
    pub expires_at: String,
}
