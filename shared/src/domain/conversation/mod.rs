//! Inbox conversations and their messages (SPEC §12): every call and chat of
//! a contact on one channel, worked by people and helped by the AI.
//!
//! A conversation is stored with what its lists need (status, assignee,
//! tags, the last message's time and preview), so a list page never reads a
//! message. Messages are immutable once written.

mod input;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

pub use input::{
    AssignInput, ConversationCreate, ConversationPatch, MessageInput, StatusInput, TagInput,
};

/// Most tags a conversation has: each is an index item rewritten in the
/// conversation's transaction, which holds at most 25 writes.
pub const MAX_TAGS: usize = 10;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 50;
/// Longest message.
pub const MAX_CONTENT_CHARS: usize = 10_000;
/// Characters of the last message shown in a list.
pub const PREVIEW_CHARS: usize = 120;
/// Words of one message (or of a contact's name and phone) made searchable:
/// the search index stays bounded however long the text.
pub const MAX_SEARCH_WORDS: usize = 32;
/// Shortest and longest searchable word.
const SEARCH_WORD_CHARS: std::ops::RangeInclusive<usize> = 2..=40;

/// Declares a string enum of the API with its names, `as_str` and `parse`.
macro_rules! api_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the order the API lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in the API and in keys.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses an API name.
            pub fn parse(s: &str) -> Option<Self> {
                serde_json::from_value(Value::String(s.to_owned())).ok()
            }

            /// What a bad value is told: `must be a, b or c`.
            pub fn expected() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                match names.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("must be {} or {last}", rest.join(", "))
                    }
                    _ => format!("must be {}", names.join("")),
                }
            }
        }
    };
}

api_enum! {
    /// The channel a conversation happens on.
    ChannelType {
        /// Phone and simulated calls.
        Voice = "voice",
        /// The website widget (web calls and chats).
        WebChat = "web_chat",
        /// Text messages.
        Sms = "sms",
        /// WhatsApp.
        Whatsapp = "whatsapp",
        /// E-mail.
        Email = "email",
        /// Created through the API.
        Api = "api",
    }
}

api_enum! {
    /// Where a conversation is in its handling.
    ConversationStatus {
        /// Needs attention.
        Open = "open",
        /// Waiting on the customer.
        Pending = "pending",
        /// Done; the next call or chat of the contact starts a new conversation.
        Resolved = "resolved",
        /// Put aside for later.
        Snoozed = "snoozed",
    }
}

api_enum! {
    /// What a message is.
    MessageType {
        /// Said or written to or by the customer.
        Text = "text",
        /// A private note: never sent to the customer.
        Note = "note",
    }
}

api_enum! {
    /// Who wrote a message.
    Author {
        /// The customer.
        Contact = "contact",
        /// The AI agent.
        Ai = "ai",
        /// A person of the org (`user_id` says who).
        User = "user",
        /// The platform (a call's report).
        System = "system",
    }
}

api_enum! {
    /// Where a message sent to the customer by SMS is on its way.
    DeliveryStatus {
        /// Stored and waiting for (or handed to) the carrier.
        Queued = "queued",
        /// The carrier sent it toward the handset.
        Sent = "sent",
        /// The handset received it.
        Delivered = "delivered",
        /// The carrier could not deliver it.
        Undelivered = "undelivered",
        /// It could not be sent (`delivery.error` says why).
        Failed = "failed",
    }
}

impl DeliveryStatus {
    /// How far on its way a message is: a status callback that arrives late
    /// (`sent` after `delivered`) never moves a message back.
    fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered | DeliveryStatus::Undelivered | DeliveryStatus::Failed => 2,
        }
    }
}

/// How an outgoing SMS is doing (absent on every other message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Where it is.
    pub status: DeliveryStatus,
    /// The carrier's id of the message (Twilio's `SM…`), once it took it.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Why it failed or was not delivered (the carrier's code and message;
    /// never a credential).
    #[serde(default)]
    pub error: Option<String>,
}

