//! CRM contacts (SPEC §12): the people an org talks to, with the phone and
//! e-mail that identify them (each unique per org) and the do-not-call flag
//! with when and why it was set, which every dialer honours.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::input::{Checks, Field, overlay};
use super::{E164, Email};
use crate::error::{Error, Result};

mod input;
pub use input::{ContactCreate, ContactPatch};

/// Longest name or company.
pub const MAX_TEXT_CHARS: usize = 200;
/// Most tags on a contact.
pub const MAX_TAGS: usize = 20;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 50;
/// Most attributes on a contact.
pub const MAX_ATTRIBUTES: usize = 50;
/// Largest attributes object (its JSON text).
pub const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;
/// Longest do-not-call reason.
pub const MAX_REASON_CHARS: usize = 500;
/// Most words of a name that are indexed for search (each is a store item).
pub const MAX_NAME_TERMS: usize = 5;
/// Longest indexed word (longer words are indexed by their start).
const MAX_TERM_CHARS: usize = 40;
/// The reason recorded when the API sets `do_not_call` without one.
pub const DEFAULT_REASON: &str = "set through the API";

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// E.164, unique in the org.
    pub phone: Option<E164>,
    /// Lower-cased, unique in the org.
    pub email: Option<Email>,
    /// Where they work.
    pub company: Option<String>,
    /// Free labels, distinct, in the order given.
    pub tags: Vec<String>,
    /// Free key/value data (usable as `{{contact.x}}` in flows).
    pub attributes: Map<String, Value>,
    /// Never call this contact.
    pub do_not_call: bool,
    /// When `do_not_call` was set (RFC 3339).
    pub do_not_call_at: Option<String>,
    /// Why `do_not_call` was set.
    pub do_not_call_reason: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A validated contact body (a create, or a patch merged onto the stored
/// contact).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSpec {
    /// Display name.
    pub name: Option<String>,
    /// Normalised phone.
    pub phone: Option<E164>,
    /// Normalised e-mail.
    pub email: Option<Email>,
    /// Company.
    pub company: Option<String>,
    /// Distinct tags.
    pub tags: Vec<String>,
    /// Attributes.
    pub attributes: Map<String, Value>,
    /// The flag.
    pub do_not_call: bool,
    /// The reason sent with it, if one was.
    pub do_not_call_reason: Option<String>,
}

/// Keys a contact read returns that a body does not write: sent back, they pass.
pub const ECHOED: [&str; 4] = ["id", "created_at", "updated_at", "do_not_call_at"];

impl ContactSpec {
    /// Parses a create body (or a stored contact with a PATCH laid over
    /// it, [`Contact::patched`]), naming every bad field.
    pub fn parse(body: ContactPatch) -> Result<ContactSpec> {
        let mut f = Checks::new();
        f.unknown_except(body.unknown.keys(), &ECHOED, "is not a field of a contact");
        let unset = |v: &Field<String>| matches!(v, Field::Absent | Field::Null);
        if unset(&body.name) && unset(&body.phone) && unset(&body.email) {
            f.error(
                "name",
                "a contact needs at least a name, a phone or an email",
            );
        }
        let name = f.opt_str("name", body.name, MAX_TEXT_CHARS);
        let phone = f.opt_parsed("phone", body.phone, normalize_phone);
        let email = f.opt_parsed("email", body.email, Email::parse);
        let company = f.opt_str("company", body.company, MAX_TEXT_CHARS);
        let tags = f
            .opt_str_list("tags", body.tags, MAX_TAG_CHARS, MAX_TAGS)
            .unwrap_or_default();
        let mut distinct: Vec<String> = Vec::with_capacity(tags.len());
        for t in tags {
            if !distinct.contains(&t) {
                distinct.push(t);
            }
        }
        let attributes = parse_attributes(&mut f, body.attributes);
        let do_not_call = f.opt_bool("do_not_call", body.do_not_call).unwrap_or(false);
        let do_not_call_reason = f.opt_str(
            "do_not_call_reason",
            body.do_not_call_reason,
            MAX_REASON_CHARS,
        );
        if do_not_call_reason.is_some() && !do_not_call {
            f.error(
                "do_not_call_reason",
                "can only be given with do_not_call true",
            );
        }
        f.finish()?;
        Ok(ContactSpec {
            name,
            phone,
            email,
            company,
            tags: distinct,
            attributes,
            do_not_call,
            do_not_call_reason,
        })
    }

