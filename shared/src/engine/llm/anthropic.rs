//! Anthropic Messages, streamed (`POST {base}/v1/messages` with `stream: true`, headers
//! `x-api-key` and `anthropic-version: 2023-06-01`).
//!
//! The reply is server-sent events: `message_start` (input usage), then per content block
//! `content_block_start` (a `text` or a `tool_use` with its id and name),
//! `content_block_delta`s (`text_delta` text, or `input_json_delta` pieces of the tool's
//! JSON input, split anywhere), `content_block_stop`; then `message_delta` (`stop_reason`,
//! output usage) and `message_stop`. `ping`s come at any time; an `error` event reports a
//! failure mid-stream (`overloaded_error`, …). Event types this client does not know are
//! skipped, as Anthropic's versioning policy asks.
//!
//! Structured output: Anthropic has no JSON-schema response format, so the schema becomes
//! a tool the model is forced to call, and that call's input is handed on as the reply's
//! text.

use std::collections::VecDeque;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::openai::finish_call;
use super::sse::{SseDecoder, SseEvent};
use super::transport::{self, ApiKey, Decoder, Transport};
use super::turns::{Block, turns};
use super::{ChatEvent, ChatModel, ChatRequest, ChatStream, LlmError, StopReason, Usage};

/// Anthropic's API base.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The API version this client speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The tool that carries a structured reply.
pub(crate) const RESPONSE_TOOL: &str = "respond";
/// `max_tokens` is required by the API; this is sent when the request sets none.
const DEFAULT_MAX_TOKENS: u32 = 1024;

/// A Messages API client for one model.
#[derive(Debug, Clone)]
pub struct AnthropicChat {
    name: String,
    model: String,
    url: String,
    key: ApiKey,
    http: reqwest::Client,
    transport: Transport,
}

impl AnthropicChat {
    /// A client of the API at `base_url` (without `/v1`, normally [`ANTHROPIC_BASE_URL`]).
    /// `name` is the configured model name, for logs; `model` the provider's, sent when a
    /// request names none.
    pub fn new(
        name: impl Into<String>,
        model: impl Into<String>,
        base_url: &str,
        api_key: String,
        http: reqwest::Client,
    ) -> AnthropicChat {
        AnthropicChat {
            name: name.into(),
            model: model.into(),
            url: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            key: ApiKey(api_key),
            http,
            transport: Transport::default(),
        }
    }

    /// The same client with other timeouts and retries.
    pub fn with_transport(mut self, transport: Transport) -> AnthropicChat {
        self.transport = transport;
        self
    }
}

/// The request body.
fn body(request: &ChatRequest, model: &str) -> Value {
    let messages: Vec<Value> = turns(&request.messages)
        .into_iter()
        .map(|(speaker, blocks)| {
            let content: Vec<Value> = blocks
                .into_iter()
                .map(|b| match b {
                    Block::Text(text) => json!({"type": "text", "text": text}),
                    Block::ToolUse(call) => json!({
                        "type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments,
                    }),
                    Block::ToolResult { id, content } => {
                        json!({"type": "tool_result", "tool_use_id": id, "content": content})
                    }
                })
                .collect();
            json!({"role": speaker.as_str(), "content": content})
        })
        .collect();
    let max_tokens = match request.max_tokens {
        0 => DEFAULT_MAX_TOKENS,
        n => n,
    };
    let mut body = json!({
        "model": model,
        "max_tokens": max_tokens,
        "messages": messages,
        "stream": true,
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(
            |t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}),
        )
        .collect();
    if let Some(schema) = &request.response_schema {
        tools.push(json!({
            "name": RESPONSE_TOOL,
            "description": "Give your answer, as the schema describes.",
            "input_schema": schema,
        }));
        body["tool_choice"] = json!({"type": "tool", "name": RESPONSE_TOOL});
    }
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
    }
    body
}

