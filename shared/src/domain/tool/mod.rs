//! Custom tools an agent can call during a conversation (SPEC §6): an HTTP
//! request, a signed webhook, or sandboxed JavaScript.
//!
//! Secrets (HTTP headers marked secret, the webhook secret) are write-only.
//! The types are generic over how a secret is held, so the compiler keeps the
//! states apart: a stored [`Tool`] holds [`Sealed`] text, an
//! [`ExecutableTool`] (for the executors, never for responses) holds clear
//! text, and a request holds [`SecretInput`] (a new value, or "keep the
//! stored one").
//!
//! On the wire an HTTP header is either a plain string or
//! `{"value": "...", "secret": true}`; reads show secret values masked
//! (`{"value": "••••f00d", "secret": true}`: at most the last 4
//! characters, from a hint stored at write time). A PATCH that sends a secret
//! header without `value`, or with the masked value it read, keeps the
//! stored secret; the webhook `secret` works the same way.

mod input;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::crypto::Cipher;
pub use crate::crypto::Sealed;
use crate::domain::input::{Field, overlay};
use crate::error::Error;

pub use input::{
    CodeConfigInput, HttpConfigInput, ToolConfigInput, ToolCreate, ToolPatch, WebhookConfigInput,
};
pub use parse::{ToolSpec, parse_parameters};

/// A secret in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretInput {
    /// A new value, in clear (sealed on store).
    New(String),
    /// Keep the value stored under the same name.
    Keep,
}

/// Whether a header carries credentials, and so is secret by default: `Authorization`,
/// `Proxy-Authorization`, `Cookie`, `X-Api-Key`, and any name containing `token`,
/// `secret`, `key` or `auth` (case-insensitive). Such a header is sealed at rest and masked
/// on every read even when sent as a plain string.
pub fn is_credential_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "x-api-key"
    ) || ["token", "secret", "key", "auth"]
        .iter()
        .any(|word| lower.contains(word))
}

/// The kinds of tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolType {
    /// A templated HTTP request.
    Http,
    /// A POST of the arguments, HMAC-signed, expecting JSON back.
    Webhook,
    /// JavaScript run in a sandbox.
    Code,
}

impl ToolType {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Webhook => "webhook",
            Self::Code => "code",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "http" => Some(Self::Http),
            "webhook" => Some(Self::Webhook),
            "code" => Some(Self::Code),
            _ => None,
        }
    }
}

/// HTTP methods an `http` tool may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

/// An HTTP header value: plain, or a secret (write-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Header<S> {
    /// Shown as sent.
    Plain(String),
    /// Sealed at rest, masked on read.
    Secret {
        /// The value, in the state `S`.
        secret: S,
    },
}

/// `http` tool settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "S: Deserialize<'de>"))]
pub struct HttpConfig<S> {
    /// Method.
    pub method: HttpMethod,
    /// URL template (`{{argument}}` placeholders).
    pub url: String,
    /// Header name → value (templated).
    #[serde(default)]
    pub headers: BTreeMap<String, Header<S>>,
    /// Query parameter → value (templated).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSON body template, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// At most [`MAX_TIMEOUT_MS`].
    pub timeout_ms: u32,
}

/// `webhook` tool settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig<S> {
    /// Where the arguments are POSTed.
    pub url: String,
    /// HMAC key of the signature (write-only).
    pub secret: S,
}

/// Languages a `code` tool may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeLanguage {
    /// JavaScript (ES2020), run in an embedded engine.
    Javascript,
}

/// `code` tool settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeConfig {
    /// Language of `source`.
    pub language: CodeLanguage,
    /// The program; its return value is the tool's output.
    pub source: String,
    /// Wall-clock limit, at most [`crate::engine::tools::MAX_CODE_TIMEOUT_MS`] (the
    /// executor's limit: one set of limits from save to run).
    pub timeout_ms: u32,
}

/// A tool's settings, by type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolConfig<S> {
    /// `http`.
    Http(HttpConfig<S>),
    /// `webhook`.
    Webhook(WebhookConfig<S>),
    /// `code`.
    Code(CodeConfig),
}

impl<S> ToolConfig<S> {
    /// The type these settings belong to.
    pub fn kind(&self) -> ToolType {
        match self {
            Self::Http(_) => ToolType::Http,
            Self::Webhook(_) => ToolType::Webhook,
            Self::Code(_) => ToolType::Code,
        }
    }

