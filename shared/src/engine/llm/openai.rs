//! OpenAI Chat Completions, streamed (`POST {base}/chat/completions` with `stream: true`):
//! the API of OpenAI itself, of Google's OpenAI-compatible Gemini endpoint, and of every
//! server that copies it (Groq, Together, OpenRouter, vLLM, Ollama, llama.cpp's server).
//!
//! The reply is server-sent events whose `data` is a `chat.completion.chunk`, ended by
//! `data: [DONE]`. Text comes as `choices[0].delta.content`; a tool call comes as
//! `delta.tool_calls[]` pieces keyed by `index`, the first carrying `id` and `function.name`
//! and later ones more of `function.arguments` (a JSON text split anywhere), which are
//! joined and parsed when `finish_reason` arrives. With `stream_options.include_usage`
//! the last chunk before `[DONE]` has empty `choices` and the `usage`.

use std::collections::VecDeque;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::sse::{SseDecoder, SseEvent};
use super::transport::{self, ApiKey, Decoder, Transport};
use super::{
    ChatEvent, ChatModel, ChatRequest, ChatRole, ChatStream, LlmError, StopReason, ToolCall, Usage,
};

/// OpenAI's API base.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Gemini's OpenAI-compatible API base.
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta/openai";

/// Which server speaks the protocol: they differ in small ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// OpenAI: the length limit is `max_completion_tokens` (the reasoning models refuse
    /// `max_tokens`).
    OpenAi,
    /// Gemini's compatible endpoint.
    Gemini,
    /// Any other compatible server: `max_tokens`, which they all read.
    Compatible,
}

/// A Chat Completions client for one model.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    name: String,
    model: String,
    url: String,
    key: ApiKey,
    flavour: Flavour,
    http: reqwest::Client,
    transport: Transport,
}

impl OpenAiChat {
    /// A client of the server at `base_url` (up to and including its version segment:
    /// `https://api.openai.com/v1`, `http://localhost:11434/v1`), sending `api_key` as a
    /// bearer token when there is one. `name` is the configured model name, for logs;
    /// `model` the provider's, sent when a request names none.
    pub fn new(
        name: impl Into<String>,
        model: impl Into<String>,
        base_url: &str,
        api_key: Option<String>,
        flavour: Flavour,
        http: reqwest::Client,
    ) -> OpenAiChat {
        OpenAiChat {
            name: name.into(),
            model: model.into(),
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            key: ApiKey(api_key.unwrap_or_default()),
            flavour,
            http,
            transport: Transport::default(),
        }
    }

    /// The same client with other timeouts and retries.
    pub fn with_transport(mut self, transport: Transport) -> OpenAiChat {
        self.transport = transport;
        self
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let mut messages = Vec::with_capacity(request.messages.len() + 1);
        if !request.system.is_empty() {
            messages.push(json!({"role": "system", "content": request.system}));
        }
        for m in &request.messages {
            messages.push(match m.role {
                ChatRole::User => json!({"role": "user", "content": m.content}),
                ChatRole::Tool => json!({
                    "role": "tool",
                    "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
                    "content": m.content,
                }),
                ChatRole::Assistant if m.tool_calls.is_empty() => {
                    json!({"role": "assistant", "content": m.content})
                }
                ChatRole::Assistant => json!({
                    "role": "assistant",
                    "content": (!m.content.is_empty()).then_some(&m.content),
                    "tool_calls": m.tool_calls.iter().map(|c| json!({
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments.to_string()},
                    })).collect::<Vec<_>>(),
                }),
            });
        }
        let mut body = json!({
            "model": super::model_of(request, &self.name, &self.model),
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if request.max_tokens > 0 {
            let field = match self.flavour {
                Flavour::OpenAi => "max_completion_tokens",
                Flavour::Gemini | Flavour::Compatible => "max_tokens",
            };
            body[field] = json!(request.max_tokens);
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters,
                    }})
                })
                .collect();
        }
        if let Some(schema) = &request.response_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema},
            });
        }
        body
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn name(&self) -> &str {
        &self.name
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let body = serde_json::to_vec(&self.body(&request))
            .map_err(|e| LlmError::BadRequest(format!("cannot encode the request: {e}")))?;
        let mut builder = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream")
            .body(body);
        if !self.key.0.is_empty() {
            builder = builder.bearer_auth(&self.key.0);
        }
        let request = builder.build().map_err(transport::transport_error)?;
        let (response, deadline) =
            transport::open(&self.http, request, &self.transport, &self.key.0).await?;
        Ok(transport::event_stream(
            response,
            ChunkDecoder::default(),
            deadline,
            &self.transport.timeouts,
        ))
    }
}

/// A tool call being received.
#[derive(Debug, Default)]
struct PartialCall {
    index: Option<u32>,
    id: String,
    name: String,
    arguments: String,
}

/// Turns `chat.completion.chunk` events into [`ChatEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct ChunkDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    calls: Vec<PartialCall>,
    finish: Option<StopReason>,
    /// The last usage reported (some servers repeat it on several chunks).
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Chunk {
    choices: Option<Vec<Choice>>,
    usage: Option<ChunkUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolDelta>>,
}

#[derive(Deserialize)]
struct ToolDelta {
    index: Option<u32>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
}

