//! Reading a tool from a request: every field checked, every problem
//! reported at once, secrets held as [`SecretInput`] until they are sealed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{
    CodeConfig, CodeLanguage, Header, HttpConfig, HttpMethod, MAX_TIMEOUT_MS, Sealed, SecretInput,
    Tool, ToolConfig, ToolType, WebhookConfig, is_credential_header,
};
use crate::crypto::{Cipher, MASK};
use crate::domain::fields::Fields;
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

fn timeout(c: &mut Fields<'_>, max: u64, default: u64) -> u32 {
    let max = i64::try_from(max)
        .unwrap_or(MAX_TIMEOUT_MS)
        .min(MAX_TIMEOUT_MS);
    c.opt_int("timeout_ms", 1..=max)
        .map_or(default, |t| t as u64)
        .try_into()
        .unwrap_or(u32::MAX)
}

fn secret_input(
    c: &mut Fields<'_>,
    field: &str,
    value: Option<&Value>,
    keepable: bool,
) -> Option<SecretInput> {
    match value.filter(|v| !v.is_null()) {
        Some(Value::String(s)) if looks_masked(s) && keepable => Some(SecretInput::Keep),
        Some(Value::String(s)) if looks_masked(s) => {
            c.error(
                field,
                "is a masked value, but there is no stored secret to keep: send the secret itself",
            );
            None
        }
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
                    Value::String(_) if is_credential_header(name) => {
                        if let Some(s) = secret_input(c, &field, Some(v), keep.contains(name)) {
                            headers.insert(name.clone(), Header::Secret { secret: s });
                        }
                    }
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
                        // Credentials stay secret even when the request says otherwise.
                        if secret || is_credential_header(name) {
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
    let timeout_ms = timeout(c, tools::MAX_HTTP_TIMEOUT_MS, HTTP_TIMEOUT_DEFAULT);
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
            let timeout_ms = timeout(&mut c, CODE_TIMEOUT_MAX, CODE_TIMEOUT_DEFAULT);
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
