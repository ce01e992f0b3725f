//! Turns with a language model: the request (system prompt, voice rules, knowledge,
//! supervisor whispers, the conversation so far), the streamed reply spoken sentence by
//! sentence as each completes, and what happens when the model fails — retry once if the
//! failure is transient, then the fallback model, else a short apology. Never silence.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::nlu::{Heard, Intent};
use super::{Action, Conversation, reply, tool_line};
use crate::domain::flow::render;
use crate::engine::call::{EndReason, Role};
use crate::engine::knowledge::rewrite::{self, Speaker};
use crate::engine::knowledge::speakable;
use crate::engine::llm::{
    ChatMessage, ChatModel, ChatRequest, LlmError, TurnLimits, TurnResult, complete_turn,
};
use crate::engine::tools::{ToolError, ToolOutput, ToolRunner, ToolSpec};

/// The function an `llm` node's model calls when the node's exit condition holds.
const STEP_DONE: &str = "flow_step_done";
/// The built-in function that presses keypad digits (an automated menu on the line).
const SEND_DTMF: &str = "send_dtmf";
/// Knowledge passages put in front of the model per turn.
const PASSAGES: usize = 3;
/// Upper bound on one spoken reply (voice mode: a few sentences).
const MAX_REPLY_TOKENS: u32 = 300;

/// Splits streamed text into sentences as they complete, so the first sentence can be
/// spoken while the model still writes the rest. A sentence ends at `.`, `!` or `?`
/// followed by a space (so "3.5" and "e.g." mid-word do not split), or at a line break;
/// common abbreviations ("Dr.", "a.m.") do not end one.
#[derive(Debug, Default)]
pub struct SentenceSplitter {
    buf: String,
}

const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "prof", "inc", "ltd", "jr", "sr", "vs", "etc", "e.g", "i.e",
    "a.m", "p.m", "no", "approx",
];

impl SentenceSplitter {
    /// An empty splitter.
    pub fn new() -> SentenceSplitter {
        SentenceSplitter::default()
    }

    /// Adds a streamed piece; returns the sentences it completed, in order.
    pub fn push(&mut self, piece: &str) -> Vec<String> {
        self.buf.push_str(piece);
        let mut done = Vec::new();
        let mut start = 0;
        let mut chars = self.buf.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let Some(&(j, next)) = chars.peek() else {
                break;
            };
            let boundary = c == '\n' || (matches!(c, '.' | '!' | '?') && next.is_whitespace());
            if !boundary || (c == '.' && ends_with_abbreviation(&self.buf[start..i])) {
                continue;
            }
            let sentence = self.buf[start..j].trim();
            if !sentence.is_empty() {
                done.push(sentence.to_owned());
            }
            start = j;
        }
        self.buf.drain(..start);
        done
    }

    /// The rest of the text once the stream ended.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_owned())
    }

    /// Every sentence of a whole text.
    pub fn split_all(text: &str) -> Vec<String> {
        let mut splitter = SentenceSplitter::new();
        let mut all = splitter.push(text);
        all.extend(splitter.finish());
        all
    }
}

fn ends_with_abbreviation(text: &str) -> bool {
    let word = text
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default()
        .trim_start_matches(['(', '"', '\''])
        .to_lowercase();
    ABBREVIATIONS.contains(&word.as_str())
        || (word.chars().count() == 1 && word.chars().all(char::is_alphabetic))
}

/// The call's tools plus the built-ins: [`SEND_DTMF`], which queues digits for the
/// conversation to press (in order with the reply's sentences), and, in an `llm` node,
/// [`STEP_DONE`], which marks the node's exit condition as met. Neither runs anything.
struct TurnTools {
    inner: Option<Arc<dyn ToolRunner>>,
    offer_exit: bool,
    exit: AtomicBool,
    pressed: Mutex<Vec<String>>,
}

