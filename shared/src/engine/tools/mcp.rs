//! MCP servers (SPEC §6): the client side of the Model Context Protocol over the streamable
//! HTTP transport, with the official SDK (`rmcp`). [`connect`] runs `initialize` +
//! `tools/list` for `POST /tools/mcp/servers/{id}/connect`; [`McpToolRunner`] keeps a session
//! open and calls `tools/call` for a conversation.
//!
//! Every HTTP request of the session goes through the [`GuardedClient`]'s checked resolver
//! (no redirects, no proxy), so an MCP server URL obeys the same outbound rules as any tool.

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{RoleClient, ServiceExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ToolError, ToolOutput, ToolParameters, ToolRunner, ToolSpec};
use crate::net::{GuardedClient, NetError, error_chain, find_net_error};

/// How long `initialize` + `tools/list` may take.
pub const MCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one `tools/call` may take.
pub const MCP_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest JSON-RPC response accepted from a server.
const MAX_MCP_RESPONSE_BYTES: usize = 1024 * 1024;

/// A tool an MCP server offers (what `tools/list` returned).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpTool {
    /// The tool's name on that server.
    pub name: String,
    /// What it does (empty when the server gave none).
    pub description: String,
    /// Its arguments' JSON Schema, as the server sent it.
    pub input_schema: Value,
    /// Why the tool cannot be used (its schema is too deep or too large to check
    /// arguments against); such a tool is never offered to the LLM nor called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl McpTool {
    /// A discovered tool, refused when its schema breaks the size limits of
    /// [`super::check_schema_size`].
    pub(crate) fn discovered(name: String, description: String, input_schema: Value) -> McpTool {
        let error = super::check_schema_size(&input_schema)
            .err()
            .map(|problem| {
                format!("the MCP tool '{name}' cannot be used: its input schema {problem}")
            });
        McpTool {
            name,
            description,
            input_schema,
            error,
        }
    }
}

/// Why talking to an MCP server failed. The messages are meant for the person configuring
/// the server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum McpError {
    /// The URL or a header is unusable.
    #[error("invalid MCP server settings: {0}")]
    Invalid(String),
    /// The outbound rules refuse the server's address.
    #[error("blocked: {0}")]
    Blocked(String),
    /// Nothing answered (refused, DNS failure, TLS failure …).
    #[error("the MCP server is unreachable: {0}")]
    Unreachable(String),
    /// Something answered, but not as an MCP streamable HTTP endpoint.
    #[error("the URL does not answer as an MCP server (streamable HTTP): {0}")]
    NotMcp(String),
    /// The server did not answer in time.
    #[error("the MCP server did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The server answered with an MCP error or broke the protocol.
    #[error("MCP error: {0}")]
    Protocol(String),
}

impl From<NetError> for McpError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Blocked { reason } => McpError::Blocked(reason),
            NetError::InvalidUrl(m) | NetError::InvalidRequest(m) => McpError::Invalid(m),
            NetError::Timeout => McpError::Timeout(MCP_CONNECT_TIMEOUT),
            other => McpError::Unreachable(other.to_string()),
        }
    }
}

