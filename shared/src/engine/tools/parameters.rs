//! A tool's `parameters`: a JSON Schema object the arguments are checked against before the
//! tool runs, so a bad call is a 422 naming each argument (SPEC §6).

use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use crate::domain::shape::JsonLimits;
use crate::error::FieldErrors;

/// The largest `parameters` schema accepted, serialized.
pub const MAX_PARAMETERS_BYTES: usize = 32 * 1024;
/// The deepest `parameters` schema accepted. The schema compiler and the meta-schema
/// check recurse once per level, so depth is bounded before either sees the schema.
pub const MAX_PARAMETERS_DEPTH: usize = 32;
/// The most values (keys' values and array items) in a `parameters` schema.
pub const MAX_PARAMETERS_VALUES: usize = 4_096;

/// Checks the size and nesting of a schema in one pass without recursion, so a hostile
/// schema is refused (`parameters` 422, or an MCP tool left out) before anything
/// recursive reads it. The message completes "parameters …".
pub fn check_schema_size(schema: &Value) -> Result<(), String> {
    let limits = JsonLimits {
        max_depth: MAX_PARAMETERS_DEPTH,
        max_values: MAX_PARAMETERS_VALUES,
        max_text_bytes: MAX_PARAMETERS_BYTES,
    };
    match limits.check(schema) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// The prefix of argument field errors: the tool test endpoint's body is `{input}`, and
/// the code tool's function is `main(input)`, so a missing `city` reads `input.city`.
pub const ARGUMENTS_FIELD: &str = "input";

/// A parsed, compiled `parameters` schema. Always describes an object.
#[derive(Clone)]
pub struct ToolParameters {
    schema: Value,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for ToolParameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ToolParameters").field(&self.schema).finish()
    }
}

impl PartialEq for ToolParameters {
    fn eq(&self, other: &Self) -> bool {
        self.schema == other.schema
    }
}

/// `/properties/address/city` → `properties.address.city` (JSON Pointer escapes undone).
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

fn join(prefix: &str, rest: &str) -> String {
    if rest.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}.{rest}")
    }
}

impl ToolParameters {
    /// Parses a schema; problems are keyed under `parameters` (`parameters.type`,
    /// `parameters.properties.city.type`). Remote `$ref`s are never fetched.
    pub fn parse(schema: &Value) -> Result<ToolParameters, FieldErrors> {
        const FIELD: &str = "parameters";
        let fail = |key: String, reason: String| Err(FieldErrors::from([(key, reason)]));
        let Value::Object(map) = schema else {
            return fail(FIELD.into(), "must be a JSON Schema object".into());
        };
        if let Err(problem) = check_schema_size(schema) {
            return fail(FIELD.into(), problem);
        }
        if serde_json::to_vec(schema).map_or(0, |v| v.len()) > MAX_PARAMETERS_BYTES {
            return fail(
                FIELD.into(),
                format!("must be at most {MAX_PARAMETERS_BYTES} bytes"),
            );
        }
        if map.get("type") != Some(&Value::String("object".into())) {
            return fail(
                format!("{FIELD}.type"),
                "must be \"object\" (a tool takes named arguments)".into(),
            );
        }
        if let Some(props) = map.get("properties")
            && !props.is_object()
        {
            return fail(format!("{FIELD}.properties"), "must be an object".into());
        }
        if let Err(e) = jsonschema::meta::validate(schema) {
            let key = join(FIELD, &dotted(e.instance_path().as_str()));
            return fail(key, format!("is not valid JSON Schema: {e}"));
        }
        match jsonschema::validator_for(schema) {
            Ok(validator) => Ok(ToolParameters {
                schema: schema.clone(),
                validator: Arc::new(validator),
            }),
            Err(e) => fail(FIELD.into(), format!("cannot be used: {e}")),
        }
    }

    /// A tool without arguments: `{"type":"object","properties":{}}`.
    pub fn none() -> ToolParameters {
        // A constant schema: it always parses.
        ToolParameters::parse(&json!({"type": "object", "properties": {}}))
            .expect("the empty-object schema is valid")
    }

    /// The schema as given (what the LLM is shown).
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// The top-level argument names the schema declares.
    pub fn property_names(&self) -> Vec<String> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Checks arguments (`null` counts as `{}`); every problem is keyed by the argument's
    /// path under [`ARGUMENTS_FIELD`] (`input.city` → `is required`).
    pub fn validate(&self, args: &Value) -> Result<(), FieldErrors> {
        let empty = json!({});
        let args = if args.is_null() { &empty } else { args };
        let mut errors = FieldErrors::new();
        for error in self.validator.iter_errors(args) {
            let at = join(ARGUMENTS_FIELD, &dotted(error.instance_path().as_str()));
            let (key, reason) = match error.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property
                        .as_str()
                        .map_or(property.to_string(), str::to_owned);
                    (join(&at, &name), "is required".to_owned())
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        errors
                            .entry(join(&at, name))
                            .or_insert_with(|| "is not an argument of this tool".into());
                    }
                    continue;
                }
                ValidationErrorKind::Type { kind } => {
                    let wanted = match kind {
                        jsonschema::error::TypeKind::Single(t) => t.to_string(),
                        jsonschema::error::TypeKind::Multiple(set) => set
                            .iter()
                            .map(|t| t.to_string())
                            .collect::<Vec<_>>()
                            .join(" or "),
                    };
                    (at, format!("must be of type {wanted}"))
                }
                ValidationErrorKind::Enum { options } => (at, format!("must be one of {options}")),
                _ => (at, error.to_string()),
            };
            errors.entry(key).or_insert(reason);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl Serialize for ToolParameters {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.schema.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ToolParameters {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let schema = Value::deserialize(deserializer)?;
        ToolParameters::parse(&schema).map_err(|errors| {
            let text = errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ");
            serde::de::Error::custom(text)
        })
    }
}