#[async_trait]
impl ChatModel for AnthropicChat {
    fn name(&self) -> &str {
        &self.name
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let encoded = serde_json::to_vec(&body(
            &request,
            super::model_of(&request, &self.name, &self.model),
        ))
        .map_err(|e| LlmError::BadRequest(format!("cannot encode the request: {e}")))?;
        let http_request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header("x-api-key", &self.key.0)
            .body(encoded)
            .build()
            .map_err(transport::transport_error)?;
        let (response, deadline) =
            transport::open(&self.http, http_request, &self.transport, &self.key.0).await?;
        let decoder = EventDecoder {
            structured: request.response_schema.is_some(),
            ..EventDecoder::default()
        };
        Ok(transport::event_stream(
            response,
            decoder,
            deadline,
            &self.transport.timeouts,
        ))
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDelta,
        usage: Option<OutputUsage>,
    },
    MessageStop,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartedMessage {
    usage: Option<InputUsage>,
}

#[derive(Deserialize)]
struct InputUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: u32,
}

#[derive(Deserialize)]
struct OutputUsage {
    #[serde(default)]
    output_tokens: u32,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock {
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

/// A `tool_use` block being received.
#[derive(Debug)]
struct OpenTool {
    index: u32,
    id: String,
    name: String,
    input: String,
}

/// Turns Messages API events into [`ChatEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct EventDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    tools: Vec<OpenTool>,
    calls: usize,
    usage: Usage,
    stop: Option<StopReason>,
    /// The request forced [`RESPONSE_TOOL`]: its input is the reply's text.
    structured: bool,
}

impl EventDecoder {
    fn event(&mut self, data: &str, out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        let event: Event = serde_json::from_str(data)
            .map_err(|e| LlmError::InvalidResponse(format!("an event is not readable: {e}")))?;
        match event {
            Event::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.usage.input_tokens = u.input_tokens
                        + u.cache_creation_input_tokens.unwrap_or(0)
                        + u.cache_read_input_tokens.unwrap_or(0);
                    self.usage.output_tokens = u.output_tokens;
                }
            }
            Event::ContentBlockStart {
                index,
                content_block: ContentBlock::ToolUse { id, name },
            } => self.tools.push(OpenTool {
                index,
                id,
                name,
                input: String::new(),
            }),
            Event::ContentBlockStart { .. } => {}
            Event::ContentBlockDelta { delta, index } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => {
                    out.push_back(ChatEvent::Text(text))
                }
                BlockDelta::InputJsonDelta { partial_json } => {
                    let tool = self
                        .tools
                        .iter_mut()
                        .find(|t| t.index == index)
                        .ok_or_else(|| {
                            LlmError::InvalidResponse(format!(
                                "input for content block {index}, which is no tool call"
                            ))
                        })?;
                    if tool.input.len() + partial_json.len() > super::sse::MAX_EVENT_BYTES {
                        return Err(LlmError::InvalidResponse(
                            "a tool call's input is larger than 1 MiB".into(),
                        ));
                    }
                    tool.input.push_str(&partial_json);
                }
                _ => {}
            },
            Event::ContentBlockStop { index } => {
                if let Some(at) = self.tools.iter().position(|t| t.index == index) {
                    let tool = self.tools.remove(at);
                    let call = finish_call(tool.id, tool.name, &tool.input, self.calls)?;
                    self.calls += 1;
                    if self.structured && call.name == RESPONSE_TOOL {
                        out.push_back(ChatEvent::Text(call.arguments.to_string()));
                    } else {
                        out.push_back(ChatEvent::ToolCall(call));
                    }
                }
            }
            Event::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.usage.output_tokens = u.output_tokens;
                }
                if let Some(reason) = delta.stop_reason {
                    self.stop = Some(match reason.as_str() {
                        "tool_use" if self.structured && self.calls == 1 => StopReason::EndTurn,
                        "end_turn" | "stop_sequence" => StopReason::EndTurn,
                        "tool_use" => StopReason::ToolUse,
                        "max_tokens" => StopReason::MaxTokens,
                        other => StopReason::Other(other.to_owned()),
                    });
                }
            }
            Event::MessageStop => {
                out.push_back(ChatEvent::Usage(self.usage));
                out.push_back(ChatEvent::Done(
                    self.stop.take().unwrap_or(StopReason::EndTurn),
                ));
            }
            Event::Error { error } => {
                let message = transport::redact(&error.message, "");
                return Err(match error.kind.as_str() {
                    "rate_limit_error" => LlmError::RateLimited { retry_after: None },
                    "authentication_error" | "permission_error" => LlmError::Auth(message),
                    "invalid_request_error" | "not_found_error" | "request_too_large" => {
                        LlmError::BadRequest(message)
                    }
                    kind => LlmError::Unavailable(format!("{kind}: {message}")),
                });
            }
            Event::Other => {}
        }
        Ok(())
    }
}

