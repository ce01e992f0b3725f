//! Test doubles of a call's providers (knowledge, model) and builders for agents, flows and
//! setups, shared by the engine's tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::domain::agent::{Agent, AgentSpec};
use crate::domain::flow::{EdgeDoc, FlowGraph, NodeDoc, Variables};
use crate::engine::call::{CallSetup, CallSink, KnowledgeSource, Passage, TranscriptEntry};
use crate::engine::conversation::{Action, Conversation, Input};
use crate::engine::llm::{ChatEvent, ChatModel, ChatRequest, ChatStream, LlmError, StopReason};

/// An agent parsed from `body` merged over a minimal valid one, as the API would store it.
pub(crate) fn agent(body: Value) -> Agent {
    let mut base = json!({"name": "Robin", "system_prompt": "You call customers of Acme Dental."});
    if let (Some(b), Some(extra)) = (base.as_object_mut(), body.as_object()) {
        b.extend(extra.clone());
    }
    match crate::domain::input::from_json(base).and_then(AgentSpec::parse) {
        Ok(spec) => spec.into_agent(
            "agent-1".into(),
            "2026-12-01T00:00:00Z".into(),
            "2026-12-01T00:00:00Z".into(),
        ),
        Err(e) => panic!("test agent invalid: {e:?}"),
    }
}

/// A flow from editor-shaped nodes and edges (tool ids are accepted as they are).
pub(crate) fn flow(nodes: Value, edges: Value) -> Arc<FlowGraph> {
    let nodes: Vec<NodeDoc> = serde_json::from_value(nodes).expect("test nodes");
    let edges: Vec<EdgeDoc> = serde_json::from_value(edges).expect("test edges");
    match FlowGraph::parse(&nodes, &edges, &|_: &str| true) {
        Ok(graph) => Arc::new(graph),
        Err(e) => panic!("test flow invalid: {:#?}", e.fields()),
    }
}

/// A setup with no providers: the offline engine, no flow.
pub(crate) fn setup(agent: Agent) -> CallSetup {
    CallSetup {
        call_id: "call-1".into(),
        agent,
        flow: None,
        variables: Variables::new().with("today", "2026-12-04"),
        starting_message: None,
        to: "+15005550001".into(),
        from: "+15005550100".into(),
        model: None,
        fallback_model: None,
        knowledge: None,
        tools: None,
    }
}

/// Feeds `inputs` in order (one second apart) and returns every action.
pub(crate) async fn run(conversation: &mut Conversation, inputs: Vec<Input>) -> Vec<Action> {
    let mut all = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        all.extend(conversation.handle_collect(i as u64 * 1000, input).await);
    }
    all
}

/// The spoken sentences of `actions`, joined by spaces.
pub(crate) fn said(actions: &[Action]) -> String {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Say(s) => Some(s.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts `seq` runs 1, 2, 3… without gaps.
pub(crate) fn assert_seq(entries: &[TranscriptEntry]) {
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq as usize, i + 1, "seq gap at {e:?}");
    }
}

