//! The offline analyser: outcome, sentiment, next steps and typed extraction.

use serde_json::json;

use super::{Outcome, Sentiment, analyse_offline};
use crate::engine::call::{CallMetrics, CallOutcome, EndReason, Role, TranscriptEntry};
use crate::engine::conversation::tests::support::agent;

fn call(
    lines: &[(Role, &str)],
    end: EndReason,
    intents: &[&str],
    variables: serde_json::Value,
) -> CallOutcome {
    CallOutcome {
        answered: true,
        end_reason: end,
        duration_ms: 41_000,
        ring_ms: 6_000,
        transcript: lines
            .iter()
            .enumerate()
            .map(|(i, (role, text))| TranscriptEntry {
                seq: i as u32 + 1,
                role: *role,
                text: (*text).into(),
                at_ms: i as u64 * 3_000,
                interrupted: false,
            })
            .collect(),
        variables,
        intents: intents.iter().map(|s| (*s).into()).collect(),
        transferred_to: None,
        metrics: CallMetrics::default(),
    }
}

#[test]
fn every_type_is_extracted_from_the_answers_or_left_null() {
    let a = agent(json!({"data_extraction": [
        {"name": "full_name", "type": "string", "description": "the caller's name"},
        {"name": "party_size", "type": "number", "description": "how many people"},
        {"name": "wants_reminder", "type": "boolean", "description": "whether to send a reminder"},
        {"name": "visit_date", "type": "date"},
        {"name": "plan", "type": "enum", "options": ["Basic", "Pro"]},
        {"name": "budget", "type": "number"}
    ]}));
    let c = call(
        &[
            (Role::Agent, "Hello! May I have your name?"),
            (Role::User, "Sure, my name is Ana Lima."),
            (Role::Agent, "How many people will come?"),
            (Role::User, "Four of us."),
            (Role::Agent, "Which day?"),
            (Role::User, "Next friday."),
            (Role::Agent, "Shall I send a reminder?"),
            (Role::User, "Yes please."),
            (Role::Agent, "Basic or Pro?"),
            (Role::User, "The pro one."),
            (Role::Agent, "Thanks, goodbye."),
        ],
        EndReason::AgentHungUp,
        &["goodbye"],
        json!({"today": "2026-12-04"}),
    );
    let r = analyse_offline(&a, &c);
    assert_eq!(
        serde_json::Value::Object(r.extracted_data.clone()),
        json!({
            "full_name": "Ana Lima",
            "party_size": 4,
            "wants_reminder": true,
            "visit_date": "2026-12-11",
            "plan": "Pro",
            "budget": null
        })
    );
    assert_eq!(r.outcome, Outcome::Completed);
    assert!(!r.success, "budget is unknown");
    assert!(
        r.summary.contains("Collected: full name Ana Lima"),
        "{}",
        r.summary
    );
}

#[test]
fn flow_variables_win_and_are_typed() {
    let a = agent(json!({"data_extraction": [
        {"name": "age", "type": "number"},
        {"name": "agreed", "type": "boolean"},
        {"name": "plan", "type": "enum", "options": ["Basic", "Pro"]},
        {"name": "when", "type": "date"}
    ]}));
    let c = call(
        &[(Role::Agent, "Hi"), (Role::User, "Hello")],
        EndReason::AgentHungUp,
        &["interested"],
        json!({"age": "forty two", "agreed": "yes", "plan": "pro", "when": "not a date"}),
    );
    let r = analyse_offline(&a, &c);
    assert_eq!(r.extracted_data["age"], json!(42));
    assert_eq!(r.extracted_data["agreed"], json!(true));
    assert_eq!(r.extracted_data["plan"], json!("Pro"));
    assert_eq!(r.extracted_data["when"], json!(null));
    assert_eq!(
        (r.outcome, r.sentiment, r.success),
        (Outcome::Interested, Sentiment::Positive, true)
    );
    assert_eq!(
        r.next_steps,
        ["Follow up with the offer or confirm the booking."]
    );
}

#[test]
fn intents_and_end_reasons_decide_the_outcome() {
    let a = agent(json!({}));
    let talk = [
        (Role::Agent, "Hi"),
        (
            Role::User,
            "Please stop calling me, this is annoying, never again",
        ),
    ];
    let r = analyse_offline(
        &a,
        &call(
            &talk,
            EndReason::AgentHungUp,
            &["do_not_call", "callback"],
            json!({}),
        ),
    );
    assert_eq!(
        (r.outcome, r.sentiment),
        (Outcome::DoNotCall, Sentiment::Negative)
    );
    assert_eq!(
        r.next_steps,
        ["Add the contact to the do-not-call list; do not call again."]
    );
    let r = analyse_offline(
        &a,
        &call(
            &talk,
            EndReason::AgentHungUp,
            &["callback"],
            json!({"callback_when": "tomorrow morning"}),
        ),
    );
    assert_eq!(r.outcome, Outcome::CallbackRequested);
    assert_eq!(r.next_steps, ["Call the contact back tomorrow morning."]);
    let mut failed = call(&[], EndReason::CarrierError, &[], json!({}));
    failed.answered = false;
    let r = analyse_offline(&a, &failed);
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(
        r.summary,
        "Robin's call did not connect: the carrier failed before it rang."
    );
    let r = analyse_offline(&a, &call(&talk, EndReason::Transferred, &[], json!({})));
    assert_eq!(r.outcome, Outcome::TransferRequested);
}
