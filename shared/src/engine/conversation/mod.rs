//! The conversation engine: one [`Conversation`] per call turns what happens on the line
//! ([`Input`]: the caller's words, keypad digits, silence, the supervisor, hang-ups) into
//! what the transport must do ([`Action`]: speak a sentence, transfer, hang up), while it
//! keeps the transcript, the flow position and the variables.
//!
//! It does no I/O of its own and never reads the clock for behaviour: the model, the
//! knowledge and the tools come in through the traits of [`CallSetup`], and the caller
//! passes the call time (`at_ms`) with each input. So the same engine runs a simulated
//! call, a web chat, a phone call and a unit test, and the offline engine replays exactly.
//!
//! Without a model (`llm_model: offline`, test mode) the offline engine answers: it follows
//! the flow, or a default script, answers from knowledge and recognises the intents in
//! [`nlu`]. With a model, `llm` turns stream through [`crate::engine::llm::complete_turn`]
//! and are spoken sentence by sentence as they complete.

mod events;
mod flow;
mod llm;
pub mod nlu;
mod offline;
mod reply;
#[cfg(test)]
pub(crate) mod tests;

use std::time::{Duration, Instant};

use crate::domain::flow::Variables;
use crate::engine::call::{
    CallMetrics, CallOutcome, CallSetup, EndReason, Role, TranscriptEntry, WHISPER_PREFIX,
};
use crate::engine::llm::ChatMessage;

pub use llm::SentenceSplitter;
use nlu::{Heard, Intent};

/// Something that happened on the line, delivered to [`Conversation::handle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The callee answered (outbound) or the call connected (inbound, web chat): the agent
    /// greets.
    Answered,
    /// The caller's final transcript of one utterance.
    Utterance(String),
    /// The caller spoke over the agent: the last agent line is cut to what was `heard`
    /// (marked `interrupted`); the caller's words follow as an [`Input::Utterance`].
    Interrupted {
        /// What the caller actually heard of the agent's last reply.
        heard: String,
    },
    /// A keypad digit (`0`–`9`, `*`, `#`).
    Dtmf(char),
    /// The caller said nothing for the agent's `silence_timeout_seconds`.
    Silence,
    /// The call reached the agent's `max_duration_seconds`.
    MaxDuration,
    /// An answering machine picked up; `greeting` is what it said (may be empty).
    Voicemail {
        /// The voicemail greeting as transcribed.
        greeting: String,
    },
    /// A supervisor's note to the agent: guides the model, never spoken.
    Whisper(String),
    /// A supervisor's words the agent says now, cutting off whatever it was saying
    /// (the live space's barge, SPEC §11).
    Barge(String),
    /// A supervisor takes the call over: the agent stops replying until [`Input::Resume`].
    Takeover,
    /// The supervisor hands the call back to the agent.
    Resume,
    /// Text a supervisor typed for the caller (spoken or shown by the transport).
    SupervisorText(String),
    /// The caller hung up.
    HangUp,
    /// The call was ended through the API or the live space.
    EndedByUser,
}

/// What the transport must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Speak (or show) one sentence of the agent's reply; a reply streams as several.
    Say(String),
    /// Speak (or show) a supervisor's text to the caller.
    SupervisorSay(String),
    /// The engine is running this tool now (a transport may play a filler while it waits).
    RunTool {
        /// The tool's name.
        name: String,
    },
    /// Press keypad digits (`0-9`, `*`, `#`; `w` is a half-second pause) toward the
    /// other side, e.g. to pick an option of an automated menu.
    SendDtmf(String),
    /// Hand the call to this E.164 number.
    Transfer {
        /// Where to.
        number: String,
    },
    /// Hang up (after the sentences already sent).
    End(EndReason),
}

/// Where the default script (no flow) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// The greeting was said; waiting for the caller's first reply.
    Opening,
    /// The agent asked whether there is anything else.
    AnythingElse,
}

