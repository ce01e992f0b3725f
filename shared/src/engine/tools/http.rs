//! The `http` and `webhook` tools: one request through the [`GuardedClient`] each.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use super::definition::{HttpConfig, WebhookConfig};
use super::{ToolError, ToolOutput};
use crate::domain::flow::{Variables, render, render_with, whole_placeholder};
use crate::net::{GuardedClient, Method, OutboundRequest, OutboundResponse};

/// The largest response a tool may return (larger ones are [`ToolError::TooLarge`]).
pub const MAX_TOOL_RESPONSE_BYTES: usize = 1024 * 1024;

/// Everything but RFC 3986 unreserved characters is encoded, so a filled-in value stays one
/// path segment or one query value (`/`, `?`, `&`, `#` included).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn variables(args: &Value) -> Variables {
    match args {
        Value::Object(map) => Variables::from(map.clone()),
        _ => Variables::new(),
    }
}

/// Whether a template is one placeholder whose argument was not given (such header and
/// query entries are left out rather than sent empty).
fn missing_whole(template: &str, vars: &Variables) -> bool {
    whole_placeholder(template).is_some_and(|name| vars.get(name).is_none_or(Value::is_null))
}

/// Fills a JSON body template: a string that is one placeholder takes the argument's JSON
/// value (an absent one drops the object key); other strings are rendered as text.
fn render_json(template: &Value, vars: &Variables) -> Option<Value> {
    match template {
        Value::String(s) => match whole_placeholder(s) {
            Some(name) => vars.get(name).cloned(),
            None => Some(Value::String(render(s, vars))),
        },
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|v| render_json(v, vars).unwrap_or(Value::Null))
                .collect(),
        )),
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), render_json(v, vars)?)))
                .collect::<Map<String, Value>>(),
        )),
        other => Some(other.clone()),
    }
}

/// The request an http tool makes for `args` (already validated).
pub(crate) fn build_http_request(
    config: &HttpConfig,
    args: &Value,
) -> Result<OutboundRequest, ToolError> {
    let vars = variables(args);
    let rendered = render_with(&config.url, &vars, |v| {
        utf8_percent_encode(v, COMPONENT).to_string()
    });
    let mut url = url::Url::parse(&rendered)
        .map_err(|e| ToolError::upstream(format!("the tool's URL is not valid: {e}")))?;
    let pairs: Vec<(&String, String)> = config
        .query
        .iter()
        .filter(|(_, t)| !missing_whole(t, &vars))
        .map(|(k, t)| (k, render(t, &vars)))
        .collect();
    if !pairs.is_empty() {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, &v);
        }
    }
    let mut request = OutboundRequest::new(config.method.as_method(), url.to_string())
        .timeout(Duration::from_millis(config.timeout_ms))
        .max_body_bytes(MAX_TOOL_RESPONSE_BYTES);
    for (name, template) in &config.headers {
        if !missing_whole(template, &vars) {
            request = request.header(name.clone(), render(template, &vars));
        }
    }
    if let Some(template) = &config.body {
        let body = render_json(template, &vars).unwrap_or(Value::Null);
        let bytes = serde_json::to_vec(&body).map_err(|e| ToolError::Internal(e.to_string()))?;
        if !config
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        request = request.body(bytes);
    }
    Ok(request)
}

/// JSON when the response says so or parses as JSON without a content type; else text.
fn output_of(response: &OutboundResponse) -> Value {
    let parsed = || serde_json::from_slice::<Value>(&response.body).ok();
    if (response.is_json() || response.content_type.is_none())
        && let Some(v) = parsed()
    {
        return v;
    }
    Value::String(response.text())
}

/// Runs an http tool: fills the templates from `args`, sends the request through the guard
/// and returns the body (JSON or text) with the status. Any status is a result, not an
/// error: the LLM is shown the 404 and can say so.
pub async fn run_http(
    config: &HttpConfig,
    args: &Value,
    client: &GuardedClient,
) -> Result<ToolOutput, ToolError> {
    let started = std::time::Instant::now();
    let request = build_http_request(config, args)?;
    let response = client.send(request).await?;
    Ok(ToolOutput {
        output: output_of(&response),
        status: Some(response.status),
        duration_ms: started.elapsed().as_millis() as u64,
        logs: Vec::new(),
    })
}

/// Runs a webhook tool: POSTs the arguments as JSON, signed the Standard Webhooks way, and
/// expects JSON back (204 or an empty 2xx body gives `null`). A non-2xx status or a non-JSON
/// answer is [`ToolError::Upstream`].
pub async fn run_webhook(
    config: &WebhookConfig,
    args: &Value,
    client: &GuardedClient,
) -> Result<ToolOutput, ToolError> {
    let started = std::time::Instant::now();
    let body = serde_json::to_vec(args).map_err(|e| ToolError::Internal(e.to_string()))?;
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let timestamp = chrono::Utc::now().timestamp();
    let mut request = OutboundRequest::new(Method::POST, config.url.clone())
        .timeout(Duration::from_millis(config.timeout_ms))
        .max_body_bytes(MAX_TOOL_RESPONSE_BYTES)
        .header("content-type", "application/json");
    for (name, value) in config.secret.headers(&id, timestamp, &body) {
        request = request.header(name, value);
    }
    let response = client.send(request.body(body)).await?;
    let status = response.status;
    if !(200..300).contains(&status) {
        let snippet: String = response.text().chars().take(200).collect();
        return Err(ToolError::Upstream {
            status: Some(status),
            message: format!("the webhook answered {status}: {snippet}"),
        });
    }
    let output = if response.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&response.body).map_err(|_| ToolError::Upstream {
            status: Some(status),
            message: format!(
                "the webhook answered {} instead of JSON",
                response
                    .content_type
                    .as_deref()
                    .unwrap_or("a body without a content type")
            ),
        })?
    };
    Ok(ToolOutput {
        output,
        status: Some(status),
        duration_ms: started.elapsed().as_millis() as u64,
        logs: Vec::new(),
    })
}
