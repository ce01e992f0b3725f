//! CRM contacts (SPEC §12) as the API shows them and as it accepts them.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::contact::Contact;

/// A contact as returned by every `/contacts` route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContactView {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// E.164; unique in the org.
    pub phone: Option<String>,
    /// Lower-cased; unique in the org.
    pub email: Option<String>,
    /// Where they work.
    pub company: Option<String>,
    /// Free labels.
    pub tags: Vec<String>,
    /// Free key/value data.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Never call this contact (every campaign skips it).
    pub do_not_call: bool,
    /// When `do_not_call` was set (RFC 3339).
    pub do_not_call_at: Option<String>,
    /// Why `do_not_call` was set (`asked not to be called again (call …)`
    /// when a callee asked during a call).
    pub do_not_call_reason: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        Self {
            id: c.id,
            name: c.name,
            phone: c.phone.map(|p| p.as_str().to_owned()),
            email: c.email.map(|e| e.as_str().to_owned()),
            company: c.company,
            tags: c.tags,
            attributes: c.attributes,
            do_not_call: c.do_not_call,
            do_not_call_at: c.do_not_call_at,
            do_not_call_reason: c.do_not_call_reason,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The body of `POST /contacts`. Documentation only:
/// [`crate::domain::contact::ContactSpec::parse`] reads the body, so every
/// invalid field gets its own 422 reason. At least one of `name`, `phone`,
/// `email` is needed.
#[derive(Debug, Clone, ToSchema)]
pub struct ContactInput {
    /// Display name.
    #[schema(required = false, max_length = 200)]
    pub name: String,
    /// E.164 after dropping spaces, dashes, dots and parentheses (a leading
    /// `00` reads as `+`); unique in the org (409).
    #[schema(
        required = false,
        example = "+14155550123",
        pattern = r"^\+[1-9][0-9]{6,14}$"
    )]
    pub phone: String,
    /// Stored lower-cased; unique in the org (409).
    #[schema(required = false, max_length = 254, format = Email)]
    pub email: String,
    /// Where they work.
    #[schema(required = false, max_length = 200)]
    pub company: String,
    /// At most 20 labels of at most 50 characters.
    #[schema(required = false, max_items = 20)]
    pub tags: Vec<String>,
    /// Free key/value data: at most 50 keys, 8 KiB as JSON.
    #[schema(required = false, value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Never call this contact. Setting it records when; clearing it
    /// forgets when and why.
    #[schema(required = false)]
    pub do_not_call: bool,
    /// Why (only with `do_not_call: true`; default `set through the API`).
    #[schema(required = false, max_length = 500)]
    pub do_not_call_reason: String,
}