/// One call's conversation. Build it with [`Conversation::new`], feed it [`Input`]s, send
/// the [`Action`]s it emits, and read [`Conversation::transcript`] for the live view.
pub struct Conversation {
    setup: CallSetup,
    vars: Variables,
    transcript: Vec<TranscriptEntry>,
    /// The agent's words of the current turn not yet in the transcript (one line per turn).
    pending: String,
    intents: Vec<String>,
    now_ms: u64,
    ended: Option<EndReason>,
    transferred_to: Option<String>,
    greeted: bool,
    paused: bool,
    /// Consecutive silence timeouts: the first re-prompts, the second ends the call.
    silences: u32,
    /// The last question the agent asked, repeated on silence.
    last_question: Option<String>,
    /// The flow node the call waits at (an `ask` or an `llm` node).
    at: Option<String>,
    /// Invalid answers given at the current `ask` node.
    attempt: u32,
    /// Intents of the last utterance, for condition nodes.
    last_heard: Heard,
    script: Script,
    /// The agent offered a person or a callback because it could not answer.
    offer_pending: bool,
    /// The conversation as the model sees it.
    history: Vec<ChatMessage>,
    /// The primary model failed on this call; later turns use the fallback.
    primary_down: bool,
    whispers: Vec<String>,
    /// Time spent waiting on providers (model, knowledge, tools) in the current turn.
    provider: Duration,
    overheads_us: Vec<u64>,
}

impl Conversation {
    /// A conversation for one call. The flow starts at its `start` node; `setup.variables`
    /// (context, contact, `today`) are the flow's variables from the first turn.
    pub fn new(setup: CallSetup) -> Conversation {
        let vars = setup.variables.clone();
        Conversation {
            setup,
            vars,
            transcript: Vec::new(),
            pending: String::new(),
            intents: Vec::new(),
            now_ms: 0,
            ended: None,
            transferred_to: None,
            greeted: false,
            paused: false,
            silences: 0,
            last_question: None,
            at: None,
            attempt: 0,
            last_heard: Heard::default(),
            script: Script::Opening,
            offer_pending: false,
            history: Vec::new(),
            primary_down: false,
            whispers: Vec::new(),
            provider: Duration::ZERO,
            overheads_us: Vec::new(),
        }
    }

    /// Handles one input at call time `at_ms` (milliseconds since the answer), sending the
    /// resulting actions to `out` as they are decided — an `llm` reply's sentences arrive
    /// while the model still writes. Inputs after the call ended are ignored.
    pub async fn handle(&mut self, at_ms: u64, input: Input, out: &mut (dyn FnMut(Action) + Send)) {
        if self.ended.is_some() {
            return;
        }
        let started = Instant::now();
        self.provider = Duration::ZERO;
        self.now_ms = self.now_ms.max(at_ms);
        let before = self.transcript.len();
        let limit_ms = u64::from(self.setup.agent.max_duration_seconds).saturating_mul(1000);
        let over_time = limit_ms > 0 && at_ms >= limit_ms;
        match input {
            _ if over_time && !matches!(input, Input::HangUp | Input::EndedByUser) => {
                self.time_limit(out)
            }
            Input::MaxDuration => self.time_limit(out),
            Input::Answered => self.greet(out).await,
            Input::Utterance(text) => self.utterance(text, out).await,
            Input::Interrupted { heard } => self.interrupted(heard),
            Input::Dtmf(digit) => self.dtmf(digit, out).await,
            Input::Silence => self.silence(out),
            Input::Voicemail { greeting } => self.voicemail(greeting, out),
            Input::Whisper(text) => {
                self.record(Role::System, format!("{WHISPER_PREFIX}{text}"));
                self.whispers.push(text);
            }
            Input::Barge(text) => self.barge(text, out),
            Input::SupervisorText(text) => {
                out(Action::SupervisorSay(text.clone()));
                self.supervisor(text);
            }
            Input::Takeover => {
                self.paused = true;
                self.record(Role::System, "A supervisor took over the call.".into());
            }
            Input::Resume => {
                self.paused = false;
                self.record(
                    Role::System,
                    "The supervisor handed the call back to the agent.".into(),
                );
            }
            Input::HangUp => self.finish(EndReason::CalleeHungUp, out),
            Input::EndedByUser => self.finish(EndReason::EndedByUser, out),
        }
        self.flush();
        let spoke = self.transcript[before..]
            .iter()
            .any(|e| e.role == Role::Agent);
        if spoke {
            let own = started.elapsed().saturating_sub(self.provider);
            self.overheads_us
                .push(u64::try_from(own.as_micros()).unwrap_or(u64::MAX));
        }
    }

