//! Reading a tool from a request: every field checked, every problem
//! reported at once, secrets held as [`SecretInput`] until they are sealed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::input::{CodeConfigInput, HttpConfigInput, ToolPatch, WebhookConfigInput};
use super::{
    CodeConfig, CodeLanguage, Header, HttpConfig, HttpMethod, MAX_TIMEOUT_MS, Sealed, SecretInput,
    Tool, ToolConfig, ToolType, WebhookConfig, is_credential_header,
};
use crate::crypto::{Cipher, MASK};
use crate::domain::input::{Checks, Field, from_json};
use crate::domain::{is_snake_case, parse_http_url};
use crate::engine::signing::WebhookSecret;
use crate::engine::tools::{self, ToolDefinition};
use crate::error::Error;

const DESCRIPTION_MAX: usize = 2_000;
const SECRET_MAX: usize = 4_096;
const HEADER_VALUE_MAX: usize = 8_192;
const MAX_HEADERS: usize = 50;
const MAX_QUERY: usize = 50;
/// Largest `parameters` schema or `body` template (JSON text).
const DOC_MAX_BYTES: usize = 64 * 1024;
/// Code tools: the executor's limits, so a tool that saves can run.
const SOURCE_MAX: usize = tools::MAX_CODE_SOURCE_BYTES;
const CODE_TIMEOUT_MAX: u64 = tools::MAX_CODE_TIMEOUT_MS;
const CODE_TIMEOUT_DEFAULT: u64 = tools::DEFAULT_CODE_TIMEOUT_MS;
const HTTP_TIMEOUT_DEFAULT: u64 = tools::DEFAULT_HTTP_TIMEOUT_MS;