/// For `POST /tools/mcp/servers/{id}/connect`: settings the rules refuse are a 422 on `url`
/// (or `headers`); a server that cannot be reached or is not MCP is a 503 with the reason.
impl From<McpError> for crate::error::Error {
    fn from(e: McpError) -> Self {
        use crate::error::Error;
        match e {
            McpError::Invalid(m) if m.contains("header") => Error::field("headers", m),
            McpError::Invalid(m) => Error::field("url", m),
            McpError::Blocked(m) => Error::field("url", format!("is not allowed: {m}")),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

/// Sorts an rmcp failure into the error a person can act on, by walking its causes.
fn classify(error: &(dyn StdError + 'static)) -> McpError {
    if let Some(own) = find_net_error(error) {
        return own.into();
    }
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        // The transport failure of a handshake is a field, not a `source`: step into it.
        if let Some(ClientInitializeError::TransportError { error, .. }) = e.downcast_ref() {
            current = Some(error);
            continue;
        }
        if let Some(ClientInitializeError::JsonRpcError(data)) = e.downcast_ref() {
            return McpError::Protocol(data.message.to_string());
        }
        if let Some(http) = e.downcast_ref::<StreamableHttpError<reqwest::Error>>() {
            match http {
                StreamableHttpError::Client(inner) => {
                    return match find_net_error(inner) {
                        Some(own) => own.into(),
                        None if inner.is_timeout() => McpError::Timeout(MCP_CONNECT_TIMEOUT),
                        None => McpError::Unreachable(error_chain(inner)),
                    };
                }
                StreamableHttpError::UnexpectedContentType(ct) => {
                    return McpError::NotMcp(format!(
                        "it answered {}",
                        ct.as_deref().unwrap_or("without a content type")
                    ));
                }
                StreamableHttpError::HttpStatus(status) => {
                    return McpError::NotMcp(format!("it answered HTTP {}", status.status));
                }
                StreamableHttpError::UnexpectedServerResponse(m) => {
                    return McpError::NotMcp(m.to_string());
                }
                StreamableHttpError::Deserialize(e) => {
                    return McpError::NotMcp(format!("its answer is not JSON-RPC: {e}"));
                }
                StreamableHttpError::MissingSessionIdInResponse => {
                    return McpError::NotMcp("it did not start a session".into());
                }
                StreamableHttpError::AuthRequired(_)
                | StreamableHttpError::InsufficientScope(_) => {
                    return McpError::Protocol(
                        "the server wants authorization: set its Authorization header".into(),
                    );
                }
                _ => {}
            }
        }
        if let Some(inner) = e.downcast_ref::<reqwest::Error>() {
            return from_reqwest_mcp(inner);
        }
        current = e.source();
    }
    McpError::Protocol(error_chain(error))
}

fn from_reqwest_mcp(e: &reqwest::Error) -> McpError {
    match find_net_error(e) {
        Some(own) => own.into(),
        None if e.is_timeout() => McpError::Timeout(MCP_CONNECT_TIMEOUT),
        None => McpError::Unreachable(error_chain(e)),
    }
}

fn transport_config(
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<StreamableHttpClientTransportConfig, McpError> {
    let mut custom = HashMap::new();
    let mut bearer = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("authorization")
            && let Some(token) = value.trim().strip_prefix("Bearer ")
        {
            // rmcp sends the Authorization header itself from a bare token.
            bearer = Some(token.trim().to_owned());
            continue;
        }
        let header = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| McpError::Invalid(format!("{name:?} is not a header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| McpError::Invalid(format!("the value of header {name} cannot be sent")))?;
        custom.insert(header, value);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url)
        .custom_headers(custom)
        .max_json_response_size(MAX_MCP_RESPONSE_BYTES)
        .reinit_on_expired_session(true);
    if let Some(token) = bearer {
        config = config.auth_header(token);
    }
    Ok(config)
}

type Session = RunningService<RoleClient, ()>;

async fn open_session(
    client: &GuardedClient,
    url: &str,
    headers: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(Session, Vec<McpTool>), McpError> {
    client.check_url(url)?;
    let config = transport_config(url, headers)?;
    let transport = StreamableHttpClientTransport::with_client(client.streaming_client(), config);
    let handshake = async {
        let session = ().serve(transport).await.map_err(|e| classify(&e))?;
        let listed = session.list_all_tools().await.map_err(|e| classify(&e));
        match listed {
            Ok(tools) => Ok((session, tools)),
            Err(e) => {
                let _ = session.cancel().await;
                Err(e)
            }
        }
    };
    let (session, tools) = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| McpError::Timeout(timeout))??;
    let tools = tools
        .into_iter()
        .map(|t| {
            McpTool::discovered(
                t.name.to_string(),
                t.description.map(|d| d.to_string()).unwrap_or_default(),
                Value::Object((*t.input_schema).clone()),
            )
        })
        .collect();
    Ok((session, tools))
}

/// Connects to the MCP server at `url` (streamable HTTP), runs `initialize` and `tools/list`,
/// closes the session and returns the tools. `headers` are sent with every request
/// (`Authorization: Bearer …` included).
pub async fn connect(
    client: &GuardedClient,
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<Vec<McpTool>, McpError> {
    connect_within(client, url, headers, MCP_CONNECT_TIMEOUT).await
}

/// [`connect`] with another deadline for the handshake.
pub async fn connect_within(
    client: &GuardedClient,
    url: &str,
    headers: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Vec<McpTool>, McpError> {
    let (session, tools) = open_session(client, url, headers, timeout).await?;
    let _ = session.cancel().await;
    Ok(tools)
}

/// An open session with one MCP server, offering its tools to a conversation.
pub struct McpToolRunner {
    session: Session,
    tools: Vec<McpTool>,
    parameters: BTreeMap<String, ToolParameters>,
}

impl std::fmt::Debug for McpToolRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpToolRunner")
            .field("tools", &self.tools)
            .finish_non_exhaustive()
    }
}

impl McpToolRunner {
    /// Opens a session (`initialize` + `tools/list`) and keeps it for calls.
    pub async fn connect(
        client: &GuardedClient,
        url: &str,
        headers: &BTreeMap<String, String>,
    ) -> Result<McpToolRunner, McpError> {
        Self::connect_within(client, url, headers, MCP_CONNECT_TIMEOUT).await
    }

    /// [`McpToolRunner::connect`] with another deadline for the handshake (a call about
    /// to start waits less than a person pressing "connect").
    pub async fn connect_within(
        client: &GuardedClient,
        url: &str,
        headers: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<McpToolRunner, McpError> {
        let (session, tools) = open_session(client, url, headers, timeout).await?;
        // Schemas the validator can use are enforced before calling; a server's schema we
        // cannot compile is left to the server to enforce. One too deep or too large to
        // check at all makes the tool unusable (`McpTool::error`).
        let parameters = tools
            .iter()
            .filter(|t| t.error.is_none())
            .filter_map(|t| Some((t.name.clone(), ToolParameters::parse(&t.input_schema).ok()?)))
            .collect();
        Ok(McpToolRunner {
            session,
            tools,
            parameters,
        })
    }

    /// The tools the server listed.
    pub fn discovered(&self) -> &[McpTool] {
        &self.tools
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.session.cancel().await;
    }
}

/// The output of a `tools/call`: the structured result when the server sent one, else the
/// text blocks joined (parsed as JSON when the whole text is JSON), else the content blocks.
fn output_of(result: &CallToolResult) -> Value {
    if let Some(structured) = &result.structured_content {
        return structured.clone();
    }
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if texts.len() == result.content.len() {
        let joined = texts.join("\n");
        return serde_json::from_str::<Value>(&joined)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .unwrap_or(Value::String(joined));
    }
    serde_json::to_value(&result.content).unwrap_or(Value::Null)
}

#[async_trait]
impl ToolRunner for McpToolRunner {
    async fn call(&self, name: &str, args: Value) -> Result<ToolOutput, ToolError> {
        match self.tools.iter().find(|t| t.name == name) {
            None => return Err(ToolError::UnknownTool(name.to_owned())),
            Some(McpTool {
                error: Some(error), ..
            }) => return Err(ToolError::upstream(error.clone())),
            Some(_) => {}
        }
        let args = match args {
            Value::Null => serde_json::Map::new(),
            Value::Object(map) => map,
            _ => {
                return Err(ToolError::InvalidArguments(
                    [(
                        super::ARGUMENTS_FIELD.to_owned(),
                        "must be an object".to_owned(),
                    )]
                    .into(),
                ));
            }
        };
        if let Some(parameters) = self.parameters.get(name) {
            parameters
                .validate(&Value::Object(args.clone()))
                .map_err(ToolError::InvalidArguments)?;
        }
        let started = Instant::now();
        let mut params = CallToolRequestParams::new(name.to_owned());
        params.arguments = Some(args);
        let result = tokio::time::timeout(MCP_CALL_TIMEOUT, self.session.call_tool(params))
            .await
            .map_err(|_| ToolError::Timeout)?
            .map_err(|e| match classify(&e) {
                McpError::Blocked(m) => ToolError::Blocked(m),
                McpError::Timeout(_) => ToolError::Timeout,
                other => ToolError::upstream(other.to_string()),
            })?;
        let output = output_of(&result);
        if result.is_error == Some(true) {
            let message = match &output {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Err(ToolError::upstream(format!(
                "the MCP tool failed: {message}"
            )));
        }
        Ok(ToolOutput {
            output,
            status: None,
            duration_ms: started.elapsed().as_millis() as u64,
            logs: Vec::new(),
        })
    }

    fn tools(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .filter(|t| t.error.is_none())
            .map(|t| ToolSpec {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.input_schema.clone(),
            })
            .collect()
    }
}
