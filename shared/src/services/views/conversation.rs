//! Inbox conversations and messages (SPEC §12) as the API shows them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::conversation::{
    Author, ChannelType, Conversation, ConversationStatus, DeliveryStatus, Message, MessageType,
};

/// A conversation as returned by every `/conversations` route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ConversationView {
    /// UUIDv7.
    pub id: String,
    /// The contact it is with (a web visitor has none).
    pub contact_id: Option<String>,
    /// The channel it happens on.
    pub channel_id: Option<String>,
    /// The kind of channel.
    pub channel_type: ChannelType,
    /// Where it is in its handling.
    pub status: ConversationStatus,
    /// The user working it.
    pub assignee_id: Option<String>,
    /// Free labels.
    pub tags: Vec<String>,
    /// Messages the signed-in user has not read (`GET /conversations/{id}`
    /// reads them); with an API key, every message not written by a person.
    pub unread_count: u64,
    /// When the last message was written (RFC 3339).
    pub last_message_at: String,
    /// The start of the last message that is not a note.
    pub last_message_preview: Option<String>,
    /// Whether the AI answers on it (a person's reply pauses it).
    pub ai_enabled: bool,
    /// The calls that happened in it, oldest first.
    pub call_ids: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl ConversationView {
    /// The view of `c` for a reader with `unread_count` unread messages.
    pub fn of(c: Conversation, unread_count: u64) -> Self {
        Self {
            id: c.id,
            contact_id: c.contact_id,
            channel_id: c.channel_id,
            channel_type: c.channel_type,
            status: c.status,
            assignee_id: c.assignee_id,
            tags: c.tags,
            unread_count,
            last_message_at: c.last_message_at,
            last_message_preview: c.last_message_preview,
            ai_enabled: c.ai_enabled,
            call_ids: c.call_ids,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageView {
    /// UUID.
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// `text` (to or from the customer) or `note` (private).
    #[serde(rename = "type")]
    pub message_type: MessageType,
    /// Who wrote it.
    pub author: Author,
    /// The user who wrote it (`author: user`, signed in).
    pub user_id: Option<String>,
    /// What it says.
    pub content: String,
    /// The call it was said in.
    pub call_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Where an SMS sent to the customer is on its way (`queued`, `sent`,
    /// `delivered`, `undelivered`, `failed`); null on every other message.
    pub delivery_status: Option<DeliveryStatus>,
    /// Why it failed or was not delivered (the carrier's code and message).
    pub delivery_error: Option<String>,
    /// The carrier's id of the SMS (Twilio's `SM…`), once it took it.
    pub provider_message_id: Option<String>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        let (delivery_status, delivery_error, provider_message_id) = match m.delivery {
            Some(d) => (Some(d.status), d.error, d.provider_id),
            None => (None, None, None),
        };
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            message_type: m.message_type,
            author: m.author,
            user_id: m.user_id,
            content: m.content,
            call_id: m.call_id,
            created_at: m.created_at,
            delivery_status,
            delivery_error,
            provider_message_id,
        }
    }
}

/// `GET /ai-suggest`: a reply drafted for a person to review and send.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SuggestionView {
    /// The drafted reply.
    pub suggestion: String,
    /// The knowledge passages it was drafted from, best first.
    pub sources: Vec<super::QueryHit>,
    /// The model that drafted it (`offline`: put together from the best
    /// passage, with no model).
    pub drafted_by: String,
}

/// `GET /conversations/live`: the relay's inbox socket, with a short-lived
/// token that opens it for the caller.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InboxSocketView {
    /// `<relay>/ws/inbox`.
    pub websocket_url: String,
    /// Opens the socket as the caller (`?session_token=`): reusable until
    /// `expires_at`; an open socket stays open past it.
    pub session_token: String,
    /// When the token stops opening sockets (RFC 3339).
    pub expires_at: String,
    /// What the socket pushes: `connected`, `conversation.created`,
    /// `conversation.updated`, `message.created`, `pong`, `error`.
    pub message_types: Vec<String>,
}

impl InboxSocketView {
    /// The view on the relay at `relay_url` (`ws://…`, no trailing slash),
    /// for `token` expiring at `exp` (unix seconds).
    pub fn new(relay_url: &str, token: String, exp: i64) -> Self {
        let expires_at = chrono::DateTime::from_timestamp(exp, 0)
            .map(crate::domain::rfc3339)
            .unwrap_or_default();
        Self {
            websocket_url: format!("{relay_url}/ws/inbox"),
            session_token: token,
            expires_at,
            message_types: [
                "connected",
                "conversation.created",
                "conversation.updated",
                "message.created",
                "pong",
                "error",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}
