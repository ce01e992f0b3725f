//! Amazon Bedrock Converse, streamed: `POST {endpoint}/model/{modelId}/converse-stream`
//! signed with SigV4, answered in the AWS event-stream binary framing
//! (`application/vnd.amazon.eventstream`), decoded by `aws-smithy-eventstream` (the SDK's
//! own decoder, CRCs checked).
//!
//! Each message carries `:message-type` (`event` or `exception`) and `:event-type`:
//! `messageStart`, `contentBlockStart` (`start.toolUse` with `toolUseId` and `name`),
//! `contentBlockDelta` (`delta.text`, or `delta.toolUse.input`: a piece of the tool's JSON
//! input), `contentBlockStop`, `messageStop` (`stopReason`), then `metadata` (`usage`).
//! An exception (`throttlingException`, `modelStreamErrorException`, …) ends the stream.
//! Structured output is a forced tool, as with Anthropic.

use std::collections::VecDeque;

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::{Buf, BytesMut};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::anthropic::RESPONSE_TOOL;
use super::openai::finish_call;
use super::sse::MAX_EVENT_BYTES;
use super::transport::{self, Decoder, Transport};
use super::turns::{Block, turns};
use super::{ChatEvent, ChatModel, ChatRequest, ChatStream, LlmError, StopReason, Usage};

/// Characters a model id keeps unencoded in the path (ids hold `:` and, as ARNs, `/`).
const PATH_SAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// A Converse client for one model.
#[derive(Debug, Clone)]
pub struct BedrockChat {
    name: String,
    url: String,
    region: String,
    credentials: SharedCredentialsProvider,
    http: reqwest::Client,
    transport: Transport,
}

impl BedrockChat {
    /// A client for `model_id` (a model or inference-profile id) in `region`; `endpoint`
    /// overrides `https://bedrock-runtime.{region}.amazonaws.com` (VPC endpoints, tests).
    pub fn new(
        name: impl Into<String>,
        model_id: &str,
        region: impl Into<String>,
        credentials: SharedCredentialsProvider,
        endpoint: Option<String>,
        http: reqwest::Client,
    ) -> BedrockChat {
        let region = region.into();
        let endpoint = endpoint
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_owned();
        let model = utf8_percent_encode(model_id, PATH_SAFE);
        BedrockChat {
            name: name.into(),
            url: format!("{endpoint}/model/{model}/converse-stream"),
            region,
            credentials,
            http,
            transport: Transport::default(),
        }
    }

    /// The same client with other timeouts and retries.
    pub fn with_transport(mut self, transport: Transport) -> BedrockChat {
        self.transport = transport;
        self
    }
}

/// The request body (the model id travels in the path).
fn body(request: &ChatRequest) -> Value {
    let messages: Vec<Value> = turns(&request.messages)
        .into_iter()
        .map(|(speaker, blocks)| {
            let content: Vec<Value> = blocks
                .into_iter()
                .map(|b| match b {
                    Block::Text(text) => json!({"text": text}),
                    Block::ToolUse(call) => json!({"toolUse": {
                        "toolUseId": call.id, "name": call.name, "input": call.arguments,
                    }}),
                    Block::ToolResult { id, content } => json!({"toolResult": {
                        "toolUseId": id, "content": [{"text": content}],
                    }}),
                })
                .collect();
            json!({"role": speaker.as_str(), "content": content})
        })
        .collect();
    let mut body = json!({"messages": messages});
    if !request.system.is_empty() {
        body["system"] = json!([{"text": request.system}]);
    }
    let mut inference = serde_json::Map::new();
    if request.max_tokens > 0 {
        inference.insert("maxTokens".into(), json!(request.max_tokens));
    }
    if let Some(t) = request.temperature {
        inference.insert("temperature".into(), json!(t));
    }
    if !inference.is_empty() {
        body["inferenceConfig"] = Value::Object(inference);
    }
    let spec = |name: &str, description: &str, schema: &Value| json!({"toolSpec": {"name": name, "description": description, "inputSchema": {"json": schema}}});
    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(|t| spec(&t.name, &t.description, &t.parameters))
        .collect();
    let mut tool_config = json!({});
    if let Some(schema) = &request.response_schema {
        tools.push(spec(
            RESPONSE_TOOL,
            "Give your answer, as the schema describes.",
            schema,
        ));
        tool_config["toolChoice"] = json!({"tool": {"name": RESPONSE_TOOL}});
    }
    if !tools.is_empty() {
        tool_config["tools"] = Value::Array(tools);
        body["toolConfig"] = tool_config;
    }
    body
}

