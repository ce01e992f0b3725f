//! A tool as saved (SPEC §6): `{name, description, type, parameters, config}` parsed once
//! into a value that cannot be invalid, with every problem keyed by its field.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::ToolSpec;
use super::code;
use super::parameters::ToolParameters;
use crate::domain::fields::Fields;
use crate::domain::flow::{Variables, render_with, template_variables};
use crate::domain::shape::JsonLimits;
use crate::domain::tool::{self as saved, ExecutableTool, Header};
use crate::engine::signing::WebhookSecret;
use crate::error::FieldErrors;

/// Longest tool name (the function name the LLM sees).
pub const MAX_TOOL_NAME_CHARS: usize = 64;
/// Longest description.
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Longest URL template.
const MAX_URL_CHARS: usize = 2048;
/// Most headers or query parameters.
const MAX_PAIRS: usize = 50;
/// Upper bound of an http or webhook tool's `timeout_ms` (SPEC: ≤ 30000).
pub const MAX_HTTP_TIMEOUT_MS: u64 = 30_000;
/// Upper bound of a code tool's `timeout_ms`.
pub const MAX_CODE_TIMEOUT_MS: u64 = 10_000;
/// Largest code tool source.
pub const MAX_CODE_SOURCE_BYTES: usize = 64 * 1024;
/// Deadline of an http or webhook tool that sets none.
pub const DEFAULT_HTTP_TIMEOUT_MS: u64 = 10_000;
/// Deadline of a code tool that sets none.
pub const DEFAULT_CODE_TIMEOUT_MS: u64 = 2_000;

/// A saved tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// snake_case, at most [`MAX_TOOL_NAME_CHARS`]; unique per org (the service's check).
    pub name: String,
    /// What it does, for the LLM.
    pub description: String,
    /// The arguments' schema.
    pub parameters: ToolParameters,
    /// How it runs (`type` and `config` in JSON).
    #[serde(flatten)]
    pub kind: ToolKind,
}

/// How a tool runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "config", rename_all = "lowercase")]
pub enum ToolKind {
    /// A templated HTTP request.
    Http(HttpConfig),
    /// A signed POST of the arguments.
    Webhook(WebhookConfig),
    /// JavaScript in the sandbox.
    Code(CodeConfig),
}

/// The methods an http tool may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl HttpMethod {
    fn parse(s: &str) -> Option<HttpMethod> {
        match s.to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            "PUT" => Some(HttpMethod::Put),
            "PATCH" => Some(HttpMethod::Patch),
            "DELETE" => Some(HttpMethod::Delete),
            _ => None,
        }
    }

    /// The method for the outbound client.
    pub fn as_method(self) -> crate::net::Method {
        use crate::net::Method;
        match self {
            HttpMethod::Get => Method::GET,
            HttpMethod::Post => Method::POST,
            HttpMethod::Put => Method::PUT,
            HttpMethod::Patch => Method::PATCH,
            HttpMethod::Delete => Method::DELETE,
        }
    }
}

/// An http tool: `{method, url, headers, query, body, timeout_ms}`. `url`, header and query
/// values and strings inside `body` are `{{argument}}` templates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpConfig {
    /// The method (default GET).
    pub method: HttpMethod,
    /// The URL template; filled-in values are percent-encoded.
    pub url: String,
    /// Header name → value template. Values are secrets to the API (masked on read).
    pub headers: BTreeMap<String, String>,
    /// Query parameter → value template, appended to the URL's own query.
    pub query: BTreeMap<String, String>,
    /// The JSON body template, sent as `application/json`; `"{{x}}"` alone puts x's JSON
    /// value in (number stays number).
    pub body: Option<Value>,
    /// The deadline, 1..=[`MAX_HTTP_TIMEOUT_MS`].
    pub timeout_ms: u64,
}

impl HttpConfig {
    /// The config as shown on read: every header value masked (SPEC: secret header values
    /// are write-only).
    pub fn masked(&self) -> HttpConfig {
        HttpConfig {
            headers: self
                .headers
                .keys()
                .map(|k| (k.clone(), "****".to_owned()))
                .collect(),
            ..self.clone()
        }
    }
}

/// A webhook tool: the arguments POSTed as JSON to `url`, signed with `secret`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookConfig {
    /// Where to POST (no templating).
    pub url: String,
    /// The signing key (`whsec_…`); generated when the tool is created without one.
    #[serde(serialize_with = "expose_secret")]
    pub secret: WebhookSecret,
    /// The deadline, 1..=[`MAX_HTTP_TIMEOUT_MS`] (default 10 s, as webhook delivery).
    pub timeout_ms: u64,
}

