//! Language models (SPEC §16): one streaming interface, [`ChatModel`], that every provider
//! (OpenAI Chat Completions and the servers compatible with it, Anthropic Messages, Bedrock
//! Converse) implements, so the conversation engine never sees a provider's wire format.
//!
//! A reply streams as [`ChatEvent`]s: text pieces as they arrive, whole tool calls (a
//! provider that splits a call's arguments across chunks is reassembled by its client),
//! usage, and the reason the model stopped. Failures are [`LlmError`]s the engine can act
//! on: retry after a delay, fall back to another model, or apologise.

pub mod anthropic;
#[cfg(feature = "aws")]
pub mod bedrock;
pub mod openai;
pub mod resolve;
mod sse;
mod transport;
mod turns;

pub use anthropic::AnthropicChat;
#[cfg(feature = "aws")]
pub use bedrock::BedrockChat;
pub use openai::{Flavour, OpenAiChat};
pub use transport::{RetryPolicy, Timeouts, Transport};

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::engine::tools::ToolSpec;

/// Who wrote a message of the conversation sent to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    /// The caller (or, in a report request, the instructions and transcript).
    User,
    /// The model's earlier replies, with the tool calls it made.
    Assistant,
    /// A tool's result, answering the assistant's call `tool_call_id`.
    Tool,
}

/// One message of the conversation. The system prompt travels apart, in
/// [`ChatRequest::system`], because providers place it differently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: ChatRole,
    /// The text (for a tool message, the tool's result as JSON text).
    pub content: String,
    /// Calls the assistant made in this message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message from the caller.
    pub fn user(text: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: ChatRole::User,
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A reply of the model.
    pub fn assistant(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> ChatMessage {
        ChatMessage {
            role: ChatRole::Assistant,
            content: text.into(),
            tool_calls,
            tool_call_id: None,
        }
    }

    /// The result of tool call `call_id`.
    pub fn tool_result(call_id: impl Into<String>, result: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: ChatRole::Tool,
            content: result.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id of the call (echoed back with the result).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, parsed (an object; `{}` when the model sent none).
    pub arguments: Value,
}

/// One request to a model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// The model name without the provider prefix (`gpt-4o-mini`, `claude-…`).
    pub model: String,
    /// The system prompt.
    pub system: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Functions the model may call.
    pub tools: Vec<ToolSpec>,
    /// Upper bound on the reply's length.
    pub max_tokens: u32,
    /// Sampling temperature, when the caller wants one.
    pub temperature: Option<f32>,
    /// Ask for a JSON reply that follows this JSON Schema (structured output, used by
    /// reports). Providers without native support get it as an instruction plus a tool.
    pub response_schema: Option<Value>,
}

/// The model a client sends: the request's, unless it names none or names the client by
/// its configured (prefixed) name, when the client's own.
fn model_of<'a>(request: &'a ChatRequest, name: &str, model: &'a str) -> &'a str {
    if request.model.is_empty() || request.model == name {
        model
    } else {
        &request.model
    }
}

/// Token counts of one reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Reply tokens.
    pub output_tokens: u32,
}

/// Why the model stopped writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The reply is complete.
    EndTurn,
    /// The model wants the tool calls it sent run.
    ToolUse,
    /// `max_tokens` cut the reply.
    MaxTokens,
    /// Anything else the provider reported (content filter, …).
    Other(String),
}

/// One piece of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// More reply text, in order.
    Text(String),
    /// A complete tool call (its arguments reassembled and parsed).
    ToolCall(ToolCall),
    /// Token counts, when the provider reports them.
    Usage(Usage),
    /// The last event of a successful stream.
    Done(StopReason),
}

/// A streamed reply. A stream that ends without [`ChatEvent::Done`] was cut
/// off; the client reports that as [`LlmError::Unavailable`].
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, LlmError>> + Send>>;

/// Why a model could not answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// 429: retry after the delay the provider asked for, if it said.
    #[error("the model provider is rate limiting requests")]
    RateLimited {
        /// The provider's `retry-after`.
        retry_after: Option<Duration>,
    },
    /// Timeout, connection failure, 5xx, or a stream that stopped early.
    #[error("the model provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused our credentials (401/403) or none are configured.
    #[error("the model provider refused the credentials: {0}")]
    Auth(String),
    /// The provider refused the request itself (400/404/422: unknown model, bad schema).
    #[error("the model provider refused the request: {0}")]
    BadRequest(String),
    /// The provider answered something we could not read (malformed chunk).
    #[error("the model provider sent an unreadable reply: {0}")]
    InvalidResponse(String),
}