impl Delivery {
    /// A message stored before it is handed to the carrier.
    pub fn queued() -> Self {
        Self {
            status: DeliveryStatus::Queued,
            provider_id: None,
            error: None,
        }
    }

    /// Moves to `status` (with `error`) unless the message is already as far
    /// or further; whether it changed.
    pub fn advance(&mut self, status: DeliveryStatus, error: Option<String>) -> bool {
        if status.rank() <= self.status.rank() {
            return false;
        }
        self.status = status;
        if error.is_some() {
            self.error = error;
        }
        true
    }
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// UUIDv7.
    pub id: String,
    /// The contact it is with.
    pub contact_id: Option<String>,
    /// The channel it happens on, when it has one.
    pub channel_id: Option<String>,
    /// The kind of channel.
    pub channel_type: ChannelType,
    /// Where it is in its handling.
    pub status: ConversationStatus,
    /// The user working it.
    pub assignee_id: Option<String>,
    /// Free labels.
    pub tags: Vec<String>,
    /// When the last message was written (RFC 3339), else when it was created.
    pub last_message_at: String,
    /// The start of the last message that is not a note.
    pub last_message_preview: Option<String>,
    /// Whether the AI answers on it (a person's reply pauses it).
    pub ai_enabled: bool,
    /// The calls that happened in it, oldest first.
    pub call_ids: Vec<String>,
    /// The web chat running in it now, which a person's reply reaches.
    #[serde(default)]
    pub live_call_id: Option<String>,
    /// The channel's number the customer last texted: replies go out from
    /// it (else from the channel's first number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_number: Option<String>,
    /// Messages a person of the org may not have read: every message not
    /// written by a user. A user's unread count is this minus what it was
    /// when they last opened the conversation.
    #[serde(default)]
    pub incoming: u64,
    /// What the conversation has taken in, for the analytics counters (a
    /// write counts the difference it makes to these).
    #[serde(default)]
    pub stats: ConversationStats,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Messages a conversation has taken in, by author, and the times the
/// first-response figure is made of. Kept on the conversation so that the
/// analytics counters move in the same version-checked write as it does:
/// a retried or redelivered write never counts twice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationStats {
    /// Texts from the customer.
    #[serde(default)]
    pub contact: u64,
    /// Texts from the AI.
    #[serde(default)]
    pub ai: u64,
    /// Texts from people of the org.
    #[serde(default)]
    pub user: u64,
    /// Notes (people's and the platform's).
    #[serde(default)]
    pub notes: u64,
    /// When the customer first wrote or spoke.
    #[serde(default)]
    pub first_contact_at: Option<String>,
    /// When the first answer (AI or person) to the customer came.
    #[serde(default)]
    pub first_response_at: Option<String>,
}

impl ConversationStats {
    /// Whether a person of the org ever answered (the AI did not contain it).
    pub fn human_replied(&self) -> bool {
        self.user > 0
    }

    fn record(&mut self, message: &Message) {
        if message.message_type == MessageType::Note {
            self.notes += 1;
            return;
        }
        match message.author {
            Author::Contact => {
                self.contact += 1;
                if self.first_contact_at.is_none() {
                    self.first_contact_at = Some(message.created_at.clone());
                }
            }
            Author::Ai | Author::User => {
                if message.author == Author::Ai {
                    self.ai += 1;
                } else {
                    self.user += 1;
                }
                if self.first_contact_at.is_some() && self.first_response_at.is_none() {
                    self.first_response_at = Some(message.created_at.clone());
                }
            }
            Author::System => self.notes += 1,
        }
    }
}