    /// The same settings with every secret passed through `f`.
    pub fn map_secrets<T, E>(
        self,
        mut f: impl FnMut(&str, S) -> Result<T, E>,
    ) -> Result<ToolConfig<T>, E> {
        Ok(match self {
            Self::Http(h) => {
                let mut headers = BTreeMap::new();
                for (name, v) in h.headers {
                    let v = match v {
                        Header::Plain(p) => Header::Plain(p),
                        Header::Secret { secret } => Header::Secret {
                            secret: f(&name, secret)?,
                        },
                    };
                    headers.insert(name, v);
                }
                ToolConfig::Http(HttpConfig {
                    method: h.method,
                    url: h.url,
                    headers,
                    query: h.query,
                    body: h.body,
                    timeout_ms: h.timeout_ms,
                })
            }
            Self::Webhook(w) => ToolConfig::Webhook(WebhookConfig {
                url: w.url,
                secret: f("secret", w.secret)?,
            }),
            Self::Code(c) => ToolConfig::Code(c),
        })
    }
}

/// Longest a tool may run (SPEC: `timeout_ms ≤ 30000`).
pub const MAX_TIMEOUT_MS: i64 = 30_000;

/// A tool. Stored with [`Sealed`] secrets ([`Tool`]); loaded for a call with
/// clear ones ([`ExecutableTool`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool<S = Sealed> {
    /// UUIDv7.
    pub id: String,
    /// snake_case, unique in the tenant: the function name the LLM sees.
    pub name: String,
    /// What the tool does, for the LLM.
    pub description: String,
    /// The kind (matches `config`).
    #[serde(rename = "type")]
    pub kind: ToolType,
    /// JSON Schema of the arguments (an `object` schema).
    pub parameters: Value,
    /// Type-specific settings.
    pub config: ToolConfig<S>,
    /// Disabled tools are not offered to the LLM.
    pub enabled: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A tool with its secrets in clear, for the executors only.
pub type ExecutableTool = Tool<String>;

impl Tool<Sealed> {
    /// The tool with its secrets opened (never for responses).
    pub fn open(self, cipher: &Cipher) -> Result<ExecutableTool, Error> {
        let id = self.id.clone();
        let config = self.config.map_secrets(|name, s| {
            s.open(cipher)
                .map_err(|e| Error::Internal(format!("tool {id} secret {name}: {e}")))
        })?;
        Ok(Tool {
            id: self.id,
            name: self.name,
            description: self.description,
            kind: self.kind,
            parameters: self.parameters,
            config,
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    /// This tool as a body [`ToolSpec::parse`] accepts, with `patch`'s
    /// fields laid over it. Secrets come out as "keep" (no value), so a
    /// PATCH that leaves `config` alone keeps them.
    pub fn patched(&self, patch: ToolPatch) -> ToolPatch {
        let config = match &self.config {
            ToolConfig::Http(h) => {
                let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
                let headers: Map<String, Value> = h
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Header::Plain(p) => json!(p),
                            Header::Secret { .. } => json!({"secret": true}),
                        };
                        (k.clone(), v)
                    })
                    .collect();
                v["headers"] = Value::Object(headers);
                v
            }
            ToolConfig::Webhook(w) => json!({"url": w.url}),
            ToolConfig::Code(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        };
        let stored = ToolPatch {
            name: Field::Value(self.name.clone()),
            description: Field::Value(self.description.clone()),
            kind: Field::Value(self.kind.as_str().to_owned()),
            parameters: Field::Value(self.parameters.clone()),
            config: Field::from_json(Some(&config)),
            enabled: Field::Value(self.enabled),
        };
        overlay!(
            ToolPatch {
                name,
                description,
                kind,
                parameters,
                config,
                enabled
            },
            stored,
            patch
        )
    }

    /// Names of the stored secrets (`headers` names; `secret` for a webhook),
    /// which a request may keep.
    pub fn secret_names(&self) -> BTreeSet<String> {
        match &self.config {
            ToolConfig::Http(h) => h
                .headers
                .iter()
                .filter(|(_, v)| matches!(v, Header::Secret { .. }))
                .map(|(k, _)| k.clone())
                .collect(),
            ToolConfig::Webhook(_) => ["secret".to_owned()].into(),
            ToolConfig::Code(_) => BTreeSet::new(),
        }
    }
}
