//! Typed request bodies that still report every bad field at once.
//!
//! A create or patch body is a struct of [`Field`]s: each field deserializes
//! on its own and never fails the whole body, so a body with five wrong
//! fields yields five reasons (SPEC `details.fields`) instead of serde's
//! first error. [`Checks`] then turns each field into its domain value,
//! collecting the reasons. A [`Field`] also keeps what a PATCH needs to know:
//! whether the client left the field out, sent `null`, or sent a value.

use serde::de::{Deserialize, DeserializeOwned, Deserializer};
use serde_json::Value;

use crate::error::{Error, FieldErrors};

/// One field of a request body as the client sent it.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    /// Not in the body: a PATCH keeps the stored value, a create takes the default.
    #[default]
    Absent,
    /// Sent as `null`: a PATCH clears the field (back to its default).
    Null,
    /// Sent with a value of the expected shape.
    Value(T),
    /// Sent with a value of another shape.
    Invalid(Invalid),
}

/// Why a field's value has the wrong shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Where inside the field the problem is (`[0].digit`), empty for the field itself.
    path: String,
    /// Serde's reason, used where the field's own wording does not fit.
    reason: String,
}

impl<T> Field<T> {
    /// True when the client left the field out.
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }

    /// This field when the client sent it (value or `null`), else `base`:
    /// how a PATCH is laid over what is stored.
    pub fn or(self, base: Field<T>) -> Field<T> {
        if self.is_absent() { base } else { self }
    }
}

impl<T> From<Option<T>> for Field<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Field::Absent, Field::Value)
    }
}

impl<T: DeserializeOwned> Field<T> {
    /// Reads a field from a JSON value (`None` when the key is missing).
    pub fn from_json(value: Option<&Value>) -> Self {
        match value {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(v) => match serde_path_to_error::deserialize::<_, T>(v) {
                Ok(t) => Field::Value(t),
                Err(e) => Field::invalid(e),
            },
        }
    }

    fn invalid(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Field::Invalid(Invalid {
            path,
            reason: e.into_inner().to_string(),
        })
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A missing key never gets here: bodies use `#[serde(default)]`.
        let value = Value::deserialize(d)?;
        Ok(Field::from_json(Some(&value)))
    }
}