fn expose_secret<S: Serializer>(secret: &WebhookSecret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&secret.expose())
}

/// The languages a code tool may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeLanguage {
    /// ECMAScript 2023 (QuickJS).
    Javascript,
}

/// A code tool: `{language, source, timeout_ms}`; see [`code`] for the contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeConfig {
    /// Always JavaScript for now.
    pub language: CodeLanguage,
    /// The program; defines `function main(input)`.
    pub source: String,
    /// The wall-clock limit, 1..=[`MAX_CODE_TIMEOUT_MS`].
    pub timeout_ms: u64,
}

fn prefixed(prefix: &str, errors: FieldErrors) -> FieldErrors {
    errors
        .into_iter()
        .map(|(k, v)| (format!("{prefix}.{k}"), v))
        .collect()
}

fn is_snake_case(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl ToolDefinition {
    /// Parses a tool body. Unknown fields (`enabled`, `id`, …) are the service's and are
    /// ignored. Every problem is reported at once, keyed `name`, `parameters.type`,
    /// `config.url`, `config.timeout_ms`, …
    pub fn parse(body: &Value) -> Result<ToolDefinition, FieldErrors> {
        let Value::Object(obj) = body else {
            return Err(FieldErrors::from([(
                "body".to_owned(),
                "must be a JSON object".to_owned(),
            )]));
        };
        let mut fields = Fields::new(obj);
        let name = fields.req_str("name", MAX_TOOL_NAME_CHARS);
        if let Some(n) = &name
            && !is_snake_case(n)
        {
            fields.error(
                "name",
                "must be snake_case: lowercase letters, digits and _, starting with a letter",
            );
        }
        let description = fields.req_str("description", MAX_DESCRIPTION_CHARS);
        let kind_name = fields.req_str("type", 16);
        let mut errors = fields.into_errors();

        let parameters = match obj.get("parameters").filter(|v| !v.is_null()) {
            None => Some(ToolParameters::none()),
            Some(schema) => match ToolParameters::parse(schema) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
        };
        let declared = parameters
            .as_ref()
            .map(ToolParameters::property_names)
            .unwrap_or_default();
        let empty = Map::new();
        let config = match obj.get("config") {
            None | Some(Value::Null) => Some(&empty),
            Some(Value::Object(c)) => Some(c),
            Some(_) => {
                errors.insert("config".into(), "must be an object".into());
                None
            }
        };
        let kind = match (kind_name.as_deref(), config) {
            (Some(_), None) | (None, _) => None,
            (Some("http"), Some(c)) => parse_http(c, &declared, &mut errors).map(ToolKind::Http),
            (Some("webhook"), Some(c)) => parse_webhook(c, &mut errors).map(ToolKind::Webhook),
            (Some("code"), Some(c)) => parse_code(c, &mut errors).map(ToolKind::Code),
            (Some(_), Some(_)) => {
                errors.insert("type".into(), "must be one of http, webhook, code".into());
                None
            }
        };
        match (name, description, parameters, kind) {
            (Some(name), Some(description), Some(parameters), Some(kind)) if errors.is_empty() => {
                Ok(ToolDefinition {
                    name,
                    description,
                    parameters,
                    kind,
                })
            }
            _ => Err(errors),
        }
    }

    /// The JSON form (the shape [`ToolDefinition::parse`] reads), secrets included: for
    /// storage, not for responses.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The JSON form for responses: http header values and the webhook secret masked
    /// (SPEC: secret values are write-only).
    pub fn to_public_json(&self) -> Value {
        let mut json = match &self.kind {
            ToolKind::Http(config) => {
                let masked = ToolDefinition {
                    kind: ToolKind::Http(config.masked()),
                    ..self.clone()
                };
                masked.to_json()
            }
            _ => self.to_json(),
        };
        if let (ToolKind::Webhook(_), Some(config)) = (&self.kind, json.get_mut("config")) {
            config["secret"] = Value::String("whsec_****".into());
        }
        json
    }

    /// What the LLM is told about this tool.
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.schema().clone(),
        }
    }
}

