//! The dialer survives a crash: the process holding 20 live campaign calls
//! is killed (SIGKILL) and started again on the same data. Within the lease
//! time the calls end `failed` (`runner_lost`) and their slots come back;
//! the contacts are retried per the policy, the campaign completes, and no
//! contact is called more often than its attempts allow.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::services::calls::lease;
use switchboard::store::embedded::{Database, EmbeddedTable};
use switchboard::store::{Query, Table};
use switchboard_tests::call;
use switchboard_tests::process::{PlatformProcess, free_port};

const CONTACTS: usize = 20;

/// The platform at `scale` on `dir` and `port`.
async fn start_platform(dir: &std::path::Path, port: u16, scale: &str) -> PlatformProcess {
    PlatformProcess::start(
        env!("CARGO_BIN_EXE_platform"),
        dir,
        port,
        &[
            ("SWITCHBOARD_SIM_TIME_SCALE", scale.to_owned()),
            ("SWITCHBOARD_SCHEDULER_INTERVAL_MS", "500".to_owned()),
        ],
    )
    .await
}

/// The campaign's calls, as the API lists them.
async fn calls(p: &PlatformProcess, campaign: &str) -> Vec<Value> {
    let (status, page) = call(p.api(
        Method::GET,
        &format!("/calls?campaign_id={campaign}&limit=100"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dialer_loses_no_slot_and_calls_nobody_twice_per_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Slow calls: all 20 are live when the process dies.
    let mut first = start_platform(dir.path(), port, "0.5").await;
    let (status, agent) = call(first.api(Method::POST, "/agents").json(&json!({
        "name": "Caller", "system_prompt": "You offer a check-up.",
        "greeting": "Hello, this is Harbor Lane Dental calling."
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let (status, campaign) = call(first.api(Method::POST, "/campaigns").json(&json!({
        "name": "Crash", "agent_id": agent["data"]["id"], "max_concurrent_calls": CONTACTS,
        "retry": {"max_attempts": 2, "delay_minutes": 0, "on": ["failed"]}
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["data"]["id"].as_str().unwrap().to_owned();
    let contacts: Vec<Value> = (0..CONTACTS)
        .map(|i| json!({"phone": format!("+1500558{i:04}")}))
        .collect();
    let (status, added) = call(
        first
            .api(Method::POST, &format!("/campaigns/{id}/contacts/bulk"))
            .json(&json!({ "contacts": contacts })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let (status, _) = call(first.api(Method::POST, &format!("/campaigns/{id}/start"))).await;
    assert_eq!(status, StatusCode::OK);
    let start = Instant::now();
    loop {
        let live = calls(&first, &id)
            .await
            .iter()
            .filter(|c| c["status"] == "in_progress")
            .count();
        if live == CONTACTS {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{live} live calls"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill();
    let killed_at = Instant::now();
    drop(first);

    let second = start_platform(dir.path(), port, "0.02").await;
    let start = Instant::now();
    let mut retried_after = None;
    let campaign = loop {
        let (_, c) = call(second.api(Method::GET, &format!("/campaigns/{id}"))).await;
        if retried_after.is_none() && calls(&second, &id).await.len() > CONTACTS {
            retried_after = Some(killed_at.elapsed());
        }
        if c["data"]["status"] == "completed" {
            break c["data"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not finished: {c}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // Slots came back within the lease time (plus a sweep and a tick).
    let retried_after = retried_after.expect("retries were placed");
    assert!(
        retried_after < lease::TERM + Duration::from_secs(15),
        "first retry {retried_after:?} after the kill"
    );
    let calls = calls(&second, &id).await;
    assert_eq!(
        calls.len(),
        2 * CONTACTS,
        "one lost call and one retry each"
    );
    let lost: Vec<&Value> = calls
        .iter()
        .filter(|c| c["end_reason"] == "runner_lost")
        .collect();
    assert_eq!(lost.len(), CONTACTS);
    assert!(lost.iter().all(|c| c["status"] == "failed"));
    let mut per_number: HashMap<&str, usize> = HashMap::new();
    for c in &calls {
        *per_number.entry(c["to"].as_str().unwrap()).or_default() += 1;
    }
    assert!(per_number.values().all(|n| *n == 2), "{per_number:?}");
    assert_eq!(campaign["stats"]["by_status"]["completed"], CONTACTS as u64);
    assert_eq!(campaign["stats"]["calls"], 2 * CONTACTS as u64);
    // No slot is held once it is over (read from the store itself).
    let (_, me) = call(second.api(Method::GET, "/auth/me")).await;
    let org = me["data"]["organization"]["id"].as_str().unwrap();
    let table = EmbeddedTable::new(Arc::new(
        Database::open(&dir.path().join("switchboard.db"), 1).unwrap(),
    ));
    let now = chrono::Utc::now().timestamp_millis();
    for pk in [
        format!("T#{org}#L#CAMPSLOTS#{id}"),
        format!("T#{org}#L#ORGCAMPSLOTS"),
    ] {
        let slots = table
            .query(Query::partition(pk.as_str()))
            .await
            .unwrap()
            .items;
        let held = slots
            .iter()
            .filter(|i| i.data["expires_at_ms"].as_i64().is_some_and(|e| e > now))
            .count();
        assert_eq!(held, 0, "{pk}: {slots:?}");
    }
}