impl Decoder for EventDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        self.sse.feed(bytes, &mut self.events)?;
        for event in std::mem::take(&mut self.events) {
            self.event(&event.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        Ok(()) // without `message_stop` the reply was cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::llm::{ChatMessage, ToolCall, ToolSpec};

    fn decode(body: &str, structured: bool) -> Result<Vec<ChatEvent>, LlmError> {
        let mut decoder = EventDecoder {
            structured,
            ..EventDecoder::default()
        };
        let mut out = VecDeque::new();
        for piece in body.as_bytes().chunks(5) {
            decoder.feed(piece, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out.into_iter().collect())
    }

    const TOOL_REPLY: &str = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me check.\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"respond\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"loc\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ation\\\": \\\"SF\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    #[test]
    fn text_and_a_split_tool_input_become_events() {
        let call = ToolCall {
            id: "toolu_1".into(),
            name: "respond".into(),
            arguments: json!({"location": "SF"}),
        };
        assert_eq!(
            decode(TOOL_REPLY, false).unwrap(),
            vec![
                ChatEvent::Text("Let me check.".into()),
                ChatEvent::ToolCall(call),
                ChatEvent::Usage(Usage {
                    input_tokens: 25,
                    output_tokens: 89
                }),
                ChatEvent::Done(StopReason::ToolUse),
            ]
        );
        // Forced for structured output, the same call is the reply's text.
        let structured = decode(TOOL_REPLY, true).unwrap();
        assert_eq!(
            structured[1],
            ChatEvent::Text(r#"{"location":"SF"}"#.into())
        );
        assert_eq!(structured[3], ChatEvent::Done(StopReason::EndTurn));
    }

    #[test]
    fn error_events_map_to_errors() {
        let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        assert!(matches!(
            decode(overloaded, false),
            Err(LlmError::Unavailable(m)) if m.contains("Overloaded")
        ));
    }

    #[test]
    fn the_schema_is_a_forced_tool_and_tool_results_are_user_blocks() {
        let request = ChatRequest {
            model: "claude-x".into(),
            system: "be brief".into(),
            messages: vec![
                ChatMessage::user("hi"),
                ChatMessage::assistant(
                    "",
                    vec![ToolCall {
                        id: "t1".into(),
                        name: "lookup".into(),
                        arguments: json!({"q": 1}),
                    }],
                ),
                ChatMessage::tool_result("t1", "{\"ok\":true}"),
            ],
            tools: vec![ToolSpec {
                name: "lookup".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
            }],
            response_schema: Some(json!({"type": "object"})),
            ..ChatRequest::default()
        };
        let b = body(&request, "claude-x");
        assert_eq!(b["max_tokens"], 1024);
        assert_eq!(b["system"], "be brief");
        assert_eq!(
            b["tool_choice"],
            json!({"type": "tool", "name": RESPONSE_TOOL})
        );
        assert_eq!(b["tools"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            b["messages"][2],
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "{\"ok\":true}"}]})
        );
    }
}
