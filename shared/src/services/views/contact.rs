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
