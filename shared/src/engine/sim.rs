//! The simulated carrier (SPEC §15): a callee played by the platform, driving the other
//! side of a call through the same conversation engine a real call uses.
//!
//! STUB: the conversation engine replaces this body; the signature is the contract the
//! call runner codes against.

use std::time::Duration;

use super::call::{
    CallMetrics, CallOutcome, CallSetup, CallSink, EndReason, Persona, Role, TranscriptEntry,
};

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

/// Runs a whole simulated call with `persona` on the other end.
pub async fn run_sim_call(
    setup: CallSetup,
    persona: Persona,
    pace: Pace,
    sink: &mut dyn CallSink,
) -> CallOutcome {
    let _ = persona;
    pace.wait(2_000).await;
    sink.answered(2_000).await;
    let greeting = setup
        .starting_message
        .clone()
        .or_else(|| setup.agent.greeting.clone())
        .unwrap_or_else(|| "Hello!".to_owned());
    let entry = TranscriptEntry {
        seq: 1,
        role: Role::Agent,
        text: greeting,
        at_ms: 0,
        interrupted: false,
    };
    sink.entry(&entry).await;
    CallOutcome {
        answered: true,
        end_reason: EndReason::AgentHungUp,
        duration_ms: 3_000,
        ring_ms: 2_000,
        transcript: vec![entry],
        variables: serde_json::Value::Object(setup.variables.into_map()),
        intents: Vec::new(),
        transferred_to: None,
        metrics: CallMetrics::default(),
    }
}