    /// [`Conversation::handle`], collecting the actions (tests, simple transports).
    pub async fn handle_collect(&mut self, at_ms: u64, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        self.handle(at_ms, input, &mut |a| actions.push(a)).await;
        actions
    }

    /// The transcript so far: `seq` from 1 without gaps. A runner streams the entries past
    /// the ones it already sent after each [`Conversation::handle`].
    pub fn transcript(&self) -> &[TranscriptEntry] {
        &self.transcript
    }

    /// The call's agent, as stored (its voice, language and turn-taking settings).
    pub fn agent(&self) -> &crate::domain::agent::Agent {
        &self.setup.agent
    }

    /// Why the call ended, once it has.
    pub fn ended(&self) -> Option<EndReason> {
        self.ended
    }

    /// Outcome intents recognised so far, each once, in the order first heard.
    pub fn intents(&self) -> &[String] {
        &self.intents
    }

    /// The flow's variables (seeded from the setup, plus answers and tool results).
    pub fn variables(&self) -> &Variables {
        &self.vars
    }

    /// Where the call was transferred, if it was.
    pub fn transferred_to(&self) -> Option<&str> {
        self.transferred_to.as_deref()
    }

    /// Whether a supervisor holds the call (the agent stays quiet).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The engine's own time per agent turn (everything but provider time), in µs.
    pub fn overheads_us(&self) -> &[u64] {
        &self.overheads_us
    }

    /// The call's outcome. `latencies_ms` are the turn latencies the runner observed (time
    /// from the end of the caller's turn to the agent's first sentence). A conversation
    /// that has not ended reports `end_reason: error`: a runner ends it first (with
    /// [`Input::HangUp`], [`Input::EndedByUser`] or [`Input::MaxDuration`]).
    pub fn into_outcome(
        self,
        answered: bool,
        ring_ms: u64,
        duration_ms: u64,
        latencies_ms: &[u64],
    ) -> CallOutcome {
        let metrics = metrics(latencies_ms, &self.overheads_us);
        CallOutcome {
            answered,
            end_reason: self.ended.unwrap_or(EndReason::Error),
            duration_ms,
            ring_ms,
            transcript: self.transcript,
            variables: serde_json::Value::Object(self.vars.into_map()),
            intents: self.intents,
            transferred_to: self.transferred_to,
            metrics,
        }
    }

    // --- transcript and speech -------------------------------------------------------