impl TurnTools {
    fn built_in_done(output: Value) -> ToolOutput {
        ToolOutput {
            output,
            status: None,
            duration_ms: 0,
            logs: Vec::new(),
        }
    }

    /// The digits the model asked to press since the last call.
    fn take_pressed(&self) -> Vec<String> {
        self.pressed
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

#[async_trait]
impl ToolRunner for TurnTools {
    async fn call(&self, name: &str, args: Value) -> Result<ToolOutput, ToolError> {
        if self.offer_exit && name == STEP_DONE {
            self.exit.store(true, Ordering::Relaxed);
            return Ok(Self::built_in_done(json!({"ok": true})));
        }
        if name == SEND_DTMF {
            let digits = args
                .get("digits")
                .and_then(Value::as_str)
                .unwrap_or_default();
            crate::domain::dtmf::check_digits(digits).map_err(|reason| {
                ToolError::InvalidArguments([("digits".to_owned(), reason)].into())
            })?;
            if let Ok(mut pressed) = self.pressed.lock() {
                pressed.push(digits.to_owned());
            }
            return Ok(Self::built_in_done(json!({"pressed": digits})));
        }
        match &self.inner {
            Some(runner) => runner.call(name, args).await,
            None => Err(ToolError::UnknownTool(name.to_owned())),
        }
    }

    fn tools(&self) -> Vec<ToolSpec> {
        let mut specs = self.inner.as_ref().map(|r| r.tools()).unwrap_or_default();
        specs.push(ToolSpec {
            name: SEND_DTMF.to_owned(),
            description: "Press keypad digits on the call, e.g. to pick an option when an \
                automated phone menu says \"press 2 for billing\", or to enter an extension."
                .to_owned(),
            parameters: json!({
                "type": "object",
                "properties": {"digits": {
                    "type": "string",
                    "pattern": "^[0-9*#w]{1,32}$",
                    "description": "0-9, * and #; w waits half a second"
                }},
                "required": ["digits"]
            }),
        });
        if self.offer_exit {
            specs.push(ToolSpec {
                name: STEP_DONE.to_owned(),
                description: "Call when the goal of this part of the conversation is reached."
                    .to_owned(),
                parameters: json!({"type": "object", "properties": {}}),
            });
        }
        specs
    }
}

impl Conversation {
    /// A turn with no flow: the model answers; a caller's goodbye ends the call after it.
    pub(super) async fn model_answer(
        &mut self,
        heard: Heard,
        out: &mut (dyn FnMut(Action) + Send),
    ) {
        self.model_turn(None, None, &heard, out).await;
        if self.ended.is_none() && heard.has(Intent::Goodbye) {
            self.finish(EndReason::AgentHungUp, out);
        }
    }

    /// One model turn answering `heard`. Returns whether the `llm` node's exit condition
    /// was met (the model called [`STEP_DONE`]).
    pub(super) async fn model_turn(
        &mut self,
        node_prompt: Option<&str>,
        exit_condition: Option<&str>,
        heard: &Heard,
        out: &mut (dyn FnMut(Action) + Send),
    ) -> bool {
        self.history.push(ChatMessage::user(heard.text.clone()));
        let knowledge = self.knowledge_context(&heard.text).await;
        let tools = TurnTools {
            inner: self.setup.tools.clone(),
            offer_exit: exit_condition.is_some(),
            exit: AtomicBool::new(false),
            pressed: Mutex::new(Vec::new()),
        };
        let mut request = ChatRequest {
            system: self.system_prompt(node_prompt, exit_condition, knowledge.as_deref()),
            messages: self.history.clone(),
            tools: tools.tools(),
            max_tokens: MAX_REPLY_TOKENS,
            ..ChatRequest::default()
        };
        let runner: Option<&dyn ToolRunner> =
            (!request.tools.is_empty()).then_some(&tools as &dyn ToolRunner);

        // The primary (unless it already failed on this call), once more if its failure
        // was transient, then the fallback.
        let primary = self.setup.model.clone().filter(|_| !self.primary_down);
        let fallback = self.setup.fallback_model.clone();
        let mut on_fallback = primary.is_none();
        let mut current = primary.or_else(|| fallback.clone());
        let mut retried = false;
        let mut spoken = String::new();
        let mut done: Option<TurnResult> = None;
        while let Some(model) = current.take() {
            request.model = model_name(model.name());
            let started = Instant::now();
            let result = {
                let mut out = |action: Action| {
                    // Digits the model pressed go out before the words that followed them.
                    for digits in tools.take_pressed() {
                        self.press(&digits, &mut *out);
                    }
                    out(action);
                };
                stream_turn(
                    model.as_ref(),
                    request.clone(),
                    runner,
                    &mut spoken,
                    &mut out,
                )
                .await
            };
            for digits in tools.take_pressed() {
                self.press(&digits, out);
            }
            self.provider += started.elapsed();
            let e = match result {
                Ok(turn) => {
                    done = Some(turn);
                    break;
                }
                Err(e) => e,
            };
            tracing::warn!(call_id = %self.setup.call_id, model = model.name(), error = %e, "model turn failed");
            if !spoken.is_empty() {
                // The caller heard part of a reply: repeating it on another model would
                // sound broken, so the turn ends with what was said.
                break;
            }
            if on_fallback {
                break;
            }
            // A 429 reaching here already waited what the transport allows (its retry-after
            // was longer): asking again at once would only be refused again.
            let rate_limited = matches!(e, LlmError::RateLimited { .. });
            if e.is_transient() && !rate_limited && !retried {
                retried = true;
                current = Some(model);
            } else {
                // Later turns of this call go straight to the fallback.
                self.primary_down = true;
                on_fallback = true;
                current = fallback.clone();
            }
        }
        match done {
            Some(turn) => {
                for run in turn.tools.iter().filter(|r| r.call.name != STEP_DONE) {
                    let line =
                        tool_line(&run.call.name, &run.call.arguments, &run.result, run.failed);
                    self.record(Role::Tool, line);
                }
                self.history.extend(turn.messages);
            }
            None if spoken.is_empty() => {
                self.history.pop();
                self.speak(reply::MODEL_DOWN, out);
                return false;
            }
            None => self
                .history
                .push(ChatMessage::assistant(spoken.clone(), Vec::new())),
        }
        self.remember_spoken(&spoken);
        let lowered = spoken.to_lowercase();
        let end_phrase = self
            .setup
            .agent
            .end_call_phrases
            .iter()
            .any(|p| !p.trim().is_empty() && lowered.contains(&p.trim().to_lowercase()));
        if end_phrase {
            self.finish(EndReason::AgentHungUp, out);
        }
        tools.exit.load(Ordering::Relaxed)
    }

    /// Adds a streamed reply to the turn's transcript line (it was already sent as
    /// sentences).
    fn remember_spoken(&mut self, spoken: &str) {
        let spoken = spoken.trim();
        if spoken.is_empty() {
            return;
        }
        if !self.pending.is_empty() {
            self.pending.push(' ');
        }
        self.pending.push_str(spoken);
        if spoken.ends_with('?') {
            self.last_question = Some(spoken.to_owned());
        }
    }

    async fn knowledge_context(&mut self, said: &str) -> Option<String> {
        let source = self.setup.knowledge.clone()?;
        let started = Instant::now();
        let query = self.search_query(said).await;
        let passages = source.search(&query, PASSAGES).await;
        self.provider += started.elapsed();
        let lines: Vec<String> = passages
            .iter()
            .filter(|p| p.score > 0.0)
            .map(|p| format!("- {}", p.text.trim()))
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// What to search for `said`: a follow-up ("what about Saturdays then?") rewritten by
    /// the call's model into a standalone question, else the words as said.
    async fn search_query(&self, said: &str) -> String {
        let model = if self.primary_down {
            self.setup.fallback_model.clone()
        } else {
            self.setup.model.clone()
        };
        let Some(model) = model.filter(|_| rewrite::needs_context(said)) else {
            return said.to_owned();
        };
        let earlier = self.earlier_turns(said);
        if earlier.is_empty() {
            return said.to_owned();
        }
        rewrite::rewrite_query(model.as_ref(), &earlier, said, rewrite::REWRITE_BUDGET)
            .await
            .unwrap_or_else(|| said.to_owned())
    }

    /// The conversation before `said` (the caller's latest words), oldest first: what the
    /// caller and the agent (or a supervisor) said, without notes and tool lines.
    pub(super) fn earlier_turns(&self, said: &str) -> Vec<(Speaker, String)> {
        let mut earlier: Vec<(Speaker, String)> = self
            .transcript
            .iter()
            .filter_map(|e| match e.role {
                Role::User => Some((Speaker::Caller, e.text.clone())),
                Role::Agent | Role::Supervisor => Some((Speaker::Agent, e.text.clone())),
                Role::System | Role::Tool => None,
            })
            .collect();
        if earlier
            .last()
            .is_some_and(|(who, text)| *who == Speaker::Caller && text == said)
        {
            earlier.pop();
        }
        earlier
    }

    fn system_prompt(
        &self,
        node_prompt: Option<&str>,
        exit_condition: Option<&str>,
        knowledge: Option<&str>,
    ) -> String {
        let agent = &self.setup.agent;
        let mut system = render(&agent.system_prompt, &self.vars);
        if let Some(prompt) = node_prompt {
            system.push_str("\n\n");
            system.push_str(&render(prompt, &self.vars));
        }
        system.push_str(&format!(
            "\n\nYou are {} on a live phone call; reply in the language {}. Keep each reply to \
             one to three short spoken sentences, with no lists, links or markup.",
            agent.name, agent.language
        ));
        if let Some(exit) = exit_condition {
            system.push_str(&format!(
                "\nWhen this holds, call the function {STEP_DONE}: {}",
                render(exit, &self.vars)
            ));
        }
        if let Some(knowledge) = knowledge {
            system.push_str("\n\nWhat the business's documents say about the caller's words:\n");
            system.push_str(knowledge);
        }
        if !self.whispers.is_empty() {
            system.push_str("\n\nNotes from your supervisor (follow them, never read them out):\n");
            for w in &self.whispers {
                system.push_str(&format!("- {w}\n"));
            }
        }
        system
    }
}

/// Streams one model reply, speaking each sentence as it completes (in voice form). A
/// sentence cut off by a failure is not spoken, so a retry starts clean.
async fn stream_turn(
    model: &dyn ChatModel,
    request: ChatRequest,
    tools: Option<&dyn ToolRunner>,
    spoken: &mut String,
    out: &mut (dyn FnMut(Action) + Send),
) -> Result<TurnResult, LlmError> {
    let mut splitter = SentenceSplitter::new();
    let result = {
        let mut on_text = |piece: &str| {
            for sentence in splitter.push(piece) {
                say(sentence, spoken, out);
            }
        };
        complete_turn(model, request, tools, TurnLimits::default(), &mut on_text).await
    };
    if result.is_ok()
        && let Some(rest) = splitter.finish()
    {
        say(rest, spoken, out);
    }
    result
}

fn say(sentence: String, spoken: &mut String, out: &mut (dyn FnMut(Action) + Send)) {
    let sentence = speakable(&sentence);
    if sentence.is_empty() {
        return;
    }
    if !spoken.is_empty() {
        spoken.push(' ');
    }
    spoken.push_str(&sentence);
    out(Action::Say(sentence));
}

/// The model name a request carries: the configured name without its provider prefix.
fn model_name(full: &str) -> String {
    full.split_once(':')
        .map_or(full, |(_, name)| name)
        .to_owned()
}
