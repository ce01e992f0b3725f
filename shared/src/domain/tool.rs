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
//! (`{"value": "Bea…f00d", "secret": true}`). A PATCH that sends a secret
//! header without `value`, or with the masked value it read, keeps the
//! stored secret; the webhook `secret` works the same way.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::Fields;
use super::{is_snake_case, parse_http_url};
use crate::crypto::{Cipher, mask};
use crate::error::Error;

/// A secret as stored: [`Cipher::seal`] output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(pub String);

/// A secret in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretInput {
    /// A new value, in clear (sealed on store).
    New(String),
    /// Keep the value stored under the same name.
    Keep,
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
    /// Wall-clock limit, at most [`MAX_TIMEOUT_MS`].
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
    /// The API shape: secrets masked.
    pub fn to_api(&self, cipher: &Cipher) -> Value {
        let shown = |s: &Sealed| {
            cipher
                .open(&s.0)
                .map(|p| mask(&p))
                .unwrap_or_else(|_| "••••".into())
        };
        let config = match &self.config {
            ToolConfig::Http(h) => {
                let headers: Map<String, Value> = h
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Header::Plain(p) => json!(p),
                            Header::Secret { secret } => {
                                json!({"value": shown(secret), "secret": true})
                            }
                        };
                        (k.clone(), v)
                    })
                    .collect();
                let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
                v["headers"] = Value::Object(headers);
                v
            }
            ToolConfig::Webhook(w) => json!({"url": w.url, "secret": shown(&w.secret)}),
            ToolConfig::Code(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        };
        json!({
            "id": self.id, "name": self.name, "description": self.description, "type": self.kind,
            "parameters": self.parameters, "config": config, "enabled": self.enabled,
            "created_at": self.created_at, "updated_at": self.updated_at,
        })
    }

    /// The tool with its secrets opened (never for responses).
    pub fn open(self, cipher: &Cipher) -> Result<ExecutableTool, Error> {
        let id = self.id.clone();
        let config = self.config.map_secrets(|name, s| {
            cipher
                .open(&s.0)
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
    pub fn merged_with(&self, patch: &Map<String, Value>) -> Map<String, Value> {
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
        let mut base = Map::new();
        base.insert("name".into(), json!(self.name));
        base.insert("description".into(), json!(self.description));
        base.insert("type".into(), json!(self.kind));
        base.insert("parameters".into(), self.parameters.clone());
        base.insert("config".into(), config);
        base.insert("enabled".into(), json!(self.enabled));
        for (k, v) in patch {
            if !matches!(k.as_str(), "id" | "created_at" | "updated_at") {
                base.insert(k.clone(), v.clone());
            }
        }
        base
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

const DESCRIPTION_MAX: usize = 2_000;
const SOURCE_MAX: usize = 100_000;
const SECRET_MAX: usize = 4_096;
const HEADER_VALUE_MAX: usize = 8_192;
const MAX_HEADERS: usize = 50;
const MAX_QUERY: usize = 50;
/// Largest `parameters` schema or `body` template (JSON text).
const DOC_MAX_BYTES: usize = 64 * 1024;

/// True when a secret value sent back is the masked form a read showed.
fn looks_masked(s: &str) -> bool {
    s.contains('…') || s.contains("••••")
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks `parameters`: a JSON Schema for an object. The full schema check
/// happens where arguments are validated; this is the shape the LLM needs.
pub fn parse_parameters(v: &Value) -> Result<Value, String> {
    let Value::Object(m) = v else {
        return Err(
            "must be a JSON Schema object such as {\"type\": \"object\", \"properties\": {}}"
                .into(),
        );
    };
    if m.get("type").and_then(Value::as_str) != Some("object") {
        return Err("must be a JSON Schema with \"type\": \"object\"".into());
    }
    if m.get("properties").is_some_and(|p| !p.is_object()) {
        return Err("properties must be an object of argument name to schema".into());
    }
    if m.get("required").is_some_and(|r| {
        r.as_array()
            .is_none_or(|a| a.iter().any(|x| !x.is_string()))
    }) {
        return Err("required must be a list of argument names".into());
    }
    if v.to_string().len() > DOC_MAX_BYTES {
        return Err(format!("must be at most {} KB", DOC_MAX_BYTES / 1024));
    }
    Ok(v.clone())
}

fn unknown_keys(c: &mut Fields<'_>, obj: &Map<String, Value>, allowed: &[&str]) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            c.error(
                key.clone(),
                format!(
                    "is not a setting of this tool type ({})",
                    allowed.join(", ")
                ),
            );
        }
    }
}

fn timeout(c: &mut Fields<'_>, default: u32) -> u32 {
    c.opt_int("timeout_ms", 1..=MAX_TIMEOUT_MS)
        .map(|t| t as u32)
        .unwrap_or(default)
}

fn secret_input(
    c: &mut Fields<'_>,
    field: &str,
    value: Option<&Value>,
    keepable: bool,
) -> Option<SecretInput> {
    match value.filter(|v| !v.is_null()) {
        Some(Value::String(s)) if looks_masked(s) && keepable => Some(SecretInput::Keep),
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= SECRET_MAX => {
            Some(SecretInput::New(s.trim().to_owned()))
        }
        Some(_) => {
            c.error(
                field,
                format!("must be a non-empty string of at most {SECRET_MAX} characters"),
            );
            None
        }
        None if keepable => Some(SecretInput::Keep),
        None => {
            c.error(field, "is required");
            None
        }
    }
}

fn parse_http(
    c: &mut Fields<'_>,
    obj: &Map<String, Value>,
    keep: &BTreeSet<String>,
) -> Option<HttpConfig<SecretInput>> {
    unknown_keys(
        c,
        obj,
        &["method", "url", "headers", "query", "body", "timeout_ms"],
    );
    let method = match c.raw("method") {
        None => Some(HttpMethod::Get),
        Some(Value::String(m)) => match m.to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            "PUT" => Some(HttpMethod::Put),
            "PATCH" => Some(HttpMethod::Patch),
            "DELETE" => Some(HttpMethod::Delete),
            _ => {
                c.error("method", "must be GET, POST, PUT, PATCH or DELETE");
                None
            }
        },
        Some(_) => {
            c.error("method", "must be a string");
            None
        }
    };
    if c.raw("url").is_none() {
        c.error("url", "is required");
    }
    let url = c.opt_parsed("url", parse_http_url);
    let mut headers = BTreeMap::new();
    match c.raw("headers") {
        None => {}
        Some(Value::Object(h)) if h.len() <= MAX_HEADERS => {
            for (name, v) in h {
                let field = format!("headers.{name}");
                if !is_header_name(name) {
                    c.error(field, "is not a valid HTTP header name");
                    continue;
                }
                match v {
                    Value::String(s) if s.len() <= HEADER_VALUE_MAX => {
                        headers.insert(name.clone(), Header::Plain(s.clone()));
                    }
                    Value::Object(o) => {
                        let secret = match o.get("secret") {
                            None | Some(Value::Bool(false)) => false,
                            Some(Value::Bool(true)) => true,
                            Some(_) => {
                                c.error(format!("{field}.secret"), "must be true or false");
                                continue;
                            }
                        };
                        if let Some(k) =
                            o.keys().find(|k| !matches!(k.as_str(), "value" | "secret"))
                        {
                            c.error(format!("{field}.{k}"), "a header has only value and secret");
                            continue;
                        }
                        if secret {
                            let keepable = keep.contains(name);
                            if let Some(s) =
                                secret_input(c, &format!("{field}.value"), o.get("value"), keepable)
                            {
                                headers.insert(name.clone(), Header::Secret { secret: s });
                            }
                        } else {
                            match o.get("value") {
                                Some(Value::String(s)) if s.len() <= HEADER_VALUE_MAX => {
                                    headers.insert(name.clone(), Header::Plain(s.clone()));
                                }
                                _ => c.error(format!("{field}.value"), "must be a string"),
                            }
                        }
                    }
                    _ => c.error(
                        field,
                        "must be a string, or {\"value\": \"...\", \"secret\": true} for a secret",
                    ),
                }
            }
        }
        Some(_) => c.error(
            "headers",
            format!("must be an object of at most {MAX_HEADERS} header names to values"),
        ),
    }
    let mut query = BTreeMap::new();
    match c.raw("query") {
        None => {}
        Some(Value::Object(q)) if q.len() <= MAX_QUERY => {
            for (k, v) in q {
                match v {
                    Value::String(s) => {
                        query.insert(k.clone(), s.clone());
                    }
                    _ => c.error(format!("query.{k}"), "must be a string (a template)"),
                }
            }
        }
        Some(_) => c.error(
            "query",
            format!("must be an object of at most {MAX_QUERY} parameters"),
        ),
    }
    let body = c.raw("body").cloned();
    if body
        .as_ref()
        .is_some_and(|b| b.to_string().len() > DOC_MAX_BYTES)
    {
        c.error(
            "body",
            format!("must be at most {} KB", DOC_MAX_BYTES / 1024),
        );
    }
    let timeout_ms = timeout(c, 10_000);
    Some(HttpConfig {
        method: method?,
        url: url?,
        headers,
        query,
        body,
        timeout_ms,
    })
}

fn parse_config(
    f: &mut Fields<'_>,
    kind: ToolType,
    keep: &BTreeSet<String>,
) -> Option<ToolConfig<SecretInput>> {
    let empty = Map::new();
    let obj = match f.raw("config") {
        None => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => {
            f.error("config", "must be an object");
            return None;
        }
    };
    let mut c = Fields::new(obj);
    let config = match kind {
        ToolType::Http => parse_http(&mut c, obj, keep).map(ToolConfig::Http),
        ToolType::Webhook => {
            unknown_keys(&mut c, obj, &["url", "secret"]);
            if c.raw("url").is_none() {
                c.error("url", "is required");
            }
            let url = c.opt_parsed("url", parse_http_url);
            let secret = secret_input(&mut c, "secret", obj.get("secret"), keep.contains("secret"));
            match (url, secret) {
                (Some(url), Some(secret)) => {
                    Some(ToolConfig::Webhook(WebhookConfig { url, secret }))
                }
                _ => None,
            }
        }
        ToolType::Code => {
            unknown_keys(&mut c, obj, &["language", "source", "timeout_ms"]);
            let language = match c.raw("language") {
                None => Some(CodeLanguage::Javascript),
                Some(Value::String(l)) if l == "javascript" => Some(CodeLanguage::Javascript),
                Some(_) => {
                    c.error("language", "must be javascript");
                    None
                }
            };
            let source = c.req_str("source", SOURCE_MAX);
            let timeout_ms = timeout(&mut c, 5_000);
            match (language, source) {
                (Some(language), Some(source)) => Some(ToolConfig::Code(CodeConfig {
                    language,
                    source,
                    timeout_ms,
                })),
                _ => None,
            }
        }
    };
    for (k, v) in c.into_errors() {
        f.error(format!("config.{k}"), v);
    }
    config
}

/// The tool fields a client may write, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    name: String,
    description: String,
    kind: ToolType,
    parameters: Value,
    config: ToolConfig<SecretInput>,
    enabled: bool,
}

