//! Reading a JSON object into domain values while collecting every problem,
//! so a 422 names all bad fields at once (SPEC `details.fields`).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, FieldErrors};

/// A JSON object being parsed field by field.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl<'a> Fields<'a> {
    /// Starts reading `obj`.
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self {
            obj,
            errors: FieldErrors::new(),
        }
    }

    /// Records a problem with `field` (the first problem per field wins).
    pub fn error(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.errors
            .entry(field.into())
            .or_insert_with(|| reason.into());
    }

    /// The raw value, treating JSON `null` as absent.
    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// True when the field is present (even as `null`).
    pub fn has(&self, field: &str) -> bool {
        self.obj.contains_key(field)
    }

    /// An optional string, trimmed, 1..=`max` characters.
    pub fn opt_str(&mut self, field: &str, max: usize) -> Option<String> {
        match self.raw(field)? {
            Value::String(s) => {
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
            _ => {
                self.error(field, "must be a string");
                None
            }
        }
    }

    /// A required string, trimmed, 1..=`max` characters.
    pub fn req_str(&mut self, field: &str, max: usize) -> Option<String> {
        if self.raw(field).is_none() {
            self.error(field, "is required");
            return None;
        }
        self.opt_str(field, max)
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, field: &str) -> Option<bool> {
        match self.raw(field)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(field, "must be true or false");
                None
            }
        }
    }

    /// An optional integer in `range`.
    pub fn opt_int(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let v = self.raw(field)?;
        match v.as_i64() {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.error(
                    field,
                    format!(
                        "must be an integer from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// An optional number in `range`.
    pub fn opt_f64(&mut self, field: &str, range: std::ops::RangeInclusive<f64>) -> Option<f64> {
        let v = self.raw(field)?;
        match v.as_f64() {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.error(
                    field,
                    format!("must be a number from {} to {}", range.start(), range.end()),
                );
                None
            }
        }
    }

    /// An optional value parsed by `parse` from a string.
    pub fn opt_parsed<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.raw(field)? {
            Value::String(s) => match parse(s) {
                Ok(v) => Some(v),
                Err(reason) => {
                    self.error(field, reason);
                    None
                }
            },
            _ => {
                self.error(field, "must be a string");
                None
            }
        }
    }

    /// An optional value of any deserializable shape; serde's message names
    /// the nested path that is wrong.
    pub fn opt_json<T: DeserializeOwned>(&mut self, field: &str) -> Option<T> {
        let v = self.raw(field)?;
        match serde_path_to_error::deserialize::<_, T>(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let path = e.path().to_string();
                let key = if path == "." || path.is_empty() {
                    field.to_owned()
                } else {
                    format!("{field}.{path}")
                };
                self.error(key, e.into_inner().to_string());
                None
            }
        }
    }

    /// An optional list of strings, each 1..=`max` characters, at most `max_items`.
    pub fn opt_str_list(
        &mut self,
        field: &str,
        max: usize,
        max_items: usize,
    ) -> Option<Vec<String>> {
        let list: Vec<String> = self.opt_json(field)?;
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

/// Takes a request body that must be a JSON object.
pub fn object(body: Value) -> Result<Map<String, Value>, Error> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(Error::BadRequest(
            "the request body must be a JSON object".into(),
        )),
    }
}