impl ToolDefinition {
    /// The executor's form of a saved tool. Saving checked the tool against
    /// [`ToolDefinition::parse`]'s rules (the one set of limits), so this maps it field by
    /// field instead of parsing it again; only `parameters` is compiled, because a
    /// compiled validator is not stored. An error means the tool was saved under older
    /// rules (it is keyed like a save error: `config.secret`, `parameters`).
    pub fn from_saved(tool: &ExecutableTool) -> Result<ToolDefinition, FieldErrors> {
        let parameters = ToolParameters::parse(&tool.parameters)?;
        let kind = match &tool.config {
            saved::ToolConfig::Http(h) => ToolKind::Http(HttpConfig {
                method: match h.method {
                    saved::HttpMethod::Get => HttpMethod::Get,
                    saved::HttpMethod::Post => HttpMethod::Post,
                    saved::HttpMethod::Put => HttpMethod::Put,
                    saved::HttpMethod::Patch => HttpMethod::Patch,
                    saved::HttpMethod::Delete => HttpMethod::Delete,
                },
                url: h.url.clone(),
                headers: h
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        let (Header::Plain(v) | Header::Secret { secret: v }) = value;
                        (name.clone(), v.clone())
                    })
                    .collect(),
                query: h.query.clone(),
                body: h.body.clone(),
                timeout_ms: u64::from(h.timeout_ms),
            }),
            saved::ToolConfig::Webhook(w) => ToolKind::Webhook(WebhookConfig {
                url: w.url.clone(),
                secret: WebhookSecret::parse(&w.secret)
                    .map_err(|e| FieldErrors::from([("config.secret".to_owned(), e)]))?,
                timeout_ms: DEFAULT_HTTP_TIMEOUT_MS,
            }),
            saved::ToolConfig::Code(c) => ToolKind::Code(CodeConfig {
                language: match c.language {
                    saved::CodeLanguage::Javascript => CodeLanguage::Javascript,
                },
                source: c.source.clone(),
                // Tools saved before the limits were one may hold a longer deadline.
                timeout_ms: u64::from(c.timeout_ms).min(MAX_CODE_TIMEOUT_MS),
            }),
        };
        Ok(ToolDefinition {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters,
            kind,
        })
    }
}

fn timeout(fields: &mut Fields<'_>, max: u64, default: u64) -> u64 {
    fields
        .opt_int("timeout_ms", 1..=max as i64)
        .map_or(default, |t| t as u64)
}

/// Checks that a template only reads declared arguments.
fn check_template_vars(template: &str, declared: &[String], key: &str, fields: &mut Fields<'_>) {
    for var in template_variables(template) {
        let root = var.split('.').next().unwrap_or("");
        if !declared.iter().any(|d| d == root) {
            fields.error(
                key.to_owned(),
                format!("uses {{{{{var}}}}}, which is not one of the parameters"),
            );
        }
    }
}

fn string_map(
    config: &Map<String, Value>,
    field: &str,
    declared: &[String],
    fields: &mut Fields<'_>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match config.get(field) {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            if map.len() > MAX_PAIRS {
                fields.error(field, format!("must have at most {MAX_PAIRS} entries"));
            }
            for (k, v) in map {
                let key = format!("{field}.{k}");
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        fields.error(key, "must be a string");
                        continue;
                    }
                };
                if k.trim().is_empty() {
                    fields.error(field, "names must not be empty");
                    continue;
                }
                check_template_vars(&value, declared, &key, fields);
                out.insert(k.trim().to_owned(), value);
            }
        }
        Some(_) => fields.error(field, "must be an object of strings"),
    }
    out
}