impl ToolSpec {
    /// Parses a create body (or a stored tool merged with a PATCH body, see
    /// [`Tool::merged_with`]). `keep` names the stored secrets a request may
    /// keep by not resending them (empty on create). Every bad field is
    /// reported.
    pub fn parse(body: &Map<String, Value>, keep: &BTreeSet<String>) -> Result<Self, Error> {
        let mut f = Fields::new(body);
        let name = f.opt_parsed("name", |s| {
            if is_snake_case(s) {
                Ok(s.to_owned())
            } else {
                Err("must be snake_case (a-z, 0-9, _, starting with a letter), at most 64 characters".into())
            }
        });
        if f.raw("name").is_none() {
            f.error("name", "is required");
        }
        let description = f.req_str("description", DESCRIPTION_MAX);
        let kind = match f.raw("type") {
            None => {
                f.error("type", "is required");
                None
            }
            Some(Value::String(s)) => {
                let t = ToolType::parse(s);
                if t.is_none() {
                    f.error("type", "must be http, webhook or code");
                }
                t
            }
            Some(_) => {
                f.error("type", "must be a string");
                None
            }
        };
        let parameters = match f.raw("parameters") {
            None => Some(json!({"type": "object", "properties": {}})),
            Some(p) => match parse_parameters(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    f.error("parameters", e);
                    None
                }
            },
        };
        let config = kind.and_then(|k| parse_config(&mut f, k, keep));
        let enabled = f.opt_bool("enabled").unwrap_or(true);
        f.finish()?;
        let (Some(name), Some(description), Some(kind), Some(parameters), Some(config)) =
            (name, description, kind, parameters, config)
        else {
            return Err(Error::Internal(
                "required tool fields missing after validation".into(),
            ));
        };
        Ok(Self {
            name,
            description,
            kind,
            parameters,
            config,
            enabled,
        })
    }

    /// The tool's name (for the uniqueness claim).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Builds the stored tool: new secrets are sealed, kept ones are taken
    /// from `current` (the stored tool, on update).
    pub fn into_tool(
        self,
        id: String,
        current: Option<&Tool>,
        cipher: &Cipher,
        created_at: String,
        updated_at: String,
    ) -> Result<Tool, Error> {
        let stored = |name: &str| -> Option<Sealed> {
            match &current?.config {
                ToolConfig::Http(h) => match h.headers.get(name)? {
                    Header::Secret { secret } => Some(secret.clone()),
                    Header::Plain(_) => None,
                },
                ToolConfig::Webhook(w) if name == "secret" => Some(w.secret.clone()),
                _ => None,
            }
        };
        let config = self.config.map_secrets(|name, s| match s {
            SecretInput::New(p) => Ok(Sealed(cipher.seal(&p))),
            SecretInput::Keep => stored(name).ok_or_else(|| {
                Error::field(
                    format!("config.{name}"),
                    "is required (no stored value to keep)",
                )
            }),
        })?;
        Ok(Tool {
            id,
            name: self.name,
            description: self.description,
            kind: self.kind,
            parameters: self.parameters,
            config,
            enabled: self.enabled,
            created_at,
            updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher() -> Cipher {
        Cipher::from_base64(&Cipher::generate_key()).unwrap()
    }

    fn parse(v: Value) -> Result<ToolSpec, Error> {
        ToolSpec::parse(v.as_object().unwrap(), &BTreeSet::new())
    }

    fn fields(v: Value) -> crate::error::FieldErrors {
        match parse(v) {
            Err(Error::Validation(f)) => f,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_reported() {
        let f = fields(json!({
            "name": "Get Order", "type": "http", "parameters": {"type": "string"},
            "config": {"method": "FETCH", "url": "ftp://x", "timeout_ms": 60000, "headers": {"Bad Name": "x"}, "extra": 1},
            "enabled": "yes"
        }));
        for k in [
            "name",
            "description",
            "parameters",
            "config.method",
            "config.url",
            "config.timeout_ms",
            "config.headers.Bad Name",
            "config.extra",
            "enabled",
        ] {
            assert!(f.contains_key(k), "{k} in {f:?}");
        }
        let f = fields(
            json!({"name": "hook", "description": "d", "type": "webhook", "config": {"url": "https://x.io"}}),
        );
        assert!(f.contains_key("config.secret"), "{f:?}");
        let f = fields(
            json!({"name": "js", "description": "d", "type": "code", "config": {"language": "python"}}),
        );
        assert!(
            f.contains_key("config.language") && f.contains_key("config.source"),
            "{f:?}"
        );
        assert!(
            fields(json!({"name": "x", "description": "d", "type": "sql"})).contains_key("type")
        );
    }

    #[test]
    fn secrets_are_sealed_masked_and_kept_on_patch() {
        let c = cipher();
        let spec = parse(json!({
            "name": "get_order", "description": "Looks up an order", "type": "http",
            "config": {"url": "https://shop.example/orders/{{id}}", "headers": {
                "Authorization": {"value": "Bearer sk_live_abcdef123456", "secret": true},
                "Accept": "application/json"}}
        }))
        .unwrap();
        let tool = spec
            .into_tool("i".into(), None, &c, "t".into(), "t".into())
            .unwrap();
        let api = tool.to_api(&c);
        assert!(!api.to_string().contains("sk_live_abcdef123456"));
        assert_eq!(api["config"]["headers"]["Authorization"]["secret"], true);
        assert_eq!(api["config"]["headers"]["Accept"], "application/json");
        assert_eq!(api["config"]["method"], "GET");

        // PATCH that leaves config alone keeps the secret.
        let merged = tool.merged_with(json!({"description": "New"}).as_object().unwrap());
        let spec = ToolSpec::parse(&merged, &tool.secret_names()).unwrap();
        let updated = spec
            .into_tool("i".into(), Some(&tool), &c, "t".into(), "t".into())
            .unwrap();
        let ToolConfig::Http(h) = &updated.clone().open(&c).unwrap().config else {
            panic!()
        };
        assert_eq!(
            h.headers["Authorization"],
            Header::Secret {
                secret: "Bearer sk_live_abcdef123456".to_owned()
            }
        );
        // Sending back the masked value read also keeps it.
        let masked = api["config"]["headers"]["Authorization"]["value"].clone();
        let merged = tool.merged_with(json!({"config": {"url": "https://shop.example/", "headers": {"Authorization": {"value": masked, "secret": true}}}}).as_object().unwrap());
        let spec = ToolSpec::parse(&merged, &tool.secret_names()).unwrap();
        let again = spec
            .into_tool("i".into(), Some(&tool), &c, "t".into(), "t".into())
            .unwrap();
        let ToolConfig::Http(h) = again.open(&c).unwrap().config else {
            panic!()
        };
        assert_eq!(
            h.headers["Authorization"],
            Header::Secret {
                secret: "Bearer sk_live_abcdef123456".to_owned()
            }
        );
        assert!(
            !h.headers.contains_key("Accept"),
            "config is replaced whole"
        );
    }

    #[test]
    fn stored_tools_read_back() {
        let c = cipher();
        for body in [
            json!({"name": "a", "description": "d", "type": "webhook", "config": {"url": "https://h.example/x", "secret": "whsec_abc123456789"}}),
            json!({"name": "b", "description": "d", "type": "code", "config": {"source": "return 1", "timeout_ms": 100}}),
            json!({"name": "c", "description": "d", "type": "http", "config": {"method": "post", "url": "https://x.example", "body": {"q": "{{q}}"}, "query": {"a": "1"}}}),
        ] {
            let tool = parse(body)
                .unwrap()
                .into_tool("i".into(), None, &c, "t".into(), "t".into())
                .unwrap();
            let text = serde_json::to_value(&tool).unwrap();
            let back: Tool = serde_json::from_value(text).unwrap();
            assert_eq!(back, tool);
        }
    }
}
