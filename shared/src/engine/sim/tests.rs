//! Every persona of SPEC §15 through the simulated carrier, with the offline engine and
//! the offline report, at time scale 0.

use serde_json::json;

use crate::engine::call::{CallOutcome, CallSetup, EndReason, Persona, Role};
use crate::engine::conversation::tests::support::{
    RecordingSink, agent, assert_seq, booking_setup, setup,
};
use crate::engine::report::{Outcome, analyse_offline};
use crate::engine::sim::{Pace, run_sim_call};

const FAST: Pace = Pace { scale: 0.0 };

async fn call(setup: CallSetup, persona: Persona) -> (CallOutcome, RecordingSink) {
    let mut sink = RecordingSink::default();
    let outcome = run_sim_call(setup, persona, FAST, &mut sink).await;
    (outcome, sink)
}

/// (persona, answered, end_reason, intents, report outcome)
type Case = (Persona, bool, EndReason, &'static [&'static str], Outcome);

#[tokio::test]
async fn every_persona_ends_as_the_table_says() {
    let cases: &[Case] = &[
        (
            Persona::Cooperative,
            true,
            EndReason::AgentHungUp,
            &["goodbye"],
            Outcome::Completed,
        ),
        (Persona::Busy, false, EndReason::Busy, &[], Outcome::Busy),
        (
            Persona::NoAnswer,
            false,
            EndReason::NoAnswer,
            &[],
            Outcome::NoAnswer,
        ),
        (
            Persona::Voicemail,
            true,
            EndReason::Voicemail,
            &[],
            Outcome::Voicemail,
        ),
        (
            Persona::HangUp,
            true,
            EndReason::CalleeHungUp,
            &[],
            Outcome::HungUp,
        ),
        (
            Persona::DoNotCall,
            true,
            EndReason::AgentHungUp,
            &["do_not_call"],
            Outcome::DoNotCall,
        ),
        (
            Persona::Interested,
            true,
            EndReason::AgentHungUp,
            &["interested", "goodbye"],
            Outcome::Interested,
        ),
        (
            Persona::Callback,
            true,
            EndReason::AgentHungUp,
            &["callback"],
            Outcome::CallbackRequested,
        ),
        (
            Persona::NotInterested,
            true,
            EndReason::AgentHungUp,
            &["not_interested"],
            Outcome::NotInterested,
        ),
        (
            Persona::CarrierError,
            false,
            EndReason::CarrierError,
            &[],
            Outcome::Failed,
        ),
        (
            Persona::Silent,
            true,
            EndReason::SilenceTimeout,
            &[],
            Outcome::NoAnswer,
        ),
        (
            Persona::Human,
            true,
            EndReason::AgentHungUp,
            &["transfer"],
            Outcome::TransferRequested,
        ),
    ];
    for &(persona, answered, end, intents, outcome) in cases {
        let a = agent(json!({"silence_timeout_seconds": 8}));
        let (call, sink) = call(setup(a.clone()), persona).await;
        assert_eq!(call.answered, answered, "{persona:?}");
        assert_eq!(call.end_reason, end, "{persona:?}: {:#?}", call.transcript);
        assert_eq!(call.intents, intents, "{persona:?}");
        assert_eq!(analyse_offline(&a, &call).outcome, outcome, "{persona:?}");
        assert_eq!(sink.answered.is_some(), answered, "{persona:?}");
        assert_eq!(
            sink.entries, call.transcript,
            "{persona:?}: the sink saw every entry"
        );
        assert_seq(&call.transcript);
        assert!(
            call.transcript.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
            "{persona:?}"
        );
        if answered {
            assert!(call.duration_ms > 0, "{persona:?}");
            // A voicemail the agent hangs up on has no agent turn.
            assert_eq!(
                call.metrics.turns > 0,
                persona != Persona::Voicemail,
                "{persona:?}"
            );
            assert_eq!(call.ring_ms, 6_000);
        } else {
            assert!(call.transcript.is_empty() && call.duration_ms == 0);
        }
    }
}

