//! Tools (SPEC §5) and MCP servers (SPEC §6) as the API shows them: every
//! secret masked from its stored hint (nothing is decrypted to mask it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::domain::input::Field;
use crate::domain::mcp::McpServer;
use crate::domain::tool::{Header, Tool, ToolConfig, ToolType};
use crate::engine::tools::ToolTestReport;

/// A tool as returned by every tool route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ToolView {
    /// UUIDv7.
    pub id: String,
    /// snake_case, unique in the organization: the function name the LLM sees.
    pub name: String,
    /// What the tool does, for the LLM.
    pub description: String,
    /// `http`, `webhook` or `code` (the shape of `config`).
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: ToolType,
    /// JSON Schema of the arguments (an `object` schema).
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// Type-specific settings. Secrets are masked: a secret HTTP header reads
    /// `{"value": "••••abcd", "secret": true}`, a webhook's `secret` `"••••abcd"`.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Disabled tools are not offered to the LLM.
    pub enabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Tool> for ToolView {
    fn from(t: &Tool) -> Self {
        let config = match &t.config {
            ToolConfig::Http(h) => {
                let headers: Map<String, Value> = h
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Header::Plain(p) => json!(p),
                            Header::Secret { secret } => {
                                json!({"value": secret.masked(), "secret": true})
                            }
                        };
                        (k.clone(), v)
                    })
                    .collect();
                let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
                v["headers"] = Value::Object(headers);
                v
            }
            ToolConfig::Webhook(w) => json!({"url": w.url, "secret": w.secret.masked()}),
            ToolConfig::Code(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        };
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            description: t.description.clone(),
            kind: t.kind,
            parameters: t.parameters.clone(),
            config,
            enabled: t.enabled,
            created_at: t.created_at.clone(),
            updated_at: t.updated_at.clone(),
        }
    }
}

/// An MCP server as returned by every MCP route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct McpServerView {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The streamable HTTP endpoint.
    pub url: String,
    /// Header name → masked value (`••••abcd`): headers are write-only.
    pub headers: BTreeMap<String, String>,
    /// The tools `tools/list` returned on the last connect, as the server
    /// described them.
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<Value>,
    /// When `tools` was discovered (RFC 3339); null before the first connect.
    pub tools_discovered_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&McpServer> for McpServerView {
    fn from(s: &McpServer) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            url: s.url.clone(),
            headers: s
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.masked()))
                .collect(),
            tools: s.tools.clone(),
            tools_discovered_at: s.tools_discovered_at.clone(),
            created_at: s.created_at.clone(),
            updated_at: s.updated_at.clone(),
        }
    }
}

/// The body of `POST /tools/{id}/test`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ToolTestInput {
    /// The arguments, as the LLM would pass them (checked against `parameters`).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub input: Field<Map<String, Value>>,
    /// Keys a test body does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// What `POST /tools/{id}/test` answers (SPEC §6). A tool that failed is a
/// report with `error` set, not an error response.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ToolTestView {
    /// What the tool returned: any JSON value (`null` when it failed).
    pub output: Value,
    /// The HTTP status of the tool's request, if it made one.
    pub status: Option<u16>,
    /// How long the run took.
    pub duration_ms: u64,
    /// Why the tool failed, if it did.
    pub error: Option<String>,
    /// What the tool logged (code tools).
    pub logs: Vec<String>,
}

impl From<ToolTestReport> for ToolTestView {
    fn from(r: ToolTestReport) -> Self {
        Self {
            output: r.output,
            status: r.status,
            duration_ms: r.duration_ms,
            error: r.error,
            logs: r.logs,
        }
    }
}