/// Reads a whole body into its typed input. Every [`Field`] accepts any
/// value, so this fails only when the body is not a JSON object.
pub fn from_json<T: DeserializeOwned>(body: Value) -> Result<T, Error> {
    if !body.is_object() {
        return Err(Error::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    serde_json::from_value(body).map_err(|e| Error::BadRequest(format!("malformed body: {e}")))
}

/// The checks of one body: each method turns a [`Field`] into its domain
/// value and records a reason per bad field (the first per field wins).
#[derive(Debug, Default)]
pub struct Checks {
    errors: FieldErrors,
}

impl Checks {
    /// Starts with no errors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (the first problem per field wins).
    pub fn error(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors
            .entry(field.into())
            .or_insert_with(|| reason.into());
    }

    /// Records `reason` for each key of a body's `unknown` (the keys its
    /// type does not have): a typo must not be silently ignored.
    pub fn unknown<'a>(&mut self, keys: impl IntoIterator<Item = &'a String>, reason: &str) {
        for key in keys {
            self.error(key.clone(), reason);
        }
    }

    /// [`Checks::unknown`], letting the keys in `echoed` pass: what a read
    /// of the resource returns and a body does not write (`id`,
    /// `created_at`, …), so a body read back and sent as a PATCH still works.
    pub fn unknown_except<'a>(
        &mut self,
        keys: impl IntoIterator<Item = &'a String>,
        echoed: &[&str],
        reason: &str,
    ) {
        self.unknown(
            keys.into_iter().filter(|k| !echoed.contains(&k.as_str())),
            reason,
        );
    }

    /// The value when the field holds one of the right shape; `wrong` words
    /// the reason when it holds another. Absent and `null` are `None`.
    fn value<T>(
        &mut self,
        field: &str,
        input: Field<T>,
        wrong: impl FnOnce() -> String,
    ) -> Option<T> {
        match input {
            Field::Value(v) => Some(v),
            Field::Invalid(_) => {
                self.error(field, wrong());
                None
            }
            Field::Absent | Field::Null => None,
        }
    }

    /// An optional string, trimmed, 1..=`max` characters.
    pub fn opt_str(&mut self, field: &str, input: Field<String>, max: usize) -> Option<String> {
        let s = self.value(field, input, || "must be a string".into())?;
        let s = s.trim();
        if s.is_empty() {
            self.error(field, "must not be empty");
            None
        } else if s.chars().count() > max {
            self.error(field, format!("must be at most {max} characters"));
            None
        } else {
            Some(s.to_owned())
        }
    }

    /// A required string, trimmed, 1..=`max` characters.
    pub fn req_str(&mut self, field: &str, input: Field<String>, max: usize) -> Option<String> {
        if matches!(input, Field::Absent | Field::Null) {
            self.error(field, "is required");
            return None;
        }
        self.opt_str(field, input, max)
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, field: &str, input: Field<bool>) -> Option<bool> {
        self.value(field, input, || "must be true or false".into())
    }

    /// An optional integer in `range`.
    pub fn opt_int(
        &mut self,
        field: &str,
        input: Field<i64>,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let wrong = || {
            format!(
                "must be an integer from {} to {}",
                range.start(),
                range.end()
            )
        };
        match self.value(field, input, wrong)? {
            n if range.contains(&n) => Some(n),
            _ => {
                self.error(field, wrong());
                None
            }
        }
    }

    /// An optional number in `range`.
    pub fn opt_f64(
        &mut self,
        field: &str,
        input: Field<f64>,
        range: std::ops::RangeInclusive<f64>,
    ) -> Option<f64> {
        let wrong = || format!("must be a number from {} to {}", range.start(), range.end());
        match self.value(field, input, wrong)? {
            n if range.contains(&n) => Some(n),
            _ => {
                self.error(field, wrong());
                None
            }
        }
    }

    /// An optional value parsed by `parse` from a string.
    pub fn opt_parsed<T>(
        &mut self,
        field: &str,
        input: Field<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.value(field, input, || "must be a string".into())?;
        match parse(&s) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.error(field, reason);
                None
            }
        }
    }

    /// A required value parsed by `parse` from a string.
    pub fn req_parsed<T>(
        &mut self,
        field: &str,
        input: Field<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if matches!(input, Field::Absent | Field::Null) {
            self.error(field, "is required");
            return None;
        }
        self.opt_parsed(field, input, parse)
    }

    /// An optional value of any structured shape; serde's message names the
    /// nested path that is wrong (`dtmf_rules.0.action`).
    pub fn opt_json<T>(&mut self, field: &str, input: Field<T>) -> Option<T> {
        match input {
            Field::Value(v) => Some(v),
            Field::Invalid(Invalid { path, reason }) => {
                let key = if path.is_empty() {
                    field.to_owned()
                } else {
                    format!("{field}.{path}")
                };
                self.error(key, reason);
                None
            }
            Field::Absent | Field::Null => None,
        }
    }

    /// An optional list of strings, each 1..=`max` characters, at most `max_items`.
    pub fn opt_str_list(
        &mut self,
        field: &str,
        input: Field<Vec<String>>,
        max: usize,
        max_items: usize,
    ) -> Option<Vec<String>> {
        let list = self.opt_json(field, input)?;
        if list.len() > max_items {
            self.error(field, format!("must have at most {max_items} items"));
            return None;
        }
        if list
            .iter()
            .any(|s| s.trim().is_empty() || s.chars().count() > max)
        {
            self.error(field, format!("items must be 1 to {max} characters"));
            return None;
        }
        Some(list.into_iter().map(|s| s.trim().to_owned()).collect())
    }

    /// Finishes: `Ok(())` when nothing was wrong.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.errors))
        }
    }

    /// The errors so far, to merge with checks made elsewhere.
    pub fn into_errors(self) -> FieldErrors {
        self.errors
    }
}

