//! The bodies the inbox routes take. Every field is a [`Field`], so each
//! body's `check` names every bad field at once, and a key the body does not
//! have is a 422 (a typo must not be silently ignored).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    ChannelType, ConversationStatus, MAX_CONTENT_CHARS, MAX_TAG_CHARS, MAX_TAGS, MessageType,
};
use crate::domain::input::{Checks, Field};
use crate::error::Error;

/// A tag: trimmed, 1 to [`MAX_TAG_CHARS`] characters.
fn tag(c: &mut Checks, field: &str, input: Field<String>) -> Option<String> {
    c.opt_str(field, input, MAX_TAG_CHARS)
}

/// A value of a string enum, or the list of accepted ones.
fn enum_of<T>(
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
) -> impl FnOnce(&str) -> Result<T, String> {
    move |s| parse(s).ok_or_else(expected)
}

/// The body of `POST /conversations`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ConversationCreate {
    /// A contact of this organization.
    #[schema(value_type = String)]
    #[serde(default)]
    pub contact_id: Field<String>,
    /// The kind of channel (default `api`).
    #[schema(value_type = Option<ChannelType>)]
    #[serde(default)]
    pub channel_type: Field<String>,
    /// A channel of this organization the conversation happens on.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub channel_id: Field<String>,
    /// A user of this organization to work it.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub assignee_id: Field<String>,
    /// At most 10 labels of at most 50 characters.
    #[schema(value_type = Option<Vec<String>>, max_items = 10)]
    #[serde(default)]
    pub tags: Field<Vec<String>>,
    /// Whether the AI answers on it (default true).
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub ai_enabled: Field<bool>,
    /// Keys a conversation does not have.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// A checked [`ConversationCreate`] (ids still to be resolved in the org).
#[derive(Debug, Clone)]
pub struct NewConversation {
    /// The contact.
    pub contact_id: String,
    /// The channel type.
    pub channel_type: ChannelType,
    /// The channel.
    pub channel_id: Option<String>,
    /// The assignee.
    pub assignee_id: Option<String>,
    /// Tags, each once.
    pub tags: Vec<String>,
    /// Whether the AI answers.
    pub ai_enabled: bool,
}

impl ConversationCreate {
    /// Checks every field.
    pub fn check(self) -> Result<NewConversation, Error> {
        let mut c = Checks::new();
        c.unknown(self.unknown.keys(), "is not a field of a conversation");
        let contact_id = c.req_str("contact_id", self.contact_id, 64);
        let channel_type = c.opt_parsed(
            "channel_type",
            self.channel_type,
            enum_of(ChannelType::parse, ChannelType::expected),
        );
        let channel_id = c.opt_str("channel_id", self.channel_id, 64);
        let assignee_id = c.opt_str("assignee_id", self.assignee_id, 64);
        let mut tags: Vec<String> = Vec::new();
        for t in c
            .opt_str_list("tags", self.tags, MAX_TAG_CHARS, MAX_TAGS)
            .unwrap_or_default()
        {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let ai_enabled = c.opt_bool("ai_enabled", self.ai_enabled).unwrap_or(true);
        c.finish()?;
        Ok(NewConversation {
            contact_id: contact_id.unwrap_or_default(),
            channel_type: channel_type.unwrap_or(ChannelType::Api),
            channel_id,
            assignee_id,
            tags,
            ai_enabled,
        })
    }
}

/// The body of `PATCH /conversations/{id}`: what a person changes directly.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ConversationPatch {
    /// Whether the AI answers on it; a person's reply sets it to false.
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub ai_enabled: Field<bool>,
    /// Keys this route does not change.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

impl ConversationPatch {
    /// The new `ai_enabled`, if sent (`null` is the default, true).
    pub fn check(self) -> Result<Option<bool>, Error> {
        let mut c = Checks::new();
        c.unknown(
            self.unknown.keys(),
            "is not a field of a conversation patch",
        );
        let sent = !self.ai_enabled.is_absent();
        let null = matches!(self.ai_enabled, Field::Null);
        let value = c.opt_bool("ai_enabled", self.ai_enabled);
        c.finish()?;
        Ok(match (sent, null) {
            (false, _) => None,
            (true, true) => Some(true),
            (true, false) => value,
        })
    }
}

/// The body of `POST /conversations/{id}/status`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StatusInput {
    /// The new status.
    #[schema(value_type = ConversationStatus)]
    #[serde(default)]
    pub status: Field<String>,
    /// Keys this body does not have.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

impl StatusInput {
    /// Checks the status.
    pub fn check(self) -> Result<ConversationStatus, Error> {
        let mut c = Checks::new();
        c.unknown(self.unknown.keys(), "is not a field of a status change");
        let status = c.req_parsed(
            "status",
            self.status,
            enum_of(ConversationStatus::parse, ConversationStatus::expected),
        );
        c.finish()?;
        status.ok_or_else(|| Error::field("status", "is required"))
    }
}

/// The body of `POST /conversations/{id}/tags`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct TagInput {
    /// The tag to add (1 to 50 characters).
    #[schema(value_type = String, max_length = 50)]
    #[serde(default)]
    pub tag: Field<String>,
    /// Keys this body does not have.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

impl TagInput {
    /// Checks the tag.
    pub fn check(self) -> Result<String, Error> {
        let mut c = Checks::new();
        c.unknown(self.unknown.keys(), "is not a field of a tag body");
        if matches!(self.tag, Field::Absent | Field::Null) {
            c.error("tag", "is required");
        }
        let tag = tag(&mut c, "tag", self.tag);
        c.finish()?;
        tag.ok_or_else(|| Error::field("tag", "is required"))
    }
}

/// The body of `POST /conversations/{id}/assign`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AssignInput {
    /// A user of this organization, or `null` to unassign.
    #[schema(value_type = Option<String>, required = true)]
    #[serde(default)]
    pub user_id: Field<String>,
    /// Keys this body does not have.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

impl AssignInput {
    /// The user to assign, `None` to unassign.
    pub fn check(self) -> Result<Option<String>, Error> {
        let mut c = Checks::new();
        c.unknown(self.unknown.keys(), "is not a field of an assignment");
        if self.user_id.is_absent() {
            c.error("user_id", "is required (null unassigns)");
        }
        let user = c.opt_str("user_id", self.user_id, 64);
        c.finish()?;
        Ok(user)
    }
}

/// The body of `POST /conversations/{id}/messages`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct MessageInput {
    /// What it says (1 to 10,000 characters).
    #[schema(value_type = String, max_length = 10_000)]
    #[serde(default)]
    pub content: Field<String>,
    /// `text` goes to the customer on the conversation's channel; `note` is
    /// private (default `text`).
    #[schema(value_type = Option<MessageType>)]
    #[serde(default, rename = "type")]
    pub message_type: Field<String>,
    /// Keys a message does not have.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

impl MessageInput {
    /// The content and type.
    pub fn check(self) -> Result<(String, MessageType), Error> {
        let mut c = Checks::new();
        c.unknown(self.unknown.keys(), "is not a field of a message");
        let content = c.req_str("content", self.content, MAX_CONTENT_CHARS);
        let message_type = c.opt_parsed(
            "type",
            self.message_type,
            enum_of(MessageType::parse, MessageType::expected),
        );
        c.finish()?;
        Ok((
            content.unwrap_or_default(),
            message_type.unwrap_or(MessageType::Text),
        ))
    }
}
