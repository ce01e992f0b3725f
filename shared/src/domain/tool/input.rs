//! The bodies a tool is written with: `POST /tools` ([`ToolCreate`]),
//! `PATCH`/`PUT /tools/{id}` ([`ToolPatch`]), and the `config` of each tool
//! type, read once `type` is known. Every field is a [`Field`], so
//! [`super::ToolSpec::parse`] reports every bad field at once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::input::{Field, create_body};

/// The body of `PATCH`/`PUT /tools/{id}`, and every field a tool body may
/// hold: the top-level fields sent replace the stored ones (`config` as a
/// whole, but secrets not resent are kept).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ToolPatch {
    /// snake_case, unique in the organization: the function name the LLM sees.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 64, example = "check_opening_hours")]
    #[serde(default)]
    pub name: Field<String>,
    /// What the tool does, for the LLM.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 2_000)]
    #[serde(default)]
    pub description: Field<String>,
    /// `http`, `webhook` or `code`: the shape of `config`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>, example = "http")]
    #[serde(default)]
    pub kind: Field<String>,
    /// JSON Schema of the arguments (an `object` schema; by default one
    /// with no properties).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub parameters: Field<Value>,
    /// The settings of the tool's `type`.
    #[schema(value_type = Option<ToolConfigInput>)]
    #[serde(default)]
    pub config: Field<Map<String, Value>>,
    /// Disabled tools are not offered to the LLM (default true).
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub enabled: Field<bool>,
}

create_body! {
    /// The body of `POST /tools`: the fields of [`ToolPatch`], with `name`,
    /// `description`, `type` and `config` required.
    ToolCreate = ToolPatch requiring ["name", "description", "type", "config"]
}

/// The `config` of a tool, by its `type`: documents the union (the body
/// is read as the variant `type` names, see `ToolSpec::parse`).
pub struct ToolConfigInput;

impl utoipa::PartialSchema for ToolConfigInput {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name(HttpConfigInput::name()))
            .item(Ref::from_schema_name(WebhookConfigInput::name()))
            .item(Ref::from_schema_name(CodeConfigInput::name()))
            .into()
    }
}

impl ToSchema for ToolConfigInput {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((HttpConfigInput::name().into(), HttpConfigInput::schema()));
        schemas.push((
            WebhookConfigInput::name().into(),
            WebhookConfigInput::schema(),
        ));
        schemas.push((CodeConfigInput::name().into(), CodeConfigInput::schema()));
    }
}

/// The `config` of an `http` tool.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct HttpConfigInput {
    /// `GET` (the default), `POST`, `PUT`, `PATCH` or `DELETE`.
    #[schema(value_type = Option<String>, example = "GET")]
    #[serde(default)]
    pub method: Field<String>,
    /// URL template (`{{argument}}` placeholders), `http` or `https`.
    #[schema(value_type = Option<String>, example = "https://shop.example/orders/{{order_id}}")]
    #[serde(default)]
    pub url: Field<String>,
    /// Header name → a templated string, or `{"value": "...", "secret":
    /// true}` for a value stored encrypted and shown masked. Credential
    /// headers (`Authorization`, `Cookie`, names with `token`, `secret`,
    /// `key`, `auth`) are secret by default. At most 50.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub headers: Field<Map<String, Value>>,
    /// Query parameter → templated string (at most 50).
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    #[serde(default)]
    pub query: Field<Map<String, Value>>,
    /// A JSON body template (at most 64 KB).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub body: Field<Value>,
    /// How long a call may take.
    #[schema(value_type = Option<i64>, minimum = 1)]
    #[serde(default)]
    pub timeout_ms: Field<i64>,
    /// Keys this tool type does not have (each one is a 422).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The `config` of a `webhook` tool.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WebhookConfigInput {
    /// Where the signed POST goes (`http` or `https`).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub url: Field<String>,
    /// The signing secret (write-only; a PATCH that does not resend it keeps it).
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub secret: Field<String>,
    /// Keys this tool type does not have (each one is a 422).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The `config` of a `code` tool.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CodeConfigInput {
    /// `javascript` (the default and only one).
    #[schema(value_type = Option<String>, example = "javascript")]
    #[serde(default)]
    pub language: Field<String>,
    /// The source; it defines `main(input)`.
    #[schema(value_type = Option<String>, min_length = 1)]
    #[serde(default)]
    pub source: Field<String>,
    /// How long a run may take.
    #[schema(value_type = Option<i64>, minimum = 1)]
    #[serde(default)]
    pub timeout_ms: Field<i64>,
    /// Keys this tool type does not have (each one is a 422).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}