#[tokio::test]
async fn ringing_times_and_the_cooperative_transcript_read_like_a_call() {
    assert_eq!(
        call(setup(agent(json!({}))), Persona::NoAnswer)
            .await
            .0
            .ring_ms,
        30_000
    );
    assert_eq!(
        call(setup(agent(json!({}))), Persona::CarrierError)
            .await
            .0
            .ring_ms,
        0
    );
    let (c, _) = call(setup(agent(json!({}))), Persona::Cooperative).await;
    let lines: Vec<(Role, &str, u64)> = c
        .transcript
        .iter()
        .map(|e| (e.role, e.text.as_str(), e.at_ms))
        .collect();
    assert_eq!(
        lines,
        [
            (
                Role::Agent,
                "Hello, this is Robin. How can I help you today?",
                0
            ),
            // greeting 10 words (4 s) + pause 0.6 s + "Yes." 0.4 s
            (Role::User, "Yes.", 5_000),
            (
                Role::Agent,
                "Great, thank you. Is there anything else I can help you with?",
                5_000
            ),
            (
                Role::User,
                "No, that's all. Thank you, goodbye!",
                5_000 + 4_800 + 600 + 2_400
            ),
            (Role::Agent, "Thank you for your time. Goodbye!", 12_800),
        ]
    );
    assert_eq!(c.duration_ms, 12_800 + 2_400);
    assert!(c.metrics.avg_turn_latency_ms >= 300.0);
    assert!(c.metrics.p99_engine_overhead_us > 0.0);
}

#[tokio::test]
async fn the_human_persona_is_transferred_when_the_agent_has_a_number() {
    let a = agent(json!({"transfer_number": "+14155550100"}));
    let (c, _) = call(setup(a.clone()), Persona::Human).await;
    assert_eq!(c.end_reason, EndReason::Transferred);
    assert_eq!(c.transferred_to.as_deref(), Some("+14155550100"));
    let report = analyse_offline(&a, &c);
    assert_eq!(report.outcome, Outcome::TransferRequested);
    assert!(
        report.next_steps.is_empty(),
        "transferred: nothing left to do"
    );
}

#[tokio::test]
async fn voicemail_leaves_the_agents_message() {
    let a = agent(
        json!({"voicemail": {"action": "leave_message", "message": "Hi, Robin from Acme here. Please call us back."}}),
    );
    let (c, _) = call(setup(a), Persona::Voicemail).await;
    assert_eq!(c.end_reason, EndReason::Voicemail);
    let last = c.transcript.last().map(|e| (e.role, e.text.as_str()));
    assert_eq!(
        last,
        Some((
            Role::Agent,
            "Hi, Robin from Acme here. Please call us back."
        ))
    );
}

#[tokio::test]
async fn max_duration_bounds_every_call() {
    let long = "Hello, this is Robin from Acme Dental, calling about the appointment you booked with us \
                last month, to check a few details and to tell you about our new opening hours today.";
    let a = agent(json!({"greeting": long, "max_duration_seconds": 10}));
    let (c, _) = call(setup(a), Persona::Cooperative).await;
    assert_eq!(c.end_reason, EndReason::MaxDuration);
    // The greeting alone ran past the limit: the time-limit line follows it at once.
    assert_eq!(c.transcript.len(), 2, "{:#?}", c.transcript);
    assert!(c.transcript[1].text.contains("time limit"));
    let (silent, _) = call(
        setup(agent(
            json!({"max_duration_seconds": 10, "silence_timeout_seconds": 30}),
        )),
        Persona::Silent,
    )
    .await;
    assert_eq!(silent.end_reason, EndReason::MaxDuration);
}

