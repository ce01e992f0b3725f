//! The language-model clients (SPEC §16) against a double that speaks each provider's
//! public streaming protocol: every client × every case (text in pieces, a tool call split
//! across chunks, a slow first token, a dropped stream, 429 with `retry-after`, 5xx, a
//! malformed chunk, auth and request errors), the bounded tool loop with a real tool
//! runner, model resolution from `llm_model` and workspace settings, and the report a
//! model writes.

mod clients;
mod resolve;
mod turns;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::agent::{Agent, AgentSpec};
use switchboard::domain::input::from_json;
use switchboard::domain::{Mode, Tenant};
use switchboard::engine::call::{CallMetrics, CallOutcome, EndReason, Role, TranscriptEntry};
use switchboard::engine::llm::resolve::{ProviderEnv, model_for_with};
use switchboard::engine::llm::{
    AnthropicChat, BedrockChat, ChatEvent, ChatMessage, ChatModel, ChatRequest, Flavour, LlmError,
    OpenAiChat, RetryPolicy, StopReason, Timeouts, ToolCall, Transport, TurnLimits, Usage,
    complete_turn,
};
use switchboard::engine::report::{Outcome, Sentiment, analyse_with_model};
use switchboard::engine::tools::{LocalToolRunner, ToolDefinition};
use switchboard::net::{GuardConfig, GuardedClient};
use switchboard_tests::llm_double::{LlmDouble, Reply, Script};
use switchboard_tests::{TestApp, call, config};

pub const KEY: &str = "sk-test-0123456789abcdef";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OpenAi,
    Anthropic,
    Bedrock,
}

pub const KINDS: [Kind; 3] = [Kind::OpenAi, Kind::Anthropic, Kind::Bedrock];

pub fn fast() -> Transport {
    Transport {
        timeouts: Timeouts {
            first_byte: Duration::from_secs(2),
            idle: Duration::from_secs(2),
        },
        retry: RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(500),
        },
    }
}

pub fn client(kind: Kind, double: &LlmDouble, transport: Transport) -> Arc<dyn ChatModel> {
    let http = reqwest::Client::new();
    match kind {
        Kind::OpenAi => Arc::new(
            OpenAiChat::new(
                "openai:gpt-test",
                "gpt-test",
                &format!("{}/v1", double.base),
                Some(KEY.into()),
                Flavour::OpenAi,
                http,
            )
            .with_transport(transport),
        ),
        Kind::Anthropic => Arc::new(
            AnthropicChat::new("claude-test", "claude-test", &double.base, KEY.into(), http)
                .with_transport(transport),
        ),
        Kind::Bedrock => Arc::new(
            BedrockChat::new(
                "bedrock:amazon.nova-lite-v1:0",
                "amazon.nova-lite-v1:0",
                "us-east-1",
                SharedCredentialsProvider::new(Credentials::new(
                    "AKIDTEST",
                    "SECRETTEST",
                    None,
                    None,
                    "test",
                )),
                Some(double.base.clone()),
                http,
            )
            .with_transport(transport),
        ),
    }
}

pub fn request(text: &str) -> ChatRequest {
    ChatRequest {
        system: "You are a test.".into(),
        messages: vec![ChatMessage::user(text)],
        max_tokens: 200,
        ..ChatRequest::default()
    }
}

/// The events of one reply, and the error that ended it, if any.
pub async fn collect(
    model: &dyn ChatModel,
    req: ChatRequest,
) -> (Vec<ChatEvent>, Option<LlmError>) {
    let mut stream = match model.stream(req).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

pub fn texts(events: &[ChatEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}
