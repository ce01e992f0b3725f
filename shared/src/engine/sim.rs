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

use tokio::sync::{mpsc, oneshot};

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

/// A supervisor's input to a running sim call (SPEC §11), and where to say whether the
/// call took it.
#[derive(Debug)]
pub struct Steer {
    /// What the supervisor did: [`Input::Whisper`], [`Input::Barge`], [`Input::Takeover`],
    /// [`Input::Resume`] or [`Input::SupervisorText`].
    pub input: Input,
    /// Told once the input is in the call, or why the call refused it.
    pub done: oneshot::Sender<Result<(), Refused>>,
}

/// Why a running call refused a supervisor's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Supervisor text is spoken only while the supervisor holds the call.
    #[error("the call is not taken over: take it over before speaking on it")]
    NotTakenOver,
    /// The call ended before the input reached it.
    #[error("the call has ended")]
    Ended,
}

/// How long a taken-over call with no time limit waits for its supervisor between checks.
const HOLD_MS: u64 = 60_000;

/// Runs a whole simulated call with `persona` on the other end.
pub async fn run_sim_call(
    setup: CallSetup,
    persona: Persona,
    pace: Pace,
    sink: &mut dyn CallSink,
) -> CallOutcome {
    // Nobody steers this call: the sender stays alive so the line never hears "closed".
    let (_nobody, mut steer) = mpsc::channel(1);
    run_steered_sim_call(setup, persona, pace, sink, &mut steer).await
}

/// [`run_sim_call`] with supervisors: each [`Steer`] on `steer` enters the call the moment
/// it arrives, between or during turns. A whisper, a takeover or a resume is noted at once;
/// a barge cuts the agent (or the callee's turn) short and the agent says it; supervisor
/// text is said while the call is taken over. While taken over the callee listens and the
/// agent keeps quiet until the supervisor hands the call back (or the time limit).
pub async fn run_steered_sim_call(
    setup: CallSetup,
    persona: Persona,
    pace: Pace,
    sink: &mut dyn CallSink,
    steer: &mut mpsc::Receiver<Steer>,
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
        pace,
        steer,
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
    let mut agent_said = line.act(first, sink).await;
    for _ in 0..MAX_INPUTS {
        if line.conversation.ended().is_some() {
            break;
        }
        let to_limit = limit_ms.saturating_sub(line.now_ms);
        if line.conversation.is_paused() {
            // A supervisor holds the call: the callee listens until it is handed back.
            let hold = if limit_ms > 0 { to_limit } else { HOLD_MS };
            agent_said = match line.pass(hold, true, sink).await {
                Woke::Barge(text) => line.act(Input::Barge(text), sink).await,
                Woke::Elapsed if limit_ms > 0 => line.act(Input::MaxDuration, sink).await,
                Woke::Elapsed | Woke::Resumed => agent_said,
            };
            continue;
        }
        let (wait, input) = match callee.respond(&agent_said) {
            Reply::Say(text) => (PAUSE_MS + speaking_ms(&text), Input::Utterance(text)),
            Reply::Silent => (silence_ms, Input::Silence),
            Reply::HangUp => (PAUSE_MS, Input::HangUp),
        };
        // The time limit may come before the callee's turn does.
        let (wait, input) = if limit_ms > 0 && wait >= to_limit {
            (to_limit, Input::MaxDuration)
        } else {
            (wait, input)
        };
        agent_said = match line.pass(wait, false, sink).await {
            Woke::Barge(text) => line.act(Input::Barge(text), sink).await,
            Woke::Elapsed | Woke::Resumed => line.act(input, sink).await,
        };
    }
    if line.conversation.ended().is_none() {
        line.act(Input::MaxDuration, sink).await;
    }
    let Line {
        conversation,
        now_ms,
        latencies,
        ..
    } = line;
    conversation.into_outcome(true, RING_MS, now_ms, &latencies)
}

/// Why [`Line::pass`] returned.
enum Woke {
    /// The time passed.
    Elapsed,
    /// A supervisor barged in with these words.
    Barge(String),
    /// The supervisor handed the call back.
    Resumed,
}

/// The agent's side of a sim call: the conversation, the simulated clock, what the sink
/// has been sent, and the supervisors' inputs.
struct Line<'s> {
    conversation: Conversation,
    /// Transcript entries already sent to the sink.
    sent: usize,
    now_ms: u64,
    latencies: Vec<u64>,
    pace: Pace,
    steer: &'s mut mpsc::Receiver<Steer>,
}

impl Line<'_> {
    /// Delivers `input` and lets the agent say its reply; a barge while it talks cuts the
    /// reply short and the agent says the barge. Returns what the agent said last.
    async fn act(&mut self, mut input: Input, sink: &mut dyn CallSink) -> String {
        loop {
            let said = self.turn(input, sink).await;
            match self.pass(speaking_ms(&said), false, sink).await {
                Woke::Barge(text) => input = Input::Barge(text),
                Woke::Elapsed | Woke::Resumed => return said,
            }
        }
    }

    /// Lets `ms` simulated milliseconds pass, taking supervisors' inputs as they arrive.
    /// Returns early for a barge and, when `until_resumed`, when the call is handed back.
    async fn pass(&mut self, ms: u64, until_resumed: bool, sink: &mut dyn CallSink) -> Woke {
        let (start, began) = (self.now_ms, tokio::time::Instant::now());
        let pace = self.pace;
        let passed = |began: tokio::time::Instant| match pace.scale {
            s if s > 0.0 => ((began.elapsed().as_secs_f64() * 1000.0 / s) as u64).min(ms),
            _ => ms,
        };
        loop {
            let left = ms - passed(began);
            let steer = tokio::select! {
                _ = pace.wait(left) => None,
                steer = self.steer.recv() => steer,
            };
            self.now_ms = start + passed(began);
            let Some(Steer { input, done }) = steer else {
                // The time is up (or nobody can steer any more: let it pass).
                pace.wait(ms - passed(began)).await;
                self.now_ms = start + ms;
                return Woke::Elapsed;
            };
            let paused = self.conversation.is_paused();
            let taken = match input {
                Input::Barge(text) => {
                    let _ = done.send(Ok(()));
                    return Woke::Barge(text);
                }
                Input::SupervisorText(_) if !paused => Err(Refused::NotTakenOver),
                // Already so: nothing to note again.
                Input::Takeover if paused => Ok(()),
                Input::Resume if !paused => Ok(()),
                input => {
                    self.turn(input, sink).await;
                    Ok(())
                }
            };
            let _ = done.send(taken);
            if until_resumed && !self.conversation.is_paused() {
                return Woke::Resumed;
            }
        }
    }

    /// Delivers `input` now and streams the new transcript entries to the sink. Returns
    /// what the agent said.
    async fn turn(&mut self, input: Input, sink: &mut dyn CallSink) -> String {
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
        said.join(" ")
    }
}
