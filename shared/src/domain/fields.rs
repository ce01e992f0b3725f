//! Reading a JSON object into domain values while collecting every problem,
//! so a 422 names all bad fields at once (SPEC `details.fields`).
//!
//! Request bodies are typed inputs ([`super::input`]); this is for the
//! objects whose keys depend on a value read first: a tool definition's
//! `config`, whose fields depend on its `type`.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::input::{Checks, Field};
use crate::error::{Error, FieldErrors};

/// A JSON object being parsed field by field: the untyped door to
/// [`Checks`], for objects whose shape is known only once one of their
/// values is read (tool definitions).
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    checks: Checks,
}

impl<'a> Fields<'a> {
    /// Starts reading `obj`.
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self {
            obj,
            checks: Checks::new(),
        }
    }

    /// Records a problem with `field` (the first problem per field wins).
    pub fn error(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.checks.error(field, reason);
    }

    /// The raw value, treating JSON `null` as absent.
    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    /// True when the field is present (even as `null`).
    pub fn has(&self, field: &str) -> bool {
        self.obj.contains_key(field)
    }

    fn field<T: DeserializeOwned>(&self, field: &str) -> Field<T> {
        Field::from_json(self.obj.get(field))
    }

    /// An optional string, trimmed, 1..=`max` characters.
    pub fn opt_str(&mut self, field: &str, max: usize) -> Option<String> {
        let input = self.field(field);
        self.checks.opt_str(field, input, max)
    }

    /// A required string, trimmed, 1..=`max` characters.
    pub fn req_str(&mut self, field: &str, max: usize) -> Option<String> {
        let input = self.field(field);
        self.checks.req_str(field, input, max)
    }

    /// An optional boolean.
    pub fn opt_bool(&mut self, field: &str) -> Option<bool> {
        let input = self.field(field);
        self.checks.opt_bool(field, input)
    }

    /// An optional integer in `range`.
    pub fn opt_int(&mut self, field: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
        let input = self.field(field);
        self.checks.opt_int(field, input, range)
    }

    /// An optional number in `range`.
    pub fn opt_f64(&mut self, field: &str, range: std::ops::RangeInclusive<f64>) -> Option<f64> {
        let input = self.field(field);
        self.checks.opt_f64(field, input, range)
    }

    /// An optional value parsed by `parse` from a string.
    pub fn opt_parsed<T>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let input = self.field(field);
        self.checks.opt_parsed(field, input, parse)
    }

    /// An optional value of any deserializable shape; serde's message names
    /// the nested path that is wrong.
    pub fn opt_json<T: DeserializeOwned>(&mut self, field: &str) -> Option<T> {
        let input = self.field(field);
        self.checks.opt_json(field, input)
    }

    /// An optional list of strings, each 1..=`max` characters, at most `max_items`.
    pub fn opt_str_list(
        &mut self,
        field: &str,
        max: usize,
        max_items: usize,
    ) -> Option<Vec<String>> {
        let input = self.field(field);
        self.checks.opt_str_list(field, input, max, max_items)
    }

    /// Finishes: `Ok(())` when nothing was wrong.
    pub fn finish(self) -> Result<(), Error> {
        self.checks.finish()
    }

    /// The errors so far, to merge with checks made elsewhere.
    pub fn into_errors(self) -> FieldErrors {
        self.checks.into_errors()
    }
}