impl ChunkDecoder {
    fn chunk(&mut self, data: &str, out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        if data == "[DONE]" {
            self.flush_calls(out)?;
            if let Some(usage) = self.usage.take() {
                out.push_back(ChatEvent::Usage(usage));
            }
            out.push_back(ChatEvent::Done(
                self.finish.take().unwrap_or(StopReason::EndTurn),
            ));
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| LlmError::InvalidResponse(format!("a chunk is not JSON: {e}")))?;
        if let Some(error) = chunk.error {
            let message = transport::json_message(&json!({ "error": error }))
                .unwrap_or_else(|| "unknown error".into());
            return Err(LlmError::Unavailable(format!(
                "the provider failed mid-reply: {}",
                transport::redact(&message, "")
            )));
        }
        for choice in chunk.choices.unwrap_or_default() {
            if let Some(delta) = choice.delta {
                for text in [delta.content, delta.refusal].into_iter().flatten() {
                    if !text.is_empty() {
                        out.push_back(ChatEvent::Text(text));
                    }
                }
                for piece in delta.tool_calls.unwrap_or_default() {
                    self.tool_piece(piece);
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(match reason.as_str() {
                    "stop" => StopReason::EndTurn,
                    "tool_calls" | "function_call" => StopReason::ToolUse,
                    "length" => StopReason::MaxTokens,
                    other => StopReason::Other(other.to_owned()),
                });
                self.flush_calls(out)?;
            }
        }
        if let Some(u) = chunk.usage {
            self.usage = Some(Usage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
            });
        }
        Ok(())
    }

    /// Adds a piece to the call with its `index` (servers that send whole calls without
    /// one get a new call per `id`).
    fn tool_piece(&mut self, piece: ToolDelta) {
        let id = piece.id.filter(|id| !id.is_empty());
        let existing = match piece.index {
            Some(i) => self.calls.iter().position(|c| c.index == Some(i)),
            None if id.is_some() => None,
            None => self.calls.len().checked_sub(1),
        };
        let at = existing.unwrap_or_else(|| {
            self.calls.push(PartialCall {
                index: piece.index,
                ..PartialCall::default()
            });
            self.calls.len() - 1
        });
        let call = &mut self.calls[at];
        if let Some(id) = id {
            call.id = id;
        }
        if let Some(f) = piece.function {
            if let Some(name) = f.name {
                call.name.push_str(&name);
            }
            if let Some(args) = f.arguments {
                call.arguments.push_str(&args);
            }
        }
    }

    fn flush_calls(&mut self, out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        for (n, call) in std::mem::take(&mut self.calls).into_iter().enumerate() {
            out.push_back(ChatEvent::ToolCall(finish_call(
                call.id,
                call.name,
                &call.arguments,
                n,
            )?));
        }
        Ok(())
    }
}

/// A tool call whose pieces are all in: its arguments parsed (empty means `{}`).
pub(crate) fn finish_call(
    id: String,
    name: String,
    arguments: &str,
    n: usize,
) -> Result<ToolCall, LlmError> {
    if name.is_empty() {
        return Err(LlmError::InvalidResponse("a tool call has no name".into()));
    }
    let arguments = if arguments.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(arguments).map_err(|e| {
            LlmError::InvalidResponse(format!(
                "the arguments of tool call {name} are not JSON: {e}"
            ))
        })?
    };
    let id = if id.is_empty() {
        format!("call_{n}")
    } else {
        id
    };
    Ok(ToolCall {
        id,
        name,
        arguments,
    })
}

impl Decoder for ChunkDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        self.sse.feed(bytes, &mut self.events)?;
        for event in std::mem::take(&mut self.events) {
            self.chunk(&event.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        // Some compatible servers close after the finishing chunk without `[DONE]`.
        if self.finish.is_some() {
            self.chunk("[DONE]", out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &str) -> Result<Vec<ChatEvent>, LlmError> {
        let mut decoder = ChunkDecoder::default();
        let mut out = VecDeque::new();
        for piece in body.as_bytes().chunks(7) {
            decoder.feed(piece, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out.into_iter().collect())
    }

    #[test]
    fn tool_call_arguments_split_across_chunks_are_reassembled() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\": \\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(
            decode(body).unwrap(),
            vec![
                ChatEvent::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    arguments: json!({"city": "Paris"}),
                }),
                ChatEvent::Usage(Usage {
                    input_tokens: 9,
                    output_tokens: 4
                }),
                ChatEvent::Done(StopReason::ToolUse),
            ]
        );
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let chat = OpenAiChat::new(
            "gpt-x",
            "gpt-x",
            OPENAI_BASE_URL,
            Some("sk-very-secret".into()),
            Flavour::OpenAi,
            reqwest::Client::new(),
        );
        assert!(!format!("{chat:?}").contains("very-secret"));
    }

    #[test]
    fn a_cut_stream_has_no_done_and_garbage_is_invalid() {
        let cut = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
        assert_eq!(decode(cut).unwrap(), vec![ChatEvent::Text("Hel".into())]);
        assert!(matches!(
            decode("data: {not json\n\n"),
            Err(LlmError::InvalidResponse(_))
        ));
        let bad_args = concat!(
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        );
        assert!(matches!(
            decode(bad_args),
            Err(LlmError::InvalidResponse(_))
        ));
    }
}
