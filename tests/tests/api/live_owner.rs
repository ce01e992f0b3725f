//! A live-space control reaches the process that holds the call, whichever
//! serves the request: two platform processes share one store, a call runs on
//! one of them, and both steer it (the other one over the signed internal
//! request). A whisper shapes the model's next turn. When the holder dies,
//! the survivor answers 503 (never a silent no-op); an ended call is a 409.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::services::table_keys::CALL_LEASES_PK;
use switchboard::store::embedded::{Database, EmbeddedTable};
use switchboard::store::{Query, Table};
use switchboard_tests::llm_double::{LlmDouble, Script};
use switchboard_tests::process::{PlatformProcess, free_port};
use switchboard_tests::{TEST_KEY, assert_error_body, call};
use tokio_tungstenite::tungstenite::Message;

/// A platform on `dir` whose models are `llm` (a free port of its own).
async fn start_platform(dir: &std::path::Path, llm: &LlmDouble) -> PlatformProcess {
    let port = free_port();
    PlatformProcess::start(
        env!("CARGO_BIN_EXE_platform"),
        dir,
        port,
        &[
            (
                "SWITCHBOARD_RELAY_INTERNAL_URL",
                format!("http://127.0.0.1:{port}"),
            ),
            ("SWITCHBOARD_SIM_TIME_SCALE", "0.1".to_owned()),
            ("SWITCHBOARD_SCHEDULER_INTERVAL_MS", "3600000".to_owned()),
            ("SWITCHBOARD_OPENAI_BASE_URL", format!("{}/v1", llm.base)),
            ("SWITCHBOARD_OUTBOUND_ALLOW_PRIVATE", "true".to_owned()),
            ("OPENAI_API_KEY", "sk-test-live-space".to_owned()),
        ],
    )
    .await
}

/// A live-space control on `p`.
async fn steer(
    p: &PlatformProcess,
    call_id: &str,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(
        p.api(
            Method::POST,
            &format!("/live-space/live-calls/{call_id}/{action}"),
        )
        .json(&body),
    )
    .await
}

/// Whether a model request carried `note` (only the system prompt's
/// supervisor notes can: whisper entries never enter the model's history).
fn carries(request: &Value, note: &str) -> bool {
    request.to_string().contains(note)
}

/// Places a long call through `p` and waits until it is in progress; its id.
async fn call_in_progress(p: &PlatformProcess) -> String {
    let (status, agent) = call(p.api(Method::POST, "/agents").json(&json!({
        "name": "Booker", "system_prompt": "You book dentist appointments.",
        "greeting": "Hello, this is Harbor Lane Dental calling.",
        "llm_model": "gpt-4o-mini", "max_duration_seconds": 1800
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let (status, task) = call(p.api(Method::POST, "/tasks").json(&json!({
        "agent_id": agent["data"]["id"], "to_number": "+15005550007", "name": "Two relays"
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let task_id = task["data"]["id"].as_str().unwrap();
    let (status, started) = call(p.api(Method::POST, &format!("/tasks/{task_id}/execute"))).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["data"]["call_id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let (_, c) = call(p.api(Method::GET, &format!("/calls/{id}"))).await;
        if c["data"]["status"] == "in_progress" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never in progress: {c}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    id
}

/// The URL of the process holding call `id`, from its lease in the store on `dir`.
async fn holder_url(dir: &std::path::Path, id: &str) -> String {
    let table = EmbeddedTable::new(Arc::new(
        Database::open(&dir.join("switchboard.db"), 1).unwrap(),
    ));
    let leases = table
        .query(Query::partition(CALL_LEASES_PK))
        .await
        .unwrap()
        .items;
    let lease = leases
        .iter()
        .find(|l| l.data["call_id"] == id)
        .expect("the call's lease");
    lease.data["owner_url"]
        .as_str()
        .expect("the lease records its owner's URL")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_reaches_the_process_holding_the_call() {
    let llm = LlmDouble::start().await;
    llm.always(Script::text(&["Could you tell me your name, please?"]));
    let dir = tempfile::tempdir().unwrap();
    // One after the other: the first creates the keys both share.
    let first = start_platform(dir.path(), &llm).await;
    let second = start_platform(dir.path(), &llm).await;

    let id = call_in_progress(&first).await;

    // Both processes steer it, whichever holds it.
    let (status, body) = steer(&second, &id, "takeover", json!({"active": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let asked_before = llm.received().len();
    for (p, note) in [
        (&first, "offer the spring discount"),
        (&second, "mention free parking"),
    ] {
        let (status, body) = steer(p, &id, "whisper", json!({"message": note})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = steer(&first, &id, "takeover", json!({"active": false})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, seen) = call(second.api(Method::GET, &format!("/live-space/live-calls/{id}"))).await;
    let transcript = seen["data"]["transcript"].to_string();
    assert!(
        transcript.contains("offer the spring discount")
            && transcript.contains("mention free parking"),
        "{seen}"
    );

    // The whispers shape the model's next turn (and not the ones before).
    let start = Instant::now();
    loop {
        let received = llm.received();
        if received[asked_before..].iter().any(|r| {
            carries(&r.body, "offer the spring discount")
                && carries(&r.body, "mention free parking")
        }) {
            assert!(
                received[..asked_before]
                    .iter()
                    .all(|r| !carries(&r.body, "offer the spring discount")),
                "a turn before the whisper saw it"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no model turn after the whisper carried it: {:?}",
            received.last().map(|r| &r.body)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = steer(&first, &id, "takeover", json!({"active": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The holder dies: the other process says so instead of dropping the control.
    let owner_url = holder_url(dir.path(), &id).await;
    let (mut holder, survivor) = if owner_url == first.base {
        (first, second)
    } else {
        assert_eq!(owner_url, second.base);
        (second, first)
    };
    holder.kill();
    let (status, body) = steer(
        &survivor,
        &id,
        "whisper",
        json!({"message": "anyone there?"}),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        assert_error_body(&body).contains("cannot be reached"),
        "{body}"
    );

    // Ended: a 409, from either side of the store.
    let (status, body) = steer(&survivor, &id, "end", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = steer(&survivor, &id, "whisper", json!({"message": "too late"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error_body(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_call_elsewhere_stops_its_holder_at_once() {
    let llm = LlmDouble::start().await;
    llm.always(Script::text(&["Could you tell me your name, please?"]));
    let dir = tempfile::tempdir().unwrap();
    let first = start_platform(dir.path(), &llm).await;
    let second = start_platform(dir.path(), &llm).await;
    let id = call_in_progress(&first).await;
    let owner_url = holder_url(dir.path(), &id).await;
    let (holder, other) = if owner_url == first.base {
        (&first, &second)
    } else {
        (&second, &first)
    };

    // A viewer on the holder hears of the end from the holder's runner, which
    // stops as soon as the other process tells it, not at its next lease
    // renewal (every 10 s).
    let url = format!(
        "{}/ws/calls/{id}?api_key={TEST_KEY}",
        holder.base.replacen("http", "ws", 1)
    );
    let (mut viewer, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("the holder's viewer socket");
    let (status, body) = steer(other, &id, "end", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ended = Instant::now();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), viewer.next())
            .await
            .expect("a message within 20 s");
        let Some(Ok(Message::Text(text))) = message else {
            panic!("the viewer's socket closed before the end: {message:?}");
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        if m["type"] == "call_status_update" && m["data"]["end_reason"] == "ended_by_user" {
            break;
        }
    }
    assert!(
        ended.elapsed() < Duration::from_secs(4),
        "the holder heard of the end only after {:?}",
        ended.elapsed()
    );
}
