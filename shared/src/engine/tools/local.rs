//! Running saved tools: one at a time ([`run_tool`], behind `POST /tools/{id}/test`) or a
//! set by name ([`LocalToolRunner`], what a conversation uses).

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::Value;

use super::code::run_code;
use super::definition::{ToolDefinition, ToolKind};
use super::http::{run_http, run_webhook};
use super::{ToolError, ToolOutput, ToolRunner, ToolSpec};
use crate::error::FieldErrors;
use crate::net::GuardedClient;

/// Checks `args` against the tool's parameters, then runs it. `duration_ms` covers the run.
/// Bad arguments are [`ToolError::InvalidArguments`] (keys `input.<path>`), and the tool is
/// not run.
pub async fn run_tool(
    tool: &ToolDefinition,
    args: Value,
    client: &GuardedClient,
) -> Result<ToolOutput, ToolError> {
    let args = match args {
        Value::Null => Value::Object(Default::default()),
        Value::Object(map) => Value::Object(map),
        _ => {
            return Err(ToolError::InvalidArguments(FieldErrors::from([(
                super::ARGUMENTS_FIELD.to_owned(),
                "must be an object".to_owned(),
            )])));
        }
    };
    tool.parameters
        .validate(&args)
        .map_err(ToolError::InvalidArguments)?;
    let started = Instant::now();
    let mut output = match &tool.kind {
        ToolKind::Http(config) => run_http(config, &args, client).await?,
        ToolKind::Webhook(config) => run_webhook(config, &args, client).await?,
        ToolKind::Code(config) => run_code(config, &args).await?,
    };
    output.duration_ms = started.elapsed().as_millis() as u64;
    Ok(output)
}

/// The body of `POST /tools/{id}/test` (SPEC §6): `{output, status, duration_ms, error}`,
/// plus the tool's `logs`. A failing tool is a report with `error` set, not an error.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolTestReport {
    /// What the tool returned (`null` when it failed).
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

/// Runs a tool for its test endpoint. When the tool did not run, that is `Err`: bad
/// arguments ([`ToolError::InvalidArguments`], the 422, keys `input.<path>`) or no free
/// sandbox ([`ToolError::Busy`], a 503). Every other outcome, failures included, is a
/// report.
pub async fn test_tool(
    tool: &ToolDefinition,
    input: Value,
    client: &GuardedClient,
) -> Result<ToolTestReport, ToolError> {
    let started = Instant::now();
    match run_tool(tool, input, client).await {
        Ok(out) => Ok(ToolTestReport {
            output: out.output,
            status: out.status,
            duration_ms: out.duration_ms,
            error: None,
            logs: out.logs,
        }),
        Err(e @ (ToolError::InvalidArguments(_) | ToolError::Busy)) => Err(e),
        Err(e) => Ok(ToolTestReport {
            output: Value::Null,
            status: e.status(),
            duration_ms: started.elapsed().as_millis() as u64,
            error: Some(e.to_string()),
            logs: Vec::new(),
        }),
    }
}

/// A set of saved tools, called by name (an agent's assigned tools) or, for a flow's
/// `tool` node, by the saved tool's id.
#[derive(Debug, Clone)]
pub struct LocalToolRunner {
    tools: BTreeMap<String, ToolDefinition>,
    /// Saved tool id → name.
    ids: BTreeMap<String, String>,
    client: GuardedClient,
}

impl LocalToolRunner {
    /// A runner over `tools`; a later tool with the same name replaces an earlier one.
    pub fn new(tools: impl IntoIterator<Item = ToolDefinition>, client: GuardedClient) -> Self {
        LocalToolRunner {
            tools: tools.into_iter().map(|t| (t.name.clone(), t)).collect(),
            ids: BTreeMap::new(),
            client,
        }
    }

    /// Also answers to each saved tool's id (`(id, name)` pairs): flows name tools by id.
    pub fn with_ids(mut self, ids: impl IntoIterator<Item = (String, String)>) -> Self {
        self.ids.extend(ids);
        self
    }

    /// The tool called `name` (or whose saved id is `name`), if any.
    pub fn get(&self, name: &str) -> Option<&ToolDefinition> {
        self.tools
            .get(name)
            .or_else(|| self.ids.get(name).and_then(|n| self.tools.get(n)))
    }
}

#[async_trait]
impl ToolRunner for LocalToolRunner {
    async fn call(&self, name: &str, args: Value) -> Result<ToolOutput, ToolError> {
        let tool = self
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_owned()))?;
        run_tool(tool, args, &self.client).await
    }

    fn tools(&self) -> Vec<ToolSpec> {
        self.tools.values().map(ToolDefinition::spec).collect()
    }
}
