//! The bodies a channel is written with: `POST /channels` ([`ChannelCreate`]),
//! `PATCH`/`PUT /channels/{id}` ([`ChannelPatch`]), a web channel's
//! `config` ([`WebConfigInput`]) and `POST /channels/providers/verify`
//! ([`VerifyProviderInput`]). Every field is a [`Field`], so
//! [`super::ChannelSpec::parse`] reports every bad field at once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::input::{Field, create_body};

/// The body of `PATCH`/`PUT /channels/{id}`, and every field a channel body
/// may hold: the fields sent change; within `credentials` only the names
/// sent change (`null` removes one).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ChannelPatch {
    /// Display name (required on create).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// `twilio`, `plivo`, `telnyx`, `vonage`, `exotel`, `web` or `sim`
    /// (required on create). A PATCH that changes it starts the
    /// credentials afresh.
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<String>, example = "sim")]
    pub kind: Field<String>,
    /// The carrier's credentials (e.g. Twilio `account_sid`, `auth_token`):
    /// write-only, stored encrypted. On PATCH only the names sent change, and
    /// `null` removes one.
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    #[serde(default)]
    pub credentials: Field<Map<String, Value>>,
    /// Numbers this channel answers and dials from (E.164, at most 100).
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(default)]
    pub phone_numbers: Field<Vec<Value>>,
    /// The id of the agent that answers inbound conversations.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub default_agent_id: Field<String>,
    /// Type-specific settings: for `web`, [`WebConfigInput`]; for the
    /// others, any object of at most 16 KB.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub config: Field<Map<String, Value>>,
    /// Keys a channel does not have (each one is a 422: a typo must not be
    /// silently lost), apart from [`super::ECHOED`], which a read returns
    /// and a body may send back.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

create_body! {
    /// The body of `POST /channels`: the fields of [`ChannelPatch`], with
    /// `name` and `type` required.
    ChannelCreate = ChannelPatch requiring ["name", "type"]
}

/// The `config` of a `web` channel.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WebConfigInput {
    /// Origins (`scheme://host[:port]`) whose pages may open sessions (at most 50).
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(default)]
    pub allowed_origins: Field<Vec<Value>>,
    /// Whether pages may open sessions without credentials (default false;
    /// a public channel needs an allowed origin).
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub public: Field<bool>,
    /// What the widget shows or says first.
    #[schema(value_type = Option<String>, max_length = 2_000)]
    #[serde(default)]
    pub greeting: Field<String>,
    /// The widget's look, as the page's script understands it.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub theme: Field<Map<String, Value>>,
    /// Keys a web channel does not have (each one is a 422).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The body of `POST /channels/providers/verify`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct VerifyProviderInput {
    /// The carrier (`twilio`; the others are not verifiable yet).
    #[serde(rename = "type", default)]
    #[schema(value_type = String, required = true, example = "twilio")]
    pub kind: Field<String>,
    /// The credentials to try; nothing is stored.
    #[schema(value_type = BTreeMap<String, String>, required = true)]
    #[serde(default)]
    pub credentials: Field<Map<String, Value>>,
    /// Keys a verification does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}