impl LlmError {
    /// Whether the same request may succeed if tried again (or on a fallback model).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. } | LlmError::Unavailable(_) | LlmError::InvalidResponse(_)
        )
    }
}

/// A language model that streams replies. Implementations hold their HTTP client and
/// credentials; one value serves many concurrent calls.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// The model's full name as configured (`openai:gpt-4o-mini`), for logs and metrics.
    fn name(&self) -> &str;

    /// Starts a reply. Errors before the first byte (429, 5xx, auth) come back here;
    /// errors after it come through the stream.
    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError>;
}

/// Bounds of one agent turn with tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnLimits {
    /// Model requests in one turn (each round may call tools); a model that keeps calling
    /// tools past this is stopped, so a tool loop never ends a call in silence.
    pub max_rounds: u32,
    /// Tool calls in one turn, over all rounds.
    pub max_tool_calls: u32,
}

impl Default for TurnLimits {
    fn default() -> Self {
        TurnLimits {
            max_rounds: 5,
            max_tool_calls: 8,
        }
    }
}

/// A tool call made during a turn and what it returned (JSON text the model saw).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolRun {
    /// The call.
    pub call: ToolCall,
    /// The result or error, as handed back to the model.
    pub result: String,
    /// Whether the tool failed.
    pub failed: bool,
}

/// What one agent turn produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnResult {
    /// The whole reply text of the last round.
    pub text: String,
    /// Tools run, in order.
    pub tools: Vec<ToolRun>,
    /// Usage summed over the rounds.
    pub usage: Usage,
    /// Model requests made.
    pub rounds: u32,
    /// The turn hit [`TurnLimits`] and was cut.
    pub cut: bool,
    /// Messages to append to the conversation (the assistant's calls, the tool results
    /// and the final reply), so the next turn sees them.
    pub messages: Vec<ChatMessage>,
}

/// Runs one agent turn: streams the model's reply, handing each text piece to `on_text` as
/// it arrives; runs the tools it calls through `tools`, feeds the results back and asks
/// again, within `limits`. A tool failure goes back to the model as `{"error": …}`; a model
/// failure is returned (the caller decides whether to retry, fall back or apologise).
pub async fn complete_turn(
    model: &dyn ChatModel,
    mut request: ChatRequest,
    tools: Option<&dyn crate::engine::tools::ToolRunner>,
    limits: TurnLimits,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<TurnResult, LlmError> {
    use futures::StreamExt;

    let mut result = TurnResult::default();
    let mut tool_budget = limits.max_tool_calls;
    loop {
        result.rounds += 1;
        let mut stream = model.stream(request.clone()).await?;
        let mut text = String::new();
        let mut calls = Vec::new();
        let mut done = false;
        while let Some(event) = stream.next().await {
            match event? {
                ChatEvent::Text(piece) => {
                    on_text(&piece);
                    text.push_str(&piece);
                }
                ChatEvent::ToolCall(call) => calls.push(call),
                ChatEvent::Usage(u) => {
                    result.usage.input_tokens += u.input_tokens;
                    result.usage.output_tokens += u.output_tokens;
                }
                ChatEvent::Done(_) => done = true,
            }
        }
        if !done {
            return Err(LlmError::Unavailable(
                "the reply stream stopped early".into(),
            ));
        }
        let assistant = ChatMessage::assistant(text.clone(), calls.clone());
        result.messages.push(assistant.clone());
        result.text = text;
        let Some(runner) = tools.filter(|_| !calls.is_empty()) else {
            return Ok(result);
        };
        if result.rounds >= limits.max_rounds {
            result.cut = true;
            return Ok(result);
        }
        request.messages.push(assistant);
        for call in calls {
            let (reply, failed) = if tool_budget == 0 {
                (
                    serde_json::json!({"error": "tool call limit reached for this turn"}),
                    true,
                )
            } else {
                tool_budget -= 1;
                match runner.call(&call.name, call.arguments.clone()).await {
                    Ok(out) => (out.output, false),
                    Err(e) => (serde_json::json!({"error": e.to_string()}), true),
                }
            };
            let reply = reply.to_string();
            let message = ChatMessage::tool_result(call.id.clone(), reply.clone());
            result.messages.push(message.clone());
            request.messages.push(message);
            result.tools.push(ToolRun {
                call,
                result: reply,
                failed,
            });
        }
        if tool_budget == 0 {
            // Out of tool calls: the next round offers none, so the model answers in words.
            request.tools.clear();
        }
    }
}