    /// Speaks `text`: one [`Action::Say`] per sentence, and the words join the turn's line.
    fn speak(&mut self, text: &str, out: &mut (dyn FnMut(Action) + Send)) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        for sentence in SentenceSplitter::split_all(text) {
            out(Action::Say(sentence));
        }
        if !self.pending.is_empty() {
            self.pending.push(' ');
        }
        self.pending.push_str(text);
    }

    /// Speaks a question and remembers it for a silence re-prompt.
    fn ask(&mut self, text: &str, out: &mut (dyn FnMut(Action) + Send)) {
        self.last_question = Some(text.trim().to_owned());
        self.speak(text, out);
    }

    /// Ends the agent's line of this turn.
    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let text = std::mem::take(&mut self.pending);
            self.push(Role::Agent, text, false);
        }
    }

    /// Adds a non-agent line (after the agent's words so far, keeping the order heard).
    fn record(&mut self, role: Role, text: String) {
        self.flush();
        self.push(role, text, false);
    }

    fn push(&mut self, role: Role, text: String, interrupted: bool) {
        let seq = u32::try_from(self.transcript.len() + 1).unwrap_or(u32::MAX);
        self.transcript.push(TranscriptEntry {
            seq,
            role,
            text,
            at_ms: self.now_ms,
            interrupted,
        });
    }

    fn note_intent(&mut self, intent: Intent) {
        let name = intent.as_str();
        if !self.intents.iter().any(|i| i == name) {
            self.intents.push(name.to_owned());
        }
    }

    /// Ends the call (after the words already spoken).
    fn finish(&mut self, reason: EndReason, out: &mut (dyn FnMut(Action) + Send)) {
        self.flush();
        self.ended = Some(reason);
        out(Action::End(reason));
    }

    async fn greet(&mut self, out: &mut (dyn FnMut(Action) + Send)) {
        if self.greeted {
            return;
        }
        self.greeted = true;
        let greeting = self
            .setup
            .starting_message
            .clone()
            .or_else(|| self.setup.agent.greeting.clone())
            .map(|g| crate::domain::flow::render(&g, &self.vars));
        match self.setup.flow.clone() {
            Some(graph) => {
                if let Some(g) = &greeting {
                    self.speak(g, out);
                }
                let start = graph.start().id.clone();
                self.run_flow(&graph, start, out).await;
            }
            None => {
                let greeting =
                    greeting.unwrap_or_else(|| reply::default_greeting(&self.setup.agent.name));
                self.ask(&greeting, out);
                if self.setup.model.is_some() {
                    self.history
                        .push(ChatMessage::assistant(greeting, Vec::new()));
                }
            }
        }
    }

    /// The caller's words: recorded, then answered (unless a supervisor holds the call).
    async fn utterance(&mut self, text: String, out: &mut (dyn FnMut(Action) + Send)) {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return self.silence(out);
        }
        self.record(Role::User, text.clone());
        if self.paused {
            self.history.push(ChatMessage::user(text));
            return;
        }
        self.answer(text, out).await;
    }

    /// Answers what the caller said: the intents every agent honours first (do not call,
    /// a person, a callback, goodbye), then the flow, the model or the default script.
    async fn answer(&mut self, text: String, out: &mut (dyn FnMut(Action) + Send)) {
        self.silences = 0;
        self.greeted = true;
        let heard = nlu::understand(&text, &self.setup.agent.end_call_phrases);
        for intent in &heard.intents {
            self.note_intent(*intent);
        }
        self.last_heard = heard.clone();
        if self.offer_pending {
            self.offer_pending = false;
            if heard.yes_no == Some(true) {
                return self.transfer(None, out);
            }
        }
        if heard.has(Intent::DoNotCall) {
            self.speak(reply::DO_NOT_CALL, out);
            return self.finish(EndReason::AgentHungUp, out);
        }
        if heard.has(Intent::Transfer) {
            return self.transfer(None, out);
        }
        if heard.has(Intent::Callback) {
            let when = nlu::callback_when(&heard.text);
            if let Some(when) = &when {
                self.vars.set("callback_when", when.clone().into());
            }
            self.speak(&reply::callback(when.as_deref()), out);
            return self.finish(EndReason::AgentHungUp, out);
        }
        if let Some(graph) = self.setup.flow.clone() {
            return self.flow_answer(&graph, heard, out).await;
        }
        if self.setup.model.is_some() {
            return self.model_answer(heard, out).await;
        }
        self.script_answer(heard, out).await;
    }
}

/// Longest tool result kept on a transcript line; the flow's variables hold all of it.
const TOOL_LINE_CHARS: usize = 500;

/// The transcript line of a tool call: `name(args) → result`, the result cut to
/// [`TOOL_LINE_CHARS`] so a large API answer does not swamp the transcript.
fn tool_line(name: &str, args: &serde_json::Value, result: &str, failed: bool) -> String {
    let verb = if failed { "failed:" } else { "→" };
    let mut kept: String = result.chars().take(TOOL_LINE_CHARS).collect();
    if kept.len() < result.len() {
        kept.push('…');
    }
    format!("{name}({args}) {verb} {kept}")
}

/// Mean and percentiles of the turn timings.
pub fn metrics(latencies_ms: &[u64], overheads_us: &[u64]) -> CallMetrics {
    CallMetrics {
        turns: u32::try_from(overheads_us.len().max(latencies_ms.len())).unwrap_or(u32::MAX),
        avg_turn_latency_ms: mean(latencies_ms),
        p95_turn_latency_ms: percentile(latencies_ms, 0.95),
        avg_engine_overhead_us: mean(overheads_us),
        p99_engine_overhead_us: percentile(overheads_us, 0.99),
    }
}

fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64
}

/// The nearest-rank percentile (`q` in 0..=1); 0 for no values.
pub fn percentile(values: &[u64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}