#[tokio::test]
async fn a_flow_driven_call_collects_answers_runs_the_tool_and_reports_them() {
    let mut s = booking_setup();
    s.agent = agent(json!({"data_extraction": [
        {"name": "caller_name", "type": "string"},
        {"name": "appointment_date", "type": "date"},
        {"name": "confirmed", "type": "boolean", "description": "whether the booking was made"}
    ]}));
    let (c, sink) = call(s.clone(), Persona::Cooperative).await;
    assert_eq!(c.end_reason, EndReason::AgentHungUp);
    let texts: Vec<&str> = c.transcript.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(
        texts[0],
        "Hi Jordan, this is Robin from Acme Dental. Who am I speaking with?"
    );
    assert_eq!(texts[1], "It's Jordan Lee.");
    assert_eq!(texts[3], "The 14th of March 2027 works for me.");
    assert!(texts[4].starts_with("book_slot("));
    assert_eq!(
        texts[5],
        "You're booked for 2027-03-14, confirmation BK-2027-03-14. Goodbye, Jordan Lee."
    );
    assert_eq!(c.variables["caller_name"], json!("Jordan Lee"));
    assert_eq!(sink.entries.len(), 6);
    let report = analyse_offline(&s.agent, &c);
    assert_eq!(report.extracted_data["caller_name"], json!("Jordan Lee"));
    assert_eq!(
        report.extracted_data["appointment_date"],
        json!("2027-03-14")
    );
    assert_eq!(
        report.extracted_data["confirmed"],
        json!(null),
        "never asked"
    );
    // Deterministic: the same call again gives the same transcript.
    let (again, _) = call(s, Persona::Cooperative).await;
    assert_eq!(again.transcript, c.transcript);
}

/// Hands `input` to a running call and returns its answer.
async fn steer(
    tx: &tokio::sync::mpsc::Sender<crate::engine::sim::Steer>,
    input: crate::engine::conversation::Input,
) -> Result<(), crate::engine::sim::Refused> {
    let (done, taken) = tokio::sync::oneshot::channel();
    tx.send(crate::engine::sim::Steer { input, done })
        .await
        .expect("the call runs");
    taken.await.expect("the call answers")
}

#[tokio::test(start_paused = true)]
async fn supervisors_steer_a_running_call_between_and_during_turns() {
    use crate::engine::conversation::Input;
    use crate::engine::sim::{Refused, run_steered_sim_call};

    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let run = tokio::spawn(async move {
        let mut sink = RecordingSink::default();
        let real_time = Pace { scale: 1.0 };
        let outcome = run_steered_sim_call(
            setup(agent(json!({}))),
            Persona::Cooperative,
            real_time,
            &mut sink,
            &mut rx,
        )
        .await;
        (outcome, sink)
    });
    let say = |t: &str| Input::SupervisorText(t.to_owned());
    assert_eq!(steer(&tx, say("Hello?")).await, Err(Refused::NotTakenOver));
    assert_eq!(steer(&tx, Input::Takeover).await, Ok(()));
    let whisper = Input::Whisper("offer the spring discount".into());
    assert_eq!(steer(&tx, whisper).await, Ok(()));
    assert_eq!(steer(&tx, say("We open at 8.")).await, Ok(()));
    let barge = Input::Barge("One moment, please.".into());
    assert_eq!(steer(&tx, barge).await, Ok(()));
    assert_eq!(steer(&tx, Input::Resume).await, Ok(()));
    let (outcome, sink) = run.await.expect("the call ends");

    assert!(
        matches!(
            outcome.end_reason,
            EndReason::AgentHungUp | EndReason::CalleeHungUp
        ),
        "{:?}",
        outcome.end_reason
    );
    assert_seq(&sink.entries);
    assert_eq!(sink.entries, outcome.transcript);
    let said: Vec<(Role, &str)> = sink
        .entries
        .iter()
        .map(|e| (e.role, e.text.as_str()))
        .collect();
    let at = |line: (Role, &str)| {
        said.iter()
            .position(|s| *s == line)
            .unwrap_or_else(|| panic!("{line:?} not in {said:?}"))
    };
    let took = at((Role::System, "A supervisor took over the call."));
    let whispered = at((
        Role::System,
        "Supervisor whisper: offer the spring discount",
    ));
    let spoke = at((Role::Supervisor, "We open at 8."));
    let barged = at((Role::Agent, "One moment, please."));
    let back = at((
        Role::System,
        "The supervisor handed the call back to the agent.",
    ));
    assert!(took < whispered && whispered < spoke && spoke < barged && barged < back);
    assert!(sink.entries[whispered].is_whisper());
    // The refused text left no trace; the callee talked on after the hand-back.
    assert!(!said.iter().any(|(_, t)| *t == "Hello?"));
    assert!(said[back..].iter().any(|(r, _)| *r == Role::User));
}
