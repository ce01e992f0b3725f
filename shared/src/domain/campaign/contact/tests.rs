use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::domain::call::Direction;
use crate::engine::report::{Report, Sentiment};

fn call(status: CallStatus, end: EndReason, outcome: Option<Outcome>) -> Call {
    serde_json::from_value::<Call>(json!({
        "id": "c", "direction": "outbound", "status": "initiated", "agent_id": "a",
        "task_id": null, "campaign_id": "k", "contact_id": "x", "channel_id": null,
        "from": "+15555550100", "to": "+15005550001", "started_at": "t", "answered_at": null,
        "ended_at": null, "duration_seconds": null, "end_reason": null, "transcript": null,
        "report": null, "recording_url": null, "metrics": null, "conversation": null,
        "starting_message": null, "updated_at": "t"
    }))
    .map(|mut c| {
        assert_eq!(c.direction, Direction::Outbound);
        c.status = status;
        c.end_reason = Some(end);
        c.report = outcome.map(|outcome| Report {
            summary: String::new(),
            outcome,
            sentiment: Sentiment::Neutral,
            extracted_data: Map::new(),
            success: false,
            next_steps: vec![],
        });
        c
    })
    .unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 10, 0, 0).unwrap()
}

#[test]
fn each_result_retries_only_where_the_policy_says() {
    let policy = RetryPolicy::default();
    let in_an_hour = Some(now() + Duration::minutes(60));
    let cases = [
        (
            CallStatus::Failed,
            EndReason::Busy,
            Some(Outcome::Busy),
            ContactStatus::Busy,
            ContactOutcome::NoAnswer,
            in_an_hour,
        ),
        (
            CallStatus::Failed,
            EndReason::NoAnswer,
            Some(Outcome::NoAnswer),
            ContactStatus::NoAnswer,
            ContactOutcome::NoAnswer,
            in_an_hour,
        ),
        (
            CallStatus::Completed,
            EndReason::Voicemail,
            Some(Outcome::Voicemail),
            ContactStatus::Voicemail,
            ContactOutcome::Voicemail,
            in_an_hour,
        ),
        (
            CallStatus::Failed,
            EndReason::CarrierError,
            Some(Outcome::Failed),
            ContactStatus::Failed,
            ContactOutcome::Unknown,
            in_an_hour,
        ),
        (
            CallStatus::Failed,
            EndReason::RunnerLost,
            None,
            ContactStatus::Failed,
            ContactOutcome::Unknown,
            in_an_hour,
        ),
        (
            CallStatus::Completed,
            EndReason::CalleeHungUp,
            Some(Outcome::Interested),
            ContactStatus::Completed,
            ContactOutcome::Interested,
            None,
        ),
        (
            CallStatus::Completed,
            EndReason::CalleeHungUp,
            Some(Outcome::NotInterested),
            ContactStatus::Completed,
            ContactOutcome::NotInterested,
            None,
        ),
        (
            CallStatus::Completed,
            EndReason::CalleeHungUp,
            Some(Outcome::DoNotCall),
            ContactStatus::Completed,
            ContactOutcome::DoNotCall,
            None,
        ),
        (
            CallStatus::Completed,
            EndReason::CalleeHungUp,
            Some(Outcome::CallbackRequested),
            ContactStatus::Completed,
            ContactOutcome::CallbackRequested,
            in_an_hour,
        ),
        // A silent line is an answer nobody spoke on: retried as no answer.
        (
            CallStatus::Completed,
            EndReason::SilenceTimeout,
            Some(Outcome::NoAnswer),
            ContactStatus::Completed,
            ContactOutcome::NoAnswer,
            in_an_hour,
        ),
    ];
    for (st, end, outcome, status, contact_outcome, retry_at) in cases {
        let s = settle(&policy, 1, &call(st, end, outcome), None, now());
        assert_eq!(
            (s.status, s.outcome, s.retry_at),
            (status, contact_outcome, retry_at),
            "{end:?} {outcome:?}"
        );
        let last = settle(&policy, 2, &call(st, end, outcome), None, now());
        assert_eq!(last.retry_at, None, "attempts exhausted: {end:?}");
    }
    let busy_only = RetryPolicy {
        on: vec![RetryOn::Busy],
        ..RetryPolicy::default()
    };
    let c = call(
        CallStatus::Failed,
        EndReason::NoAnswer,
        Some(Outcome::NoAnswer),
    );
    assert_eq!(settle(&busy_only, 1, &c, None, now()).retry_at, None);
}

#[test]
fn a_callback_is_dialed_when_the_callee_asked() {
    let tomorrow = now() + Duration::hours(23);
    let c = call(
        CallStatus::Completed,
        EndReason::CalleeHungUp,
        Some(Outcome::CallbackRequested),
    );
    let s = settle(&RetryPolicy::default(), 1, &c, Some(tomorrow), now());
    assert_eq!(s.retry_at, Some(tomorrow));
    let past = Some(now() - Duration::hours(1));
    let s = settle(&RetryPolicy::default(), 1, &c, past, now());
    assert_eq!(s.retry_at, Some(now() + Duration::minutes(60)));
}

#[test]
fn contacts_parse_with_a_reason_for_each_refusal() {
    let parse = |v: Value| ContactInput::parse_item(Field::from_json(Some(&v)));
    let ok = parse(json!({"phone": "+1 (415) 555-0123", "name": " Ann ",
        "email": "ANN@Example.com", "variables": {"plan": "gold"}}))
    .unwrap();
    assert_eq!(ok.phone.as_str(), "+14155550123");
    assert_eq!(ok.name.as_deref(), Some("Ann"));
    assert_eq!(
        ok.email.as_ref().map(Email::as_str),
        Some("ann@example.com")
    );
    for (bad, why) in [
        (json!({"name": "x"}), "phone: is required"),
        (json!({"phone": "555"}), "phone: must be an E.164"),
        (
            json!({"phone": "+14155550123", "email": "nope"}),
            "email: must be",
        ),
        (
            json!({"phone": "+14155550123", "colour": 1}),
            "colour: is not",
        ),
        (
            json!({"phone": "+14155550123", "variables": 3}),
            "variables: must be",
        ),
        (json!("+14155550123"), "must be an object"),
    ] {
        let err = parse(bad.clone()).unwrap_err();
        assert!(err.starts_with(why), "{bad}: {err}");
    }
}