/// Lays a PATCH body over the stored resource's body, field by field: a
/// field the patch sent (value or `null`) replaces the stored one. The
/// patch is destructured without `..`, so a field added to the body type
/// and forgotten here is a compile error, not a silently ignored update.
///
/// Fields listed after `; own` are the patch's alone (its unknown keys, a
/// write-only field the stored resource does not keep): they are taken
/// from the patch as they are.
macro_rules! overlay {
    ($ty:ident { $($field:ident),+ ; own $($own:ident),+ $(,)? }, $base:expr, $patch:expr) => {{
        let $ty { $($field,)+ $($own),+ } = $patch;
        let base = $base;
        $ty { $($field: $field.or(base.$field),)+ $($own),+ }
    }};
    ($ty:ident { $($field:ident),+ $(,)? }, $base:expr, $patch:expr) => {{
        let $ty { $($field),+ } = $patch;
        let base = $base;
        $ty { $($field: $field.or(base.$field)),+ }
    }};
}
pub(crate) use overlay;

/// Declares a create body as its patch body with the fields a resource
/// cannot lack marked required: one field list serves both, so the two
/// cannot drift, and the document still tells a client what a create needs.
/// Missing required fields are reported by the resource's parse step, with
/// every other bad field.
macro_rules! create_body {
    ($(#[$doc:meta])* $create:ident = $patch:ident requiring [$($required:literal),* $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $create(pub $patch);

        impl utoipa::PartialSchema for $create {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::domain::input::requiring(
                    <$patch as utoipa::PartialSchema>::schema(),
                    &[$($required),*],
                )
            }
        }

        impl utoipa::ToSchema for $create {
            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                <$patch as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use create_body;

/// `schema` with `fields` marked required (see [`create_body!`]).
pub fn requiring(
    schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    fields: &[&str],
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.required = fields.iter().map(|f| (*f).to_owned()).collect();
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Body {
        name: Field<String>,
        count: Field<i64>,
        flag: Field<bool>,
        list: Field<Vec<u8>>,
    }

    #[test]
    fn absent_null_value_and_invalid_are_told_apart() {
        let b: Body =
            from_json(json!({"name": null, "count": 3, "flag": "yes", "list": [1, "x"]})).unwrap();
        assert_eq!(b.name, Field::Null);
        assert_eq!(b.count, Field::Value(3));
        assert!(matches!(b.flag, Field::Invalid(_)));
        let b2: Body = from_json(json!({})).unwrap();
        assert!(b2.name.is_absent());
        let mut c = Checks::new();
        c.req_str("name", b.name, 10);
        c.opt_bool("flag", b.flag);
        c.opt_json("list", b.list);
        let Err(Error::Validation(f)) = c.finish() else {
            panic!("expected errors")
        };
        assert_eq!(f["name"], "is required");
        assert_eq!(f["flag"], "must be true or false");
        assert!(f.contains_key("list.[1]"), "{f:?}");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_bad_request() {
        assert!(matches!(
            from_json::<Body>(json!([1])),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn a_patch_keeps_what_it_does_not_send() {
        let base = Body {
            name: Field::Value("a".into()),
            count: Field::Value(1),
            ..Body::default()
        };
        let patch: Body = from_json(json!({"count": null, "flag": true})).unwrap();
        let merged = overlay!(
            Body {
                name,
                count,
                flag,
                list
            },
            base,
            patch
        );
        assert_eq!(merged.name, Field::Value("a".into()));
        assert_eq!(merged.count, Field::Null);
        assert_eq!(merged.flag, Field::Value(true));
        assert!(merged.list.is_absent());
    }
}