/// True when a secret value sent back is the masked form a read showed (`••••abcd`, or
/// `sk-…abcd` from before hints).
fn looks_masked(s: &str) -> bool {
    s.contains('…') || s.starts_with(MASK)
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
    // Before anything that recurses over the schema (serializing, compiling).
    crate::engine::tools::check_schema_size(v)?;
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
    // The whole schema must compile: the same check arguments meet at call time.
    if let Err(fields) = crate::engine::tools::ToolParameters::parse(v) {
        let reason = fields
            .iter()
            .map(|(k, r)| format!("{k}: {r}"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("is not a valid JSON Schema ({reason})"));
    }
    Ok(v.clone())
}

fn unknown_keys(c: &mut Checks, unknown: &BTreeMap<String, Value>, allowed: &[&str]) {
    for key in unknown.keys() {
        c.error(
            key.clone(),
            format!(
                "is not a setting of this tool type ({})",
                allowed.join(", ")
            ),
        );
    }
}

fn timeout(c: &mut Checks, input: Field<i64>, max: u64, default: u64) -> u32 {
    let max = i64::try_from(max)
        .unwrap_or(MAX_TIMEOUT_MS)
        .min(MAX_TIMEOUT_MS);
    c.opt_int("timeout_ms", input, 1..=max)
        .map_or(default, |t| t as u64)
        .try_into()
        .unwrap_or(u32::MAX)
}

fn secret_input(
    c: &mut Checks,
    field: &str,
    value: Field<String>,
    keepable: bool,
) -> Option<SecretInput> {
    match value {
        Field::Value(s) if looks_masked(&s) && keepable => Some(SecretInput::Keep),
        Field::Value(s) if looks_masked(&s) => {
            c.error(
                field,
                "is a masked value, but there is no stored secret to keep: send the secret itself",
            );
            None
        }
        Field::Value(s) if !s.trim().is_empty() && s.len() <= SECRET_MAX => {
            Some(SecretInput::New(s.trim().to_owned()))
        }
        Field::Value(_) | Field::Invalid(_) => {
            c.error(
                field,
                format!("must be a non-empty string of at most {SECRET_MAX} characters"),
            );
            None
        }
        Field::Absent | Field::Null if keepable => Some(SecretInput::Keep),
        Field::Absent | Field::Null => {
            c.error(field, "is required");
            None
        }
    }
}

fn parse_method(m: &str) -> Result<HttpMethod, String> {
    match m.to_ascii_uppercase().as_str() {
        "GET" => Ok(HttpMethod::Get),
        "POST" => Ok(HttpMethod::Post),
        "PUT" => Ok(HttpMethod::Put),
        "PATCH" => Ok(HttpMethod::Patch),
        "DELETE" => Ok(HttpMethod::Delete),
        _ => Err("must be GET, POST, PUT, PATCH or DELETE".into()),
    }
}

/// One header of an `http` tool: a plain string, or `{value, secret}`.
fn parse_header(
    c: &mut Checks,
    name: &str,
    v: &Value,
    keep: &BTreeSet<String>,
) -> Option<Header<SecretInput>> {
    let field = format!("headers.{name}");
    if !is_header_name(name) {
        c.error(field, "is not a valid HTTP header name");
        return None;
    }
    match v {
        Value::String(s) if is_credential_header(name) => {
            let secret = secret_input(c, &field, Field::Value(s.clone()), keep.contains(name))?;
            Some(Header::Secret { secret })
        }
        Value::String(s) if s.len() <= HEADER_VALUE_MAX => Some(Header::Plain(s.clone())),
        Value::Object(o) => {
            let secret = match o.get("secret") {
                None | Some(Value::Bool(false)) => false,
                Some(Value::Bool(true)) => true,
                Some(_) => {
                    c.error(format!("{field}.secret"), "must be true or false");
                    return None;
                }
            };
            if let Some(k) = o.keys().find(|k| !matches!(k.as_str(), "value" | "secret")) {
                c.error(format!("{field}.{k}"), "a header has only value and secret");
                return None;
            }
            // Credentials stay secret even when the request says otherwise.
            if secret || is_credential_header(name) {
                let value = Field::from_json(o.get("value"));
                let secret =
                    secret_input(c, &format!("{field}.value"), value, keep.contains(name))?;
                return Some(Header::Secret { secret });
            }
            match o.get("value") {
                Some(Value::String(s)) if s.len() <= HEADER_VALUE_MAX => {
                    Some(Header::Plain(s.clone()))
                }
                _ => {
                    c.error(format!("{field}.value"), "must be a string");
                    None
                }
            }
        }
        _ => {
            c.error(
                field,
                "must be a string, or {\"value\": \"...\", \"secret\": true} for a secret",
            );
            None
        }
    }
}

fn parse_http(
    c: &mut Checks,
    input: HttpConfigInput,
    keep: &BTreeSet<String>,
) -> Option<HttpConfig<SecretInput>> {
    unknown_keys(
        c,
        &input.unknown,
        &["method", "url", "headers", "query", "body", "timeout_ms"],
    );
    let method = match input.method {
        Field::Absent | Field::Null => Some(HttpMethod::Get),
        method => c.opt_parsed("method", method, parse_method),
    };
    let url = c.req_parsed("url", input.url, parse_http_url);
    let mut headers = BTreeMap::new();
    let too_many_headers =
        format!("must be an object of at most {MAX_HEADERS} header names to values");
    match input.headers {
        Field::Value(h) if h.len() <= MAX_HEADERS => {
            for (name, v) in &h {
                if let Some(header) = parse_header(c, name, v, keep) {
                    headers.insert(name.clone(), header);
                }
            }
        }
        Field::Value(_) | Field::Invalid(_) => c.error("headers", too_many_headers),
        Field::Absent | Field::Null => {}
    }
    let mut query = BTreeMap::new();
    let too_many_query = format!("must be an object of at most {MAX_QUERY} parameters");
    match input.query {
        Field::Value(q) if q.len() <= MAX_QUERY => {
            for (k, v) in q {
                match v {
                    Value::String(s) => {
                        query.insert(k, s);
                    }
                    _ => c.error(format!("query.{k}"), "must be a string (a template)"),
                }
            }
        }
        Field::Value(_) | Field::Invalid(_) => c.error("query", too_many_query),
        Field::Absent | Field::Null => {}
    }
    let body = match input.body {
        Field::Value(b) => Some(b),
        _ => None,
    };
    // Size and depth first: serializing recurses once per level.
    if let Some(problem) = body.as_ref().and_then(|b| tools::check_body_size(b).err()) {
        c.error("body", problem);
    } else if body
        .as_ref()
        .is_some_and(|b| b.to_string().len() > DOC_MAX_BYTES)
    {
        c.error(
            "body",
            format!("must be at most {} KB", DOC_MAX_BYTES / 1024),
        );
    }
    let timeout_ms = timeout(
        c,
        input.timeout_ms,
        tools::MAX_HTTP_TIMEOUT_MS,
        HTTP_TIMEOUT_DEFAULT,
    );
    Some(HttpConfig {
        method: method?,
        url: url?,
        headers,
        query,
        body,
        timeout_ms,
    })
}

fn parse_webhook(
    c: &mut Checks,
    input: WebhookConfigInput,
    keep: &BTreeSet<String>,
) -> Option<WebhookConfig<SecretInput>> {
    unknown_keys(c, &input.unknown, &["url", "secret"]);
    let url = c.req_parsed("url", input.url, parse_http_url);
    let secret = secret_input(c, "secret", input.secret, keep.contains("secret"));
    Some(WebhookConfig {
        url: url?,
        secret: secret?,
    })
}

fn parse_code(c: &mut Checks, input: CodeConfigInput) -> Option<CodeConfig> {
    unknown_keys(c, &input.unknown, &["language", "source", "timeout_ms"]);
    let language = match input.language {
        Field::Absent | Field::Null => Some(CodeLanguage::Javascript),
        Field::Value(l) if l == "javascript" => Some(CodeLanguage::Javascript),
        Field::Value(_) | Field::Invalid(_) => {
            c.error("language", "must be javascript");
            None
        }
    };
    let source = c.req_str("source", input.source, SOURCE_MAX);
    let timeout_ms = timeout(c, input.timeout_ms, CODE_TIMEOUT_MAX, CODE_TIMEOUT_DEFAULT);
    Some(CodeConfig {
        language: language?,
        source: source?,
        timeout_ms,
    })
}

/// Reads `config` as the settings of tool type `kind`; problems are
/// reported under `config.`.
fn parse_config(
    f: &mut Checks,
    config: Field<Map<String, Value>>,
    kind: ToolType,
    keep: &BTreeSet<String>,
) -> Option<ToolConfig<SecretInput>> {
    let config = match config {
        Field::Value(m) => Value::Object(m),
        Field::Absent | Field::Null => Value::Object(Map::new()),
        Field::Invalid(_) => {
            f.error("config", "must be an object");
            return None;
        }
    };
    let mut c = Checks::new();
    let parsed = match kind {
        ToolType::Http => {
            from_json(config).map(|i| parse_http(&mut c, i, keep).map(ToolConfig::Http))
        }
        ToolType::Webhook => {
            from_json(config).map(|i| parse_webhook(&mut c, i, keep).map(ToolConfig::Webhook))
        }
        ToolType::Code => from_json(config).map(|i| parse_code(&mut c, i).map(ToolConfig::Code)),
    };
    for (k, v) in c.into_errors() {
        f.error(format!("config.{k}"), v);
    }
    match parsed {
        Ok(config) => config,
        Err(e) => {
            f.error("config", e.to_string());
            None
        }
    }
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
    /// Checks a create body (or a stored tool with a PATCH laid over it, see
    /// [`Tool::patched`]). `keep` names the stored secrets a request may
    /// keep by not resending them (empty on create). Every bad field is
    /// reported.
    pub fn parse(body: ToolPatch, keep: &BTreeSet<String>) -> Result<Self, Error> {
        let mut f = Checks::new();
        let name = f.req_parsed("name", body.name, |s| {
            if is_snake_case(s) {
                Ok(s.to_owned())
            } else {
                Err("must be snake_case (a-z, 0-9, _, starting with a letter), at most 64 characters".into())
            }
        });
        let description = f.req_str("description", body.description, DESCRIPTION_MAX);
        let kind = f.req_parsed("type", body.kind, |s| {
            ToolType::parse(s).ok_or_else(|| "must be http, webhook or code".to_owned())
        });
        let parameters = match body.parameters {
            Field::Value(p) => match parse_parameters(&p) {
                Ok(p) => Some(p),
                Err(e) => {
                    f.error("parameters", e);
                    None
                }
            },
            _ => Some(json!({"type": "object", "properties": {}})),
        };
        let config = kind.and_then(|k| parse_config(&mut f, body.config, k, keep));
        let enabled = f.opt_bool("enabled", body.enabled).unwrap_or(true);
        f.finish()?;
        let (Some(name), Some(description), Some(kind), Some(parameters), Some(config)) =
            (name, description, kind, parameters, config)
        else {
            return Err(Error::Internal(
                "required tool fields missing after validation".into(),
            ));
        };
        let spec = Self {
            name,
            description,
            kind,
            parameters,
            config,
            enabled,
        };
        spec.check_runnable()?;
        Ok(spec)
    }

    /// Applies the executor's rules ([`ToolDefinition::parse`]: templates read only
    /// declared parameters, the URL is one once filled in, the webhook secret is a signing
    /// key, the code compiles and defines `main` in the sandbox) so that a tool that saves
    /// can run. This runs JavaScript definitions: call it off the async workers.
    fn check_runnable(&self) -> Result<(), Error> {
        let config = self
            .config
            .clone()
            .map_secrets(|_, s| {
                Ok::<_, std::convert::Infallible>(match s {
                    SecretInput::New(p) => p,
                    // Checked when it was saved; any valid stand-in does here.
                    SecretInput::Keep => WebhookSecret::generate().expose(),
                })
            })
            .unwrap_or_else(|never| match never {});
        let mut config =
            serde_json::to_value(&config).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(Value::Object(headers)) = config.get_mut("headers") {
            for value in headers.values_mut() {
                if let Some(secret) = value.get("secret").and_then(Value::as_str) {
                    *value = Value::String(secret.to_owned());
                }
            }
        }
        let body = json!({
            "name": self.name, "description": self.description, "type": self.kind,
            "parameters": self.parameters, "config": config,
        });
        ToolDefinition::parse(&body)
            .map(|_| ())
            .map_err(Error::Validation)
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
            SecretInput::New(p) => Ok(Sealed::seal(cipher, &p)),
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
