//! The bodies a contact is written with: `POST /contacts` ([`ContactCreate`])
//! and `PATCH /contacts/{id}` ([`ContactPatch`]). Every field is a
//! [`Field`], so [`super::ContactSpec::parse`] reports every bad field at once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::input::{Field, create_body};

/// The body of `PATCH /contacts/{id}`, and every field a contact body may
/// hold: the fields sent change (`null` clears one), the others are kept;
/// the result is checked as a whole. A contact needs at least one of
/// `name`, `phone`, `email`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ContactPatch {
    /// Display name.
    #[schema(value_type = Option<String>, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// E.164 after dropping spaces, dashes, dots and parentheses (a leading
    /// `00` reads as `+`); unique in the org (409).
    #[schema(value_type = Option<String>, example = "+14155550123")]
    #[serde(default)]
    pub phone: Field<String>,
    /// Stored lower-cased; unique in the org (409).
    #[schema(value_type = Option<String>, max_length = 254, format = Email)]
    #[serde(default)]
    pub email: Field<String>,
    /// Where they work.
    #[schema(value_type = Option<String>, max_length = 200)]
    #[serde(default)]
    pub company: Field<String>,
    /// At most 20 labels of at most 50 characters.
    #[schema(value_type = Option<Vec<String>>, max_items = 20)]
    #[serde(default)]
    pub tags: Field<Vec<String>>,
    /// Free key/value data: at most 50 keys, 8 KiB as JSON.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub attributes: Field<Map<String, Value>>,
    /// Never call this contact. Setting it records when; clearing it
    /// forgets when and why.
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub do_not_call: Field<bool>,
    /// Why (only with `do_not_call: true`; default `set through the API`).
    #[schema(value_type = Option<String>, max_length = 500)]
    #[serde(default)]
    pub do_not_call_reason: Field<String>,
    /// Keys a contact does not have: each one is a 422 (a typo must not be
    /// silently ignored).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

create_body! {
    /// The body of `POST /contacts`: the fields of [`ContactPatch`]; at least
    /// one of `name`, `phone`, `email` is needed.
    ContactCreate = ContactPatch requiring []
}