    /// The contact this spec describes. `previous` is the stored contact on
    /// an update: the do-not-call time (and reason, unless a new one is
    /// sent) stay those of when the flag was first set.
    pub fn into_contact(
        self,
        id: String,
        previous: Option<&Contact>,
        created_at: String,
        now: String,
    ) -> Contact {
        let was = previous.filter(|p| p.do_not_call);
        let (at, reason) = match (self.do_not_call, was) {
            (false, _) => (None, None),
            (true, Some(p)) => (
                p.do_not_call_at.clone().or_else(|| Some(now.clone())),
                self.do_not_call_reason
                    .or_else(|| p.do_not_call_reason.clone()),
            ),
            (true, None) => (
                Some(now.clone()),
                Some(
                    self.do_not_call_reason
                        .unwrap_or_else(|| DEFAULT_REASON.to_owned()),
                ),
            ),
        };
        Contact {
            id,
            name: self.name,
            phone: self.phone,
            email: self.email,
            company: self.company,
            tags: self.tags,
            attributes: self.attributes,
            do_not_call: self.do_not_call,
            do_not_call_at: at,
            do_not_call_reason: reason,
            created_at,
            updated_at: now,
        }
    }
}

fn parse_attributes(f: &mut Checks, input: Field<Map<String, Value>>) -> Map<String, Value> {
    let map = match input {
        Field::Absent | Field::Null => return Map::new(),
        Field::Invalid(_) => {
            f.error("attributes", "must be an object");
            return Map::new();
        }
        Field::Value(map) => map,
    };
    if map.len() > MAX_ATTRIBUTES {
        f.error(
            "attributes",
            format!("must have at most {MAX_ATTRIBUTES} keys"),
        );
    } else if map
        .keys()
        .any(|k| k.trim().is_empty() || k.chars().count() > 64)
    {
        f.error("attributes", "keys must be 1 to 64 characters");
    } else if serde_json::to_string(&map).map_or(usize::MAX, |s| s.len()) > MAX_ATTRIBUTES_BYTES {
        f.error(
            "attributes",
            format!(
                "must be at most {} KiB as JSON",
                MAX_ATTRIBUTES_BYTES / 1024
            ),
        );
    } else {
        return map;
    }
    Map::new()
}

impl Contact {
    /// This contact as a body, with `patch`'s fields laid over it (a PATCH
    /// is "the contact as it is, changed by these"), for
    /// [`ContactSpec::parse`]. The reason is only ever what the patch sends,
    /// the stored one being kept by [`ContactSpec::into_contact`].
    pub fn patched(&self, patch: ContactPatch) -> ContactPatch {
        let stored = ContactPatch {
            name: self.name.clone().into(),
            phone: self.phone.as_ref().map(|p| p.as_str().to_owned()).into(),
            email: self.email.as_ref().map(|e| e.as_str().to_owned()).into(),
            company: self.company.clone().into(),
            tags: Field::Value(self.tags.clone()),
            attributes: Field::Value(self.attributes.clone()),
            do_not_call: Field::Value(self.do_not_call),
            ..ContactPatch::default()
        };
        overlay!(
            ContactPatch {
                name,
                phone,
                email,
                company,
                tags,
                attributes,
                do_not_call;
                own do_not_call_reason,
                unknown
            },
            stored,
            patch
        )
    }

    /// The words of the name that search finds it by (see [`search_words`]).
    pub fn name_terms(&self) -> Vec<String> {
        self.name.as_deref().map(search_words).unwrap_or_default()
    }
}

/// Reads a phone number as E.164, forgiving the usual formatting: spaces,
/// dashes, dots and parentheses are dropped and a leading `00` reads as `+`
/// (`+1 (415) 555-0123` → `+14155550123`). A national number without its
/// country code cannot be told apart from others and is refused.
pub fn normalize_phone(s: &str) -> std::result::Result<E164, String> {
    let compact: String = s
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let compact = match compact.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => compact,
    };
    E164::parse(&compact)
}

/// The distinct lower-cased words of `text` (letters and digits), at most
/// [`MAX_NAME_TERMS`], each cut to 40 characters: the keys a name is found by
/// and the shape a search query is read into.
pub fn search_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.to_lowercase().split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word: String = word.chars().take(MAX_TERM_CHARS).collect();
        if !out.contains(&word) {
            out.push(word);
        }
        if out.len() == MAX_NAME_TERMS {
            break;
        }
    }
    out
}

/// What a `search` text looks for: the store is keyed by phone, by e-mail and
/// by name word, so each shape is a key-prefix read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// A phone prefix (`+1415`, `1 415 555`, `+14155550123`).
    Phone(String),
    /// An e-mail prefix (`ada@`, `ada@example.com`).
    Email(String),
    /// Name words, each a prefix of some word of the name (`ada lov`).
    Name(Vec<String>),
}

impl SearchKey {
    /// Reads a search text; `None` when it holds nothing to look for.
    pub fn parse(text: &str) -> Option<SearchKey> {
        let text = text.trim();
        if text.contains('@') {
            return Some(SearchKey::Email(text.to_lowercase()));
        }
        let compact: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or(&compact);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            let digits = match compact.strip_prefix("00") {
                Some(rest) if !compact.starts_with('+') => rest,
                _ => digits,
            };
            return Some(SearchKey::Phone(format!("+{digits}")));
        }
        let words = search_words(text);
        (!words.is_empty()).then_some(SearchKey::Name(words))
    }
}