/// Knowledge with fixed passages for any query containing a key word.
pub(crate) struct FakeKnowledge(pub Vec<(&'static str, Passage)>);

#[async_trait]
impl KnowledgeSource for FakeKnowledge {
    async fn search(&self, query: &str, limit: usize) -> Vec<Passage> {
        let q = query.to_lowercase();
        self.0
            .iter()
            .filter(|(key, _)| q.contains(key))
            .map(|(_, p)| p.clone())
            .take(limit)
            .collect()
    }
}

/// A passage of document `doc`.
pub(crate) fn passage(doc: &str, text: &str, score: f32) -> Passage {
    Passage {
        document_id: doc.into(),
        text: text.into(),
        score,
    }
}

/// One scripted model reply: the events it streams, or the error it fails with.
pub(crate) type Scripted = Result<Vec<ChatEvent>, LlmError>;

/// A model that plays back scripted replies in order and records every request.
pub(crate) struct ScriptedModel {
    pub name: String,
    replies: Mutex<VecDeque<Scripted>>,
    pub requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedModel {
    pub(crate) fn new(name: &str, replies: Vec<Scripted>) -> Arc<ScriptedModel> {
        Arc::new(ScriptedModel {
            name: name.into(),
            replies: Mutex::new(replies.into()),
            requests: Mutex::new(Vec::new()),
        })
    }

    /// Requests received so far.
    pub(crate) fn calls(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// A reply streamed in `pieces`, ending normally.
pub(crate) fn text_reply(pieces: &[&str]) -> Scripted {
    let mut events: Vec<ChatEvent> = pieces
        .iter()
        .map(|p| ChatEvent::Text((*p).into()))
        .collect();
    events.push(ChatEvent::Done(StopReason::EndTurn));
    Ok(events)
}

#[async_trait]
impl ChatModel for ScriptedModel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        if let Ok(mut r) = self.requests.lock() {
            r.push(request);
        }
        let next = self
            .replies
            .lock()
            .ok()
            .and_then(|mut r| r.pop_front())
            .unwrap_or_else(|| Err(LlmError::Unavailable("script exhausted".into())));
        let events = next?;
        Ok(Box::pin(futures::stream::iter(events.into_iter().map(Ok))))
    }
}

/// A sink that keeps what it was sent.
#[derive(Default)]
pub(crate) struct RecordingSink {
    pub answered: Option<u64>,
    pub entries: Vec<TranscriptEntry>,
}

#[async_trait]
impl CallSink for RecordingSink {
    async fn answered(&mut self, ring_ms: u64) {
        self.answered = Some(ring_ms);
    }

    async fn entry(&mut self, entry: &TranscriptEntry) {
        self.entries.push(entry.clone());
    }
}

/// A booking flow: greet → ask the name → ask a date → `book_slot` tool → branch on its
/// `ok` → confirm or apologise → end.
pub(crate) fn booking_flow() -> Arc<FlowGraph> {
    flow(
        json!([
            {"id": "start", "type": "start", "data": {}},
            {"id": "greet", "type": "say", "data": {"text": "Hi {{contact.first_name}}, this is Robin from Acme Dental."}},
            {"id": "ask_name", "type": "ask", "data": {"question": "Who am I speaking with?", "variable": "caller_name"}},
            {"id": "ask_date", "type": "ask", "data": {"question": "What day would suit you?", "variable": "appointment_date", "validation": "date", "retries": 1}},
            {"id": "book", "type": "tool", "data": {"tool_id": "book_slot", "args": {"name": "{{caller_name}}", "date": "{{appointment_date}}"}, "save_as": "booking"}},
            {"id": "check", "type": "condition", "data": {}},
            {"id": "booked", "type": "say", "data": {"text": "You're booked for {{appointment_date}}, confirmation {{booking.confirmation}}."}},
            {"id": "bye", "type": "end", "data": {"text": "Goodbye, {{caller_name}}."}},
            {"id": "sorry", "type": "end", "data": {"text": "Sorry, I couldn't book that day."}}
        ]),
        json!([
            {"id": "e1", "source": "start", "target": "greet"},
            {"id": "e2", "source": "greet", "target": "ask_name"},
            {"id": "e3", "source": "ask_name", "target": "ask_date"},
            {"id": "e4", "source": "ask_date", "target": "book"},
            {"id": "e5", "source": "book", "target": "check"},
            {"id": "e6", "source": "check", "target": "booked", "condition": {"variable": "booking.ok", "op": "eq", "value": true}},
            {"id": "e7", "source": "check", "target": "sorry", "condition": "default"},
            {"id": "e8", "source": "booked", "target": "bye"}
        ]),
    )
}

/// The saved tools of the booking flow: `book_slot`, a code tool that books any day but
/// Christmas.
pub(crate) fn booking_tools() -> Arc<dyn crate::engine::tools::ToolRunner> {
    use crate::engine::tools::{LocalToolRunner, ToolDefinition};
    use crate::net::{GuardConfig, GuardedClient};
    let tool = ToolDefinition::parse(&json!({
        "name": "book_slot",
        "description": "Books an appointment",
        "type": "code",
        "config": {"source": "function main(input) { return { ok: !input.date.endsWith('-12-25'), confirmation: 'BK-' + input.date } }"},
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}, "date": {"type": "string"}}, "required": ["name", "date"]}
    }))
    .expect("test tool");
    let client = GuardedClient::new(&GuardConfig::default()).expect("client");
    Arc::new(LocalToolRunner::new([tool], client))
}

/// A setup that follows the booking flow with its tool, for contact Jordan.
pub(crate) fn booking_setup() -> CallSetup {
    let mut s = setup(agent(json!({})));
    s.flow = Some(booking_flow());
    s.tools = Some(booking_tools());
    s.variables = s.variables.with("contact.first_name", "Jordan");
    s
}