#[async_trait]
impl ChatModel for BedrockChat {
    fn name(&self) -> &str {
        &self.name
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let encoded = serde_json::to_vec(&body(&request))
            .map_err(|e| LlmError::BadRequest(format!("cannot encode the request: {e}")))?;
        let signed = crate::engine::aws_sign::signed_bedrock_post(
            &self.credentials,
            &self.region,
            &self.url,
            "application/vnd.amazon.eventstream",
            encoded,
        )
        .await
        .map_err(LlmError::Auth)?;
        let http_request =
            reqwest::Request::try_from(signed).map_err(transport::transport_error)?;
        let (response, deadline) =
            transport::open(&self.http, http_request, &self.transport, "").await?;
        let decoder = FrameDecoder {
            structured: request.response_schema.is_some(),
            ..FrameDecoder::default()
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
#[serde(rename_all = "camelCase")]
struct BlockStart {
    content_block_index: u32,
    start: Option<StartBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    tool_use: Option<ToolStart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolStart {
    tool_use_id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta {
    content_block_index: u32,
    delta: DeltaBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaBody {
    text: Option<String>,
    tool_use: Option<ToolInput>,
}

#[derive(Deserialize)]
struct ToolInput {
    input: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    content_block_index: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: String,
}

#[derive(Deserialize)]
struct Metadata {
    usage: Option<MetadataUsage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataUsage {
    #[serde(default)]
    input_tokens: u32,
    #[serde(default)]
    output_tokens: u32,
}

#[derive(Debug)]
struct OpenTool {
    index: u32,
    id: String,
    name: String,
    input: String,
}

/// Turns event-stream messages into [`ChatEvent`]s.
#[derive(Debug, Default)]
pub(crate) struct FrameDecoder {
    buffer: BytesMut,
    frames: MessageFrameDecoder,
    tools: Vec<OpenTool>,
    calls: usize,
    stop: Option<StopReason>,
    structured: bool,
}

fn header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

fn parse<'a, T: Deserialize<'a>>(kind: &str, payload: &'a [u8]) -> Result<T, LlmError> {
    serde_json::from_slice(payload)
        .map_err(|e| LlmError::InvalidResponse(format!("a {kind} event is not readable: {e}")))
}

impl FrameDecoder {
    fn message(
        &mut self,
        message: &Message,
        out: &mut VecDeque<ChatEvent>,
    ) -> Result<(), LlmError> {
        let payload = message.payload().as_ref();
        let kind = header(message, ":event-type").unwrap_or_default();
        match header(message, ":message-type") {
            Some("event") => {}
            Some("exception") | Some("error") => {
                let name = header(message, ":exception-type")
                    .or_else(|| header(message, ":error-code"))
                    .unwrap_or("error");
                let text = serde_json::from_slice::<Value>(payload)
                    .ok()
                    .and_then(|v| transport::json_message(&v))
                    .unwrap_or_default();
                return Err(match name {
                    "throttlingException" => LlmError::RateLimited { retry_after: None },
                    "validationException" => LlmError::BadRequest(text),
                    "accessDeniedException" => LlmError::Auth(text),
                    _ => LlmError::Unavailable(format!("{name}: {text}")),
                });
            }
            _ => {
                return Err(LlmError::InvalidResponse(
                    "a message of unknown type".into(),
                ));
            }
        }
        match kind {
            "contentBlockStart" => {
                let start: BlockStart = parse(kind, payload)?;
                if let Some(tool) = start.start.and_then(|s| s.tool_use) {
                    self.tools.push(OpenTool {
                        index: start.content_block_index,
                        id: tool.tool_use_id,
                        name: tool.name,
                        input: String::new(),
                    });
                }
            }
            "contentBlockDelta" => {
                let delta: BlockDelta = parse(kind, payload)?;
                if let Some(text) = delta.delta.text.filter(|t| !t.is_empty()) {
                    out.push_back(ChatEvent::Text(text));
                }
                if let Some(piece) = delta.delta.tool_use {
                    let index = delta.content_block_index;
                    let tool = self
                        .tools
                        .iter_mut()
                        .find(|t| t.index == index)
                        .ok_or_else(|| {
                            LlmError::InvalidResponse(format!(
                                "input for content block {index}, which is no tool call"
                            ))
                        })?;
                    if tool.input.len() + piece.input.len() > MAX_EVENT_BYTES {
                        return Err(LlmError::InvalidResponse(
                            "a tool call's input is larger than 1 MiB".into(),
                        ));
                    }
                    tool.input.push_str(&piece.input);
                }
            }
            "contentBlockStop" => {
                let stop: BlockStop = parse(kind, payload)?;
                if let Some(at) = self
                    .tools
                    .iter()
                    .position(|t| t.index == stop.content_block_index)
                {
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
            "messageStop" => {
                let stop: MessageStop = parse(kind, payload)?;
                self.stop = Some(match stop.stop_reason.as_str() {
                    "tool_use" if self.structured && self.calls == 1 => StopReason::EndTurn,
                    "end_turn" | "stop_sequence" => StopReason::EndTurn,
                    "tool_use" => StopReason::ToolUse,
                    "max_tokens" => StopReason::MaxTokens,
                    other => StopReason::Other(other.to_owned()),
                });
            }
            "metadata" => {
                let meta: Metadata = parse(kind, payload)?;
                if let Some(u) = meta.usage {
                    out.push_back(ChatEvent::Usage(Usage {
                        input_tokens: u.input_tokens,
                        output_tokens: u.output_tokens,
                    }));
                }
                if let Some(stop) = self.stop.take() {
                    out.push_back(ChatEvent::Done(stop));
                }
            }
            _ => {} // messageStart and anything newer
        }
        Ok(())
    }
}

impl Decoder for FrameDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        self.buffer.extend_from_slice(bytes);
        loop {
            let frame = self
                .frames
                .decode_frame(&mut self.buffer)
                .map_err(|e| LlmError::InvalidResponse(format!("an event-stream frame: {e}")))?;
            match frame {
                DecodedFrame::Complete(message) => self.message(&message, out)?,
                DecodedFrame::Incomplete => break,
            }
        }
        // The decoder has taken the prelude of a frame it waits for; what is left is that
        // frame's rest, which may not exceed the bound.
        if self.buffer.remaining() > MAX_EVENT_BYTES {
            return Err(LlmError::InvalidResponse(
                "an event-stream frame is larger than 1 MiB".into(),
            ));
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut VecDeque<ChatEvent>) -> Result<(), LlmError> {
        // `metadata` may be missing; a stream that reached `messageStop` is complete.
        if let Some(stop) = self.stop.take() {
            out.push_back(ChatEvent::Done(stop));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue};

    fn frame(event_type: &str, payload: Value) -> Vec<u8> {
        let message = Message::new(payload.to_string().into_bytes())
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ))
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String(event_type.to_owned().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ));
        let mut out = Vec::new();
        write_message_to(&message, &mut out).expect("encode a frame");
        out
    }

    #[test]
    fn frames_split_anywhere_decode_to_text_tool_calls_and_usage() {
        let mut body = Vec::new();
        body.extend(frame("messageStart", json!({"role": "assistant"})));
        body.extend(frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "On it."}}),
        ));
        body.extend(frame("contentBlockStart", json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tu1", "name": "book"}}})));
        body.extend(frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"day\":"}}}),
        ));
        body.extend(frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"mon\"}"}}}),
        ));
        body.extend(frame("contentBlockStop", json!({"contentBlockIndex": 1})));
        body.extend(frame("messageStop", json!({"stopReason": "tool_use"})));
        body.extend(frame("metadata", json!({"usage": {"inputTokens": 3, "outputTokens": 5, "totalTokens": 8}, "metrics": {"latencyMs": 1}})));
        let mut decoder = FrameDecoder::default();
        let mut out = VecDeque::new();
        for piece in body.chunks(3) {
            decoder.feed(piece, &mut out).unwrap();
        }
        let events: Vec<ChatEvent> = out.into_iter().collect();
        assert_eq!(
            events,
            vec![
                ChatEvent::Text("On it.".into()),
                ChatEvent::ToolCall(crate::engine::llm::ToolCall {
                    id: "tu1".into(),
                    name: "book".into(),
                    arguments: json!({"day": "mon"}),
                }),
                ChatEvent::Usage(Usage {
                    input_tokens: 3,
                    output_tokens: 5
                }),
                ChatEvent::Done(StopReason::ToolUse),
            ]
        );
    }

    #[test]
    fn a_corrupted_frame_is_an_invalid_response() {
        let mut bytes = frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "x"}}),
        );
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff; // the message CRC
        let mut out = VecDeque::new();
        assert!(matches!(
            FrameDecoder::default().feed(&bytes, &mut out),
            Err(LlmError::InvalidResponse(_))
        ));
    }

    #[test]
    fn the_model_id_is_one_path_segment() {
        let chat = BedrockChat::new(
            "bedrock:x",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "us-east-1",
            SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            )),
            None,
            reqwest::Client::new(),
        );
        assert_eq!(
            chat.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
        );
    }
}
