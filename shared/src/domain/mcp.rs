//! MCP servers (SPEC §6): remote tool servers an agent can use, reached over
//! the streamable HTTP transport. Their `headers` (usually authorization)
//! are write-only: sealed at rest, masked on read, opened only to connect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::input::{Checks, Field};
use super::parse_http_url;
use super::tool::Sealed;
use crate::crypto::Cipher;
use crate::error::Error;

/// An MCP server. Stored with [`Sealed`] headers ([`McpServer`]); loaded to
/// connect with clear ones ([`ConnectableMcpServer`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
pub struct McpServer<S = Sealed> {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The streamable HTTP endpoint.
    pub url: String,
    /// Header name → value, sent on every request to the server.
    #[serde(default)]
    pub headers: BTreeMap<String, S>,
    /// The tools `tools/list` returned on the last connect, as the server
    /// described them.
    #[serde(default)]
    pub tools: Vec<Value>,
    /// When `tools` was discovered (RFC 3339).
    #[serde(default)]
    pub tools_discovered_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An MCP server with its headers in clear, for the connector only.
pub type ConnectableMcpServer = McpServer<String>;

impl McpServer<Sealed> {
    /// The server with its headers opened (never for responses).
    pub fn open(self, cipher: &Cipher) -> Result<ConnectableMcpServer, Error> {
        let mut headers = BTreeMap::new();
        for (k, s) in self.headers {
            let v = s
                .open(cipher)
                .map_err(|e| Error::Internal(format!("MCP server {} header {k}: {e}", self.id)))?;
            headers.insert(k, v);
        }
        Ok(McpServer {
            id: self.id,
            name: self.name,
            url: self.url,
            headers,
            tools: self.tools,
            tools_discovered_at: self.tools_discovered_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const NAME_MAX: usize = 200;
const HEADER_VALUE_MAX: usize = 8_192;
const MAX_HEADERS: usize = 20;

/// The body of `POST /tools/mcp/servers`. Every field is a [`Field`], so
/// [`McpServerSpec::parse`] reports every bad field at once.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct McpServerInput {
    /// Display name.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200)]
    #[serde(default)]
    pub name: Field<String>,
    /// The streamable HTTP endpoint (`http` or `https`).
    #[schema(value_type = String, required = true, example = "https://mcp.example.com/mcp")]
    #[serde(default)]
    pub url: Field<String>,
    /// Header name → value, sent on every request to the server; stored
    /// encrypted and shown masked.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    #[serde(default)]
    pub headers: Field<Map<String, Value>>,
    /// Keys a server does not have: each one is a 422 (a typo must not be
    /// silently ignored).
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// The MCP server fields a client may write, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerSpec {
    name: String,
    url: String,
    headers: BTreeMap<String, String>,
}

impl McpServerSpec {
    /// Parses `{name, url, headers?}`, reporting every bad field.
    pub fn parse(body: McpServerInput) -> Result<Self, Error> {
        let mut f = Checks::new();
        f.unknown(body.unknown.keys(), "is not a field of an MCP server");
        let name = f.req_str("name", body.name, NAME_MAX);
        let url = f.req_parsed("url", body.url, parse_http_url);
        let mut headers = BTreeMap::new();
        match body.headers {
            Field::Absent | Field::Null => {}
            Field::Value(h) if h.len() <= MAX_HEADERS => {
                for (k, v) in h {
                    let name_ok = !k.is_empty()
                        && k.len() <= 128
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    match v {
                        _ if !name_ok => {
                            f.error(format!("headers.{k}"), "is not a valid HTTP header name")
                        }
                        Value::String(s) if !s.is_empty() && s.len() <= HEADER_VALUE_MAX => {
                            headers.insert(k, s);
                        }
                        _ => f.error(
                            format!("headers.{k}"),
                            format!("must be a non-empty string of at most {HEADER_VALUE_MAX} characters"),
                        ),
                    }
                }
            }
            Field::Value(_) | Field::Invalid(_) => f.error(
                "headers",
                format!("must be an object of at most {MAX_HEADERS} header names to values"),
            ),
        }
        f.finish()?;
        let (Some(name), Some(url)) = (name, url) else {
            return Err(Error::Internal(
                "required MCP server fields missing after validation".into(),
            ));
        };
        Ok(Self { name, url, headers })
    }

    /// Builds the stored server, headers sealed.
    pub fn into_server(self, id: String, cipher: &Cipher, now: String) -> McpServer {
        McpServer {
            id,
            name: self.name,
            url: self.url,
            headers: self
                .headers
                .into_iter()
                .map(|(k, v)| (k, Sealed::seal(cipher, &v)))
                .collect(),
            tools: Vec::new(),
            tools_discovered_at: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }
}