impl Conversation {
    /// A new open conversation `id` with no messages yet, at `now` (RFC 3339).
    pub fn open(
        id: String,
        contact_id: Option<String>,
        channel_type: ChannelType,
        channel_id: Option<String>,
        now: String,
    ) -> Conversation {
        Conversation {
            id,
            contact_id,
            channel_id,
            channel_type,
            status: ConversationStatus::Open,
            assignee_id: None,
            tags: Vec::new(),
            last_message_at: now.clone(),
            last_message_preview: None,
            ai_enabled: true,
            call_ids: Vec::new(),
            live_call_id: None,
            channel_number: None,
            incoming: 0,
            stats: ConversationStats::default(),
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// The index facets the conversation is listed under besides the whole
    /// list: its status, its channel type, its assignee (or `none`), each tag.
    pub fn facets(&self) -> Vec<String> {
        let mut out = vec![
            facet("status", self.status.as_str()),
            facet("channel_type", self.channel_type.as_str()),
            facet(
                "assignee_id",
                self.assignee_id.as_deref().unwrap_or(NO_ASSIGNEE),
            ),
        ];
        out.extend(self.tags.iter().map(|t| facet("tag", t)));
        out
    }

    /// Whether a user with the agent role may see it: it is theirs or no
    /// one's.
    pub fn visible_to_agent(&self, user_id: &str) -> bool {
        self.assignee_id.as_deref().is_none_or(|a| a == user_id)
    }

    /// Takes `message` in as the latest activity.
    pub fn record(&mut self, message: &Message) {
        self.last_message_at = message.created_at.clone();
        self.updated_at = message.created_at.clone();
        if message.message_type == MessageType::Text {
            self.last_message_preview = Some(preview(&message.content));
        }
        if message.author != Author::User {
            self.incoming += 1;
        }
        self.stats.record(message);
        if let Some(call) = &message.call_id
            && !self.call_ids.contains(call)
        {
            self.call_ids.push(call.clone());
        }
    }
}

/// The assignee facet value of an unassigned conversation.
pub const NO_ASSIGNEE: &str = "none";

/// `<filter>=<value>`: one list a conversation is indexed in.
pub fn facet(filter: &str, value: &str) -> String {
    format!("{filter}={value}")
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// UUIDv7 (ids sort by time).
    pub id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// Text or private note.
    #[serde(rename = "type")]
    pub message_type: MessageType,
    /// Who wrote it.
    pub author: Author,
    /// The user who wrote it (`author: user`).
    pub user_id: Option<String>,
    /// What it says.
    pub content: String,
    /// The call it was said in.
    pub call_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// How an SMS sent to the customer is doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// The start of `content` shown in lists: at most [`PREVIEW_CHARS`]
/// characters, on one line.
pub fn preview(content: &str) -> String {
    let flat = content.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(PREVIEW_CHARS) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// The searchable words of `text`: lower-cased runs of letters and digits of
/// 2 to 40 characters, each once, at most [`MAX_SEARCH_WORDS`].
pub fn search_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if out.len() == MAX_SEARCH_WORDS {
            break;
        }
        let word = word.to_lowercase();
        if SEARCH_WORD_CHARS.contains(&word.chars().count()) && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_bounded_lower_cased_and_distinct() {
        assert_eq!(
            search_words("Ada, ADA lovelace +1 415-555 a"),
            vec!["ada", "lovelace", "415", "555"]
        );
        let long = (0..100)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(search_words(&long).len(), MAX_SEARCH_WORDS);
        assert!(search_words(&"x".repeat(41)).is_empty());
    }

    #[test]
    fn previews_are_one_bounded_line() {
        assert_eq!(preview("hello\n  there"), "hello there");
        let p = preview(&"é".repeat(500));
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert_eq!(
            ConversationStatus::expected(),
            "must be open, pending, resolved or snoozed"
        );
    }

    #[test]
    fn deliveries_only_move_forward() {
        let mut d = Delivery::queued();
        assert!(d.advance(DeliveryStatus::Sent, None));
        assert!(d.advance(
            DeliveryStatus::Undelivered,
            Some("30003: unreachable".into())
        ));
        assert!(!d.advance(DeliveryStatus::Sent, None), "a late callback");
        assert!(
            !d.advance(DeliveryStatus::Delivered, None),
            "final is final"
        );
        assert_eq!(d.status, DeliveryStatus::Undelivered);
        assert_eq!(d.error.as_deref(), Some("30003: unreachable"));
    }
}