/// A phone number given to the dialer's helpers, normalised, or the 422 that
/// names it.
pub fn phone_arg(phone: &str) -> Result<E164> {
    normalize_phone(phone).map_err(|reason| Error::field("phone", reason))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::input::from_json;

    fn parse(v: Value) -> Result<ContactSpec> {
        ContactSpec::parse(from_json::<ContactCreate>(v)?.0)
    }

    /// `patch` applied to `c`, as `PATCH /contacts/{id}` does.
    fn patched(c: &Contact, patch: Value, now: &str) -> Contact {
        ContactSpec::parse(c.patched(from_json(patch).unwrap()))
            .unwrap()
            .into_contact(c.id.clone(), Some(c), c.created_at.clone(), now.into())
    }

    #[test]
    fn phones_are_normalised_to_e164() {
        for (given, want) in [
            ("+1 (415) 555-0123", "+14155550123"),
            ("0044 20 7123 4567", "+442071234567"),
            ("+1.415.555.0123", "+14155550123"),
        ] {
            assert_eq!(normalize_phone(given).unwrap().as_str(), want, "{given}");
        }
        for bad in [
            "415 555 0123",
            "+0 415",
            "call me",
            "",
            "+1 415 555 0123 ext 9",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_body_is_normalised_and_every_bad_field_named() {
        let spec = parse(json!({"name": " Ada Lovelace ", "phone": "+1 415 555 0123",
            "email": "Ada@Example.COM", "tags": ["vip", "vip", "new"]}))
        .unwrap();
        assert_eq!(spec.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(spec.phone.unwrap().as_str(), "+14155550123");
        assert_eq!(spec.email.unwrap().as_str(), "ada@example.com");
        assert_eq!(spec.tags, ["vip", "new"]);

        let Err(Error::Validation(fields)) = parse(json!({"phone": "555", "email": "x",
            "tags": "vip", "attributes": [1], "do_not_call": "yes", "compnay": "x", "id": "x"}))
        else {
            panic!("expected a validation error")
        };
        for f in [
            "phone",
            "email",
            "tags",
            "attributes",
            "do_not_call",
            "compnay",
        ] {
            assert!(fields.contains_key(f), "{f}: {fields:?}");
        }
        // What a read returns passes: a contact read back is a valid body.
        assert!(!fields.contains_key("id"), "{fields:?}");
        assert!(parse(json!({})).is_err(), "nothing identifies the contact");
        assert!(parse(json!({"name": "A", "do_not_call_reason": "why"})).is_err());
    }

    #[test]
    fn do_not_call_keeps_when_and_why_it_was_first_set() {
        let first = parse(json!({"phone": "+14155550123", "do_not_call": true}))
            .unwrap()
            .into_contact("c".into(), None, "t0".into(), "t0".into());
        assert_eq!(first.do_not_call_at.as_deref(), Some("t0"));
        assert_eq!(first.do_not_call_reason.as_deref(), Some(DEFAULT_REASON));
        let again = patched(&first, json!({"name": "Ann"}), "t1");
        assert_eq!(again.do_not_call_at.as_deref(), Some("t0"));
        assert_eq!(again.do_not_call_reason.as_deref(), Some(DEFAULT_REASON));
        let reasoned = patched(&again, json!({"do_not_call_reason": "by letter"}), "t2");
        assert_eq!(reasoned.do_not_call_at.as_deref(), Some("t0"));
        assert_eq!(reasoned.do_not_call_reason.as_deref(), Some("by letter"));
        let cleared = patched(&reasoned, json!({"do_not_call": false}), "t3");
        assert!(!cleared.do_not_call && cleared.do_not_call_at.is_none());
        assert!(cleared.do_not_call_reason.is_none());
        // A patch can clear a field with null.
        let no_email = patched(&cleared, json!({"phone": null, "name": "B"}), "t4");
        assert!(no_email.phone.is_none());
    }

    #[test]
    fn search_text_is_read_by_its_shape() {
        assert_eq!(
            SearchKey::parse(" +1 (415) 555"),
            Some(SearchKey::Phone("+1415555".into()))
        );
        assert_eq!(
            SearchKey::parse("1415"),
            Some(SearchKey::Phone("+1415".into()))
        );
        assert_eq!(
            SearchKey::parse("Ada@Ex"),
            Some(SearchKey::Email("ada@ex".into()))
        );
        assert_eq!(
            SearchKey::parse("Ada  LOV"),
            Some(SearchKey::Name(vec!["ada".into(), "lov".into()]))
        );
        assert_eq!(SearchKey::parse(" -!- "), None);
        assert_eq!(
            search_words("Jean-Luc O'Neil Jean"),
            ["jean", "luc", "o", "neil"]
        );
    }
}
