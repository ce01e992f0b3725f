//! Tools (SPEC §6): what an agent can call during a conversation, and how each kind runs.
//!
//! - [`ToolDefinition`] is a saved tool parsed into a trusted value (`http`, `webhook`,
//!   `code`), with field errors (`config.url`) for the 422 on save;
//! - [`ToolParameters`] is its `parameters` JSON Schema, validating arguments
//!   (`input.city` → `is required`);
//! - [`run_tool`] runs one definition; [`LocalToolRunner`] runs a set of them by name and
//!   [`mcp::McpToolRunner`] the tools of an MCP server — both behind [`ToolRunner`], the one
//!   interface the conversation engine calls; [`ToolSet`] offers several runners as one.

pub mod code;
mod definition;
mod http;
mod local;
pub mod mcp;
mod parameters;
mod set;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, FieldErrors};
use crate::net::NetError;

pub use definition::{
    CodeConfig, CodeLanguage, DEFAULT_CODE_TIMEOUT_MS, DEFAULT_HTTP_TIMEOUT_MS, HttpConfig,
    HttpMethod, MAX_CODE_SOURCE_BYTES, MAX_CODE_TIMEOUT_MS, MAX_HTTP_TIMEOUT_MS,
    MAX_TOOL_NAME_CHARS, ToolDefinition, ToolKind, WebhookConfig, check_body_size,
};
pub use http::{MAX_TOOL_RESPONSE_BYTES, run_http, run_webhook};
pub use local::{LocalToolRunner, ToolTestReport, run_tool, test_tool};
pub use parameters::{
    ARGUMENTS_FIELD, MAX_PARAMETERS_BYTES, MAX_PARAMETERS_DEPTH, MAX_PARAMETERS_VALUES,
    ToolParameters, check_schema_size,
};
pub use set::ToolSet;

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// The result the LLM sees: parsed JSON when the tool answered JSON, else text.
    pub output: Value,
    /// The HTTP status, for tools that make a request.
    pub status: Option<u16>,
    /// How long the call took, argument checks included.
    pub duration_ms: u64,
    /// Lines the tool logged (`console.log` for code tools).
    pub logs: Vec<String>,
}

/// What the LLM is told about a tool (the function it may call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The function name (snake_case).
    pub name: String,
    /// What the tool does, for the LLM.
    pub description: String,
    /// The JSON Schema of its arguments (an object schema).
    pub parameters: Value,
}

/// Why a tool call failed. Every variant but [`ToolError::InvalidArguments`] and
/// [`ToolError::UnknownTool`] is a failure *of the tool*, which the test endpoint reports in
/// its `error` field and the conversation engine hands back to the LLM.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// No tool of that name in this runner.
    #[error("no tool named {0}")]
    UnknownTool(String),
    /// The arguments do not match `parameters` (keys like `input.city`).
    #[error("invalid arguments: {}", summarize(.0))]
    InvalidArguments(FieldErrors),
    /// The destination is refused by the outbound rules.
    #[error("blocked: {0}")]
    Blocked(String),
    /// The tool took longer than its timeout.
    #[error("the tool timed out")]
    Timeout,
    /// Every code sandbox stayed busy while the call waited for one: try again shortly.
    #[error("too many code tools are running at once; try again in a moment")]
    Busy,
    /// A code tool used more memory than the sandbox allows.
    #[error("the code used more memory than allowed")]
    MemoryLimit,
    /// The response or result is over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The remote side failed or answered something unusable (non-JSON from a webhook,
    /// an error status, a refused connection, an MCP error).
    #[error("{message}")]
    Upstream {
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// What went wrong, for people and the LLM.
        message: String,
    },
    /// The code tool threw, or does not define its entry point.
    #[error("{0}")]
    Code(String),
    /// A bug or an unexpected failure inside the engine.
    #[error("internal error: {0}")]
    Internal(String),
}

fn summarize(fields: &FieldErrors) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ToolError {
    /// The HTTP status the remote side answered with, when the failure carries one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ToolError::Upstream { status, .. } => *status,
            _ => None,
        }
    }

    /// An upstream failure without a status.
    pub(crate) fn upstream(message: impl Into<String>) -> ToolError {
        ToolError::Upstream {
            status: None,
            message: message.into(),
        }
    }
}

impl From<NetError> for ToolError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Blocked { reason } => ToolError::Blocked(reason),
            NetError::Timeout => ToolError::Timeout,
            NetError::TooLarge { limit } => {
                ToolError::TooLarge(format!("the response is larger than {limit} bytes"))
            }
            other => ToolError::upstream(other.to_string()),
        }
    }
}

/// For callers that surface a tool failure as a use-case error: bad arguments are a 422
/// with `details.fields`, an unknown tool a 404, anything else the tool's own failure (503).
impl From<ToolError> for Error {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::InvalidArguments(fields) => Error::Validation(fields),
            ToolError::UnknownTool(_) => Error::NotFound("tool"),
            ToolError::Internal(m) => Error::Internal(m),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

/// Runs tools by name: the one interface the conversation engine uses, whatever the tools
/// are (saved `http`/`webhook`/`code` tools, or an MCP server's).
#[async_trait]
pub trait ToolRunner: Send + Sync {
    /// Calls tool `name` with `args` (a JSON object; `null` counts as `{}`), after checking
    /// them against its parameters.
    async fn call(&self, name: &str, args: Value) -> Result<ToolOutput, ToolError>;

    /// The tools this runner offers, as the LLM should see them.
    fn tools(&self) -> Vec<ToolSpec>;
}
