//! The simulated carrier (SPEC §15): a callee played by the platform, driving the other
//! side of a call through the same [`Conversation`] a real call uses.
//!
//! Time is simulated: each turn takes about as long as speaking it would (≈ 2.5 words/s
//! plus a short pause), so transcripts and durations read as a real call's; [`Pace`] turns
//! that into real sleeps (`SWITCHBOARD_SIM_TIME_SCALE`; 0 runs as fast as the machine
//! allows). Everything else is deterministic: the same setup and persona give the same
//! transcript.

mod callee;
#[cfg(test)]
mod tests;

use std::time::Duration;

use callee::{Callee, Reply, VOICEMAIL_GREETING};

use super::call::{CallMetrics, CallOutcome, CallSetup, CallSink, EndReason, Persona, Role};
use super::conversation::{Action, Conversation, Input};

/// How fast simulated time runs: `scale` real seconds per simulated second
/// (`SWITCHBOARD_SIM_TIME_SCALE`; 0 runs as fast as the machine allows).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Real seconds per simulated second.
    pub scale: f64,
}

impl Pace {
    /// Sleeps for `ms` simulated milliseconds.
    pub async fn wait(&self, ms: u64) {
        if self.scale > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ms as f64 / 1000.0 * self.scale)).await;
        }
    }
}

/// Ringing before a simulated callee picks up (about two rings).
const RING_MS: u64 = 6_000;
/// How long an unanswered call rings before the carrier gives up (SPEC §15: 30 s).
const NO_ANSWER_MS: u64 = 30_000;
/// How long a busy line takes to report busy.
const BUSY_MS: u64 = 2_000;
/// The pause between one speaker finishing and the other starting.
const PAUSE_MS: u64 = 600;
/// Simulated agent latency: the time to the first synthesized sentence, a fixed base plus
/// a little per word of that sentence (speech synthesis).
const LATENCY_BASE_MS: u64 = 300;
const LATENCY_PER_WORD_MS: u64 = 10;
/// The silence timeout of an agent that has none.
const DEFAULT_SILENCE_MS: u64 = 10_000;
/// Inputs one sim call may take; far above any persona's needs, so only a broken flow hits
/// it (and then the call ends as at its time limit).
const MAX_INPUTS: usize = 400;

/// Simulated milliseconds it takes to say `text` (2.5 words per second).
pub fn speaking_ms(text: &str) -> u64 {
    text.split_whitespace().count() as u64 * 400
}

/// Runs a whole simulated call with `persona` on the other end.
pub async fn run_sim_call(
    setup: CallSetup,
    persona: Persona,
    pace: Pace,
    sink: &mut dyn CallSink,
) -> CallOutcome {
    let never = |reason: EndReason, ring_ms: u64, setup: CallSetup| CallOutcome {
        answered: false,
        end_reason: reason,
        duration_ms: 0,
        ring_ms,
        transcript: Vec::new(),
        variables: serde_json::Value::Object(setup.variables.into_map()),
        intents: Vec::new(),
        transferred_to: None,
        metrics: CallMetrics::default(),
    };
    match persona {
        Persona::CarrierError => return never(EndReason::CarrierError, 0, setup),
        Persona::Busy => {
            pace.wait(BUSY_MS).await;
            return never(EndReason::Busy, BUSY_MS, setup);
        }
        Persona::NoAnswer => {
            pace.wait(NO_ANSWER_MS).await;
            return never(EndReason::NoAnswer, NO_ANSWER_MS, setup);
        }
        _ => {}
    }
    pace.wait(RING_MS).await;
    sink.answered(RING_MS).await;

    let silence_ms = match u64::from(setup.agent.silence_timeout_seconds) * 1000 {
        0 => DEFAULT_SILENCE_MS,
        ms => ms,
    };
    let limit_ms = u64::from(setup.agent.max_duration_seconds) * 1000;
    let mut line = Line {
        conversation: Conversation::new(setup),
        sent: 0,
        now_ms: 0,
        latencies: Vec::new(),
    };
    let mut callee = Callee::new(persona);
    let first = match persona {
        Persona::Voicemail => {
            // The agent hears the whole voicemail greeting before it acts.
            let greeting = speaking_ms(VOICEMAIL_GREETING);
            pace.wait(greeting).await;
            line.now_ms = greeting;
            Input::Voicemail {
                greeting: VOICEMAIL_GREETING.to_owned(),
            }
        }
        _ => Input::Answered,
    };
    let mut agent_said = line.turn(first, pace, sink).await;
    for _ in 0..MAX_INPUTS {
        if line.conversation.ended().is_some() {
            break;
        }
        let (wait, input) = match callee.respond(&agent_said) {
            Reply::Say(text) => (PAUSE_MS + speaking_ms(&text), Input::Utterance(text)),
            Reply::Silent => (silence_ms, Input::Silence),
            Reply::HangUp => (PAUSE_MS, Input::HangUp),
        };
        let input = if limit_ms > 0 && line.now_ms + wait >= limit_ms {
            // The time limit comes before the callee's turn does.
            let wait = limit_ms.saturating_sub(line.now_ms);
            pace.wait(wait).await;
            line.now_ms = line.now_ms.max(limit_ms);
            Input::MaxDuration
        } else {
            pace.wait(wait).await;
            line.now_ms += wait;
            input
        };
        agent_said = line.turn(input, pace, sink).await;
    }
    if line.conversation.ended().is_none() {
        line.turn(Input::MaxDuration, pace, sink).await;
    }
    let Line {
        conversation,
        now_ms,
        latencies,
        ..
    } = line;
    conversation.into_outcome(true, RING_MS, now_ms, &latencies)
}

/// The agent's side of a sim call: the conversation, the simulated clock, and what the sink
/// has been sent.
struct Line {
    conversation: Conversation,
    /// Transcript entries already sent to the sink.
    sent: usize,
    now_ms: u64,
    latencies: Vec<u64>,
}

impl Line {
    /// Delivers `input` now, streams the new transcript entries to the sink, and advances
    /// the clock past the agent's reply. Returns what the agent said.
    async fn turn(&mut self, input: Input, pace: Pace, sink: &mut dyn CallSink) -> String {
        let mut said: Vec<String> = Vec::new();
        self.conversation
            .handle(self.now_ms, input, &mut |action| {
                if let Action::Say(sentence) = action {
                    said.push(sentence);
                }
            })
            .await;
        let entries = self.conversation.transcript();
        for entry in entries.get(self.sent..).unwrap_or_default() {
            sink.entry(entry).await;
        }
        let spoke_now = entries
            .get(self.sent..)
            .unwrap_or_default()
            .iter()
            .any(|e| e.role == Role::Agent);
        self.sent = entries.len();
        if !said.is_empty() && spoke_now {
            let first_words = said.first().map_or(0, |s| s.split_whitespace().count()) as u64;
            self.latencies
                .push(LATENCY_BASE_MS + LATENCY_PER_WORD_MS * first_words);
        }
        let text = said.join(" ");
        let talking = speaking_ms(&text);
        pace.wait(talking).await;
        self.now_ms += talking;
        text
    }
}