fn parse_http(
    config: &Map<String, Value>,
    declared: &[String],
    errors: &mut FieldErrors,
) -> Option<HttpConfig> {
    let mut fields = Fields::new(config);
    let method = match fields.opt_str("method", 10) {
        None => Some(HttpMethod::Get),
        Some(m) => {
            let parsed = HttpMethod::parse(&m);
            if parsed.is_none() {
                fields.error("method", "must be one of GET, POST, PUT, PATCH, DELETE");
            }
            parsed
        }
    };
    let url = fields.req_str("url", MAX_URL_CHARS);
    if let Some(u) = &url {
        check_template_vars(u, declared, "url", &mut fields);
        // Fill every placeholder with a plain word to see that the result is a URL.
        let filled = fill_sample(u);
        match url::Url::parse(&filled) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {}
            _ => fields.error("url", "must be an http or https URL"),
        }
    }
    let headers = string_map(config, "headers", declared, &mut fields);
    for name in headers.keys() {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            fields.error(format!("headers.{name}"), "is not a valid header name");
        }
    }
    let query = string_map(config, "query", declared, &mut fields);
    let body = config.get("body").filter(|v| !v.is_null()).cloned();
    if let Some(problem) = body.as_ref().and_then(|b| check_body_size(b).err()) {
        fields.error("body", problem);
    } else if let Some(b) = &body {
        let mut strings = Vec::new();
        collect_strings(b, &mut strings);
        for s in strings {
            check_template_vars(s, declared, "body", &mut fields);
        }
    }
    let timeout_ms = timeout(&mut fields, MAX_HTTP_TIMEOUT_MS, DEFAULT_HTTP_TIMEOUT_MS);
    let problems = fields.into_errors();
    let ok = problems.is_empty();
    errors.extend(prefixed("config", problems));
    Some(HttpConfig {
        method: method?,
        url: url?,
        headers,
        query,
        body,
        timeout_ms,
    })
    .filter(|_| ok)
}

/// Deepest `body` template accepted (its strings are walked recursively).
pub const MAX_BODY_DEPTH: usize = 32;
/// Largest `body` template accepted: text in strings and keys, in bytes.
pub const MAX_BODY_TEXT_BYTES: usize = 64 * 1024;

/// Checks the size and nesting of an http tool's `body` template without recursion,
/// before anything recursive reads it. The message completes "body …".
pub fn check_body_size(body: &Value) -> Result<(), String> {
    let limits = JsonLimits {
        max_depth: MAX_BODY_DEPTH,
        max_values: 8_192,
        max_text_bytes: MAX_BODY_TEXT_BYTES,
    };
    limits.check(body).map_or(Ok(()), Err)
}

/// The template with each placeholder replaced by `x`, to check the URL's shape.
fn fill_sample(template: &str) -> String {
    let mut vars = Variables::new();
    for name in template_variables(template) {
        vars.set(&name, json!("x"));
    }
    render_with(template, &vars, |v| v.to_owned())
}

fn collect_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn parse_webhook(config: &Map<String, Value>, errors: &mut FieldErrors) -> Option<WebhookConfig> {
    let mut fields = Fields::new(config);
    let url = fields.req_str("url", MAX_URL_CHARS);
    if let Some(u) = &url {
        match url::Url::parse(u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {}
            _ => fields.error("url", "must be an http or https URL"),
        }
    }
    let secret = match fields.raw("secret") {
        None => Some(WebhookSecret::generate()),
        Some(_) => fields.opt_parsed("secret", WebhookSecret::parse),
    };
    let timeout_ms = timeout(&mut fields, MAX_HTTP_TIMEOUT_MS, DEFAULT_HTTP_TIMEOUT_MS);
    let problems = fields.into_errors();
    let ok = problems.is_empty();
    errors.extend(prefixed("config", problems));
    Some(WebhookConfig {
        url: url?,
        secret: secret?,
        timeout_ms,
    })
    .filter(|_| ok)
}

fn parse_code(config: &Map<String, Value>, errors: &mut FieldErrors) -> Option<CodeConfig> {
    let mut fields = Fields::new(config);
    let language = match fields.opt_str("language", 20).as_deref() {
        None | Some("javascript") | Some("js") => Some(CodeLanguage::Javascript),
        Some(_) => {
            fields.error("language", "must be javascript");
            None
        }
    };
    let source = match fields.raw("source") {
        None => {
            fields.error("source", "is required");
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            fields.error("source", "must not be empty");
            None
        }
        Some(Value::String(s)) if s.len() > MAX_CODE_SOURCE_BYTES => {
            fields.error(
                "source",
                format!("must be at most {MAX_CODE_SOURCE_BYTES} bytes"),
            );
            None
        }
        Some(Value::String(s)) => match code::check_syntax(s) {
            Ok(()) => Some(s.clone()),
            Err(message) => {
                fields.error("source", message);
                None
            }
        },
        Some(_) => {
            fields.error("source", "must be a string");
            None
        }
    };
    let timeout_ms = timeout(&mut fields, MAX_CODE_TIMEOUT_MS, DEFAULT_CODE_TIMEOUT_MS);
    let problems = fields.into_errors();
    let ok = problems.is_empty();
    errors.extend(prefixed("config", problems));
    Some(CodeConfig {
        language: language?,
        source: source?,
        timeout_ms,
    })
    .filter(|_| ok)
}
