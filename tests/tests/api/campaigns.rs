//! Campaigns (SPEC §9) end to end on the simulated carrier: every persona's
//! status and outcome with retries per the policy, the do-not-call list,
//! concurrency bounded per campaign and per org, closed windows, two ticks
//! at once, contacts in bulk and from CSV, the export, and isolation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::campaigns::{dialer, slots};
use switchboard_tests::receiver::Receiver;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, config};

backend_tests!(
    every_persona_ends_right_and_do_not_call_sticks,
    a_callback_is_dialed_when_the_callee_asked,
    concurrency_stays_within_the_campaign_and_org_limits,
    a_closed_window_dials_nothing_until_it_opens,
    two_ticks_at_once_dial_each_contact_once,
    a_late_started_event_does_not_settle_a_contact,
    contacts_in_bulk_and_from_csv,
    states_exports_and_isolation,
);

/// How long a campaign may take to finish in these tests (moto is slow
/// when every test runs at once).
const WAIT: Duration = Duration::from_secs(180);

/// The platform with sim calls `scale` times real time, a quick scheduler,
/// and webhook deliveries allowed to reach a receiver on 127.0.0.1.
async fn spawn(backend: Backend, scale: f64) -> TestApp {
    let (mut config, dir) = config(backend).await;
    config.sim_time_scale = scale;
    config.scheduler_interval_ms = 500;
    config.outbound_allow = "127.0.0.1".into();
    TestApp::spawn_with(config, dir).await
}

async fn tenant(t: &TestApp) -> Tenant {
    let (_, me) = call(t.api(Method::GET, "/auth/me")).await;
    Tenant {
        org_id: me["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        mode: Mode::Live,
    }
}

async fn agent(t: &TestApp) -> String {
    let body = json!({
        "name": "Caller", "system_prompt": "You offer a free dental check-up.",
        "greeting": "Hello, this is Harbor Lane Dental calling.",
    });
    let (status, a) = call(t.api(Method::POST, "/agents").json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    a["data"]["id"].as_str().unwrap().to_owned()
}

async fn campaign(t: &TestApp, body: Value) -> String {
    let (status, c) = call(t.api(Method::POST, "/campaigns").json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["data"]["status"], "draft");
    c["data"]["id"].as_str().unwrap().to_owned()
}

async fn bulk(t: &TestApp, id: &str, contacts: Value) -> Value {
    let (status, s) = call(
        t.api(Method::POST, &format!("/campaigns/{id}/contacts/bulk"))
            .json(&json!({ "contacts": contacts })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    s["data"].clone()
}

async fn act(t: &TestApp, id: &str, action: &str) -> (StatusCode, Value) {
    call(t.api(Method::POST, &format!("/campaigns/{id}/{action}"))).await
}

/// Polls the campaign until `done` holds (at most [`WAIT`]).
async fn until(t: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = call(t.api(Method::GET, &format!("/campaigns/{id}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body["data"]) {
            return body["data"].clone();
        }
        assert!(start.elapsed() < WAIT, "timed out: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every contact of a campaign by phone.
async fn contacts(t: &TestApp, id: &str) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut offset = 0;
    loop {
        let (status, page) = call(t.api(
            Method::GET,
            &format!("/campaigns/{id}/contacts?limit=100&offset={offset}"),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["data"].as_array().unwrap();
        for c in items {
            out.insert(c["phone"].as_str().unwrap().to_owned(), c.clone());
        }
        if items.len() < 100 {
            return out;
        }
        offset += 100;
    }
}

/// Every call of a campaign.
async fn calls_of(t: &TestApp, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/calls?campaign_id={id}&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = call(t.api(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["meta"]["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// The most calls that were live at one instant: each call holds its slot
/// from placement (`started_at`) to its end (`ended_at`).
fn peak(calls: &[Value]) -> usize {
    let mut edges: Vec<(String, i32)> = Vec::new();
    for c in calls {
        edges.push((c["started_at"].as_str().unwrap().to_owned(), 1));
        edges.push((c["ended_at"].as_str().expect("ended").to_owned(), -1));
    }
    // At the same millisecond an end comes first: the slot was freed first.
    edges.sort();
    let (mut live, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        live += d;
        most = most.max(live);
    }
    most as usize
}

fn persona(n: u32) -> String {
    format!("+150055500{n:02}")
}

async fn every_persona_ends_right_and_do_not_call_sticks(backend: Backend) {
    let t = spawn(backend, 0.02).await;
    let receiver = Receiver::start(0, 200).await;
    let (status, hook) = call(
        t.api(Method::POST, "/webhooks")
            .json(&json!({"url": receiver.url, "events": ["campaign.completed"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let agent_id = agent(&t).await;
    let id = campaign(
        &t,
        json!({"name": "Check-ups", "agent_id": agent_id, "max_concurrent_calls": 12,
               "retry": {"max_attempts": 2, "delay_minutes": 0}}),
    )
    .await;
    // Every persona of SPEC §15 but the callback (tested on its own: its
    // retry is due tomorrow morning).
    let list: Vec<Value> = (1..=12)
        .filter(|n| *n != 8)
        .map(|n| json!({"phone": persona(n), "name": format!("P{n}")}))
        .collect();
    let added = bulk(&t, &id, Value::Array(list)).await;
    assert_eq!(added["added"], 11, "{added}");
    let (status, started) = act(&t, &id, "start").await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["data"]["status"], "running");
    let done = until(&t, &id, |c| c["status"] == "completed").await;

    let got = contacts(&t, &id).await;
    let calls = calls_of(&t, &id).await;
    // (status, outcome, attempts): the retried ones were called twice.
    let want = [
        (1, "completed", "unknown", 1),
        (2, "busy", "no_answer", 2),
        (3, "no_answer", "no_answer", 2),
        (4, "voicemail", "voicemail", 2),
        (5, "completed", "unknown", 1),
        (6, "completed", "do_not_call", 1),
        (7, "completed", "interested", 1),
        (9, "completed", "not_interested", 1),
        (10, "failed", "unknown", 2),
        (11, "completed", "no_answer", 2),
        (12, "completed", "unknown", 1),
    ];
    for (n, status, outcome, attempts) in want {
        let c = &got[&persona(n)];
        assert_eq!(
            (
                c["status"].as_str(),
                c["outcome"].as_str(),
                c["attempts"].as_u64()
            ),
            (Some(status), Some(outcome), Some(attempts)),
            "persona {n}: {c}; its calls: {:?}",
            calls
                .iter()
                .filter(|k| k["to"] == persona(n))
                .map(|k| (&k["end_reason"], &k["report"]["outcome"], &k["transcript"]))
                .collect::<Vec<_>>()
        );
        assert!(c["next_attempt_at"].is_null(), "{c}");
        assert!(c["crm_contact_id"].is_string(), "linked to the CRM: {c}");
    }
    assert_eq!(calls.len(), 16, "11 first calls and 5 retries");
    // The counters agree with the contacts.
    let stats = &done["stats"];
    assert_eq!(stats["total_contacts"], 11);
    assert_eq!(stats["calls"], 16);
    assert_eq!(stats["by_status"]["completed"], 7);
    assert_eq!(stats["by_status"]["pending"], 0);
    assert_eq!(stats["by_outcome"]["interested"], 1);
    assert_eq!(stats["by_outcome"]["no_answer"], 3);
    let answered = calls
        .iter()
        .filter(|c| c["answered_at"].is_string())
        .count();
    assert_eq!(stats["answered"], answered as u64);
    assert!((stats["answer_rate"].as_f64().unwrap() - answered as f64 / 16.0).abs() < 1e-9);
    assert!(stats["avg_duration_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(
        slots::held_slots(&t.app, &tenant(&t).await, &id)
            .await
            .unwrap(),
        0
    );
    // campaign.completed reached the org's endpoint.
    let delivered = receiver.wait_for(1, Duration::from_secs(30)).await;
    let body = delivered[0].json();
    assert_eq!(body["type"], "campaign.completed", "{body}");
    assert_eq!(body["data"]["id"], id);
    assert_eq!(body["data"]["status"], "completed");

    // The do-not-call persona is do-not-call in the CRM: another campaign
    // skips it and never dials it.
    let tenant = tenant(&t).await;
    assert!(
        switchboard::services::contacts::is_do_not_call(&t.app, &tenant, &persona(6))
            .await
            .unwrap()
    );
    let again = campaign(&t, json!({"name": "Again", "agent_id": agent_id})).await;
    bulk(
        &t,
        &again,
        json!([{"phone": persona(6)}, {"phone": persona(7)}]),
    )
    .await;
    act(&t, &again, "start").await;
    until(&t, &again, |c| c["status"] == "completed").await;
    let got = contacts(&t, &again).await;
    assert_eq!(got[&persona(6)]["status"], "skipped_dnc");
    assert_eq!(got[&persona(6)]["attempts"], 0);
    let dialed: Vec<Value> = calls_of(&t, &again).await;
    assert_eq!(dialed.len(), 1);
    assert_eq!(dialed[0]["to"], persona(7));
}

async fn a_callback_is_dialed_when_the_callee_asked(backend: Backend) {
    let t = spawn(backend, 0.02).await;
    let agent_id = agent(&t).await;
    let id = campaign(
        &t,
        json!({"name": "Callbacks", "agent_id": agent_id,
               "schedule": {"timezone": "America/New_York"}}),
    )
    .await;
    bulk(&t, &id, json!([{"phone": persona(8)}])).await;
    act(&t, &id, "start").await;
    let start = Instant::now();
    let c = loop {
        let got = contacts(&t, &id).await;
        let c = got[&persona(8)].clone();
        if c["outcome"].is_string() {
            break c;
        }
        assert!(start.elapsed() < WAIT, "{c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(c["outcome"], "callback_requested", "{c}");
    assert_eq!(c["attempts"], 1);
    // "Tomorrow morning" in the campaign's time zone: 09:00 New York time.
    let at = chrono::DateTime::parse_from_rfc3339(c["next_attempt_at"].as_str().unwrap()).unwrap();
    let local = at.with_timezone(&chrono_tz::America::New_York);
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    assert_eq!(local.date_naive(), today.succ_opt().unwrap(), "{c}");
    assert_eq!(local.format("%H:%M").to_string(), "09:00");
    let (_, running) = call(t.api(Method::GET, &format!("/campaigns/{id}"))).await;
    assert_eq!(
        running["data"]["status"], "running",
        "a callback is still to come"
    );
}

async fn concurrency_stays_within_the_campaign_and_org_limits(backend: Backend) {
    let t = spawn(backend, 0.05).await;
    let (status, _) = call(
        t.api(Method::POST, "/settings/workspace")
            .json(&json!({"max_concurrent_campaign_calls": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let agent_id = agent(&t).await;
    let mut ids = Vec::new();
    for k in 0..2 {
        let id = campaign(
            &t,
            json!({"name": format!("Wave {k}"), "agent_id": agent_id, "max_concurrent_calls": 4}),
        )
        .await;
        // Cooperative callees (any number not in the persona table).
        let list: Vec<Value> = (0..10)
            .map(|i| json!({"phone": format!("+1500556{k}{i:03}")}))
            .collect();
        bulk(&t, &id, Value::Array(list)).await;
        ids.push(id);
    }
    for id in &ids {
        act(&t, id, "start").await;
    }
    let mut all = Vec::new();
    for id in &ids {
        until(&t, id, |c| c["status"] == "completed").await;
        let calls = calls_of(&t, id).await;
        assert_eq!(calls.len(), 10);
        let most = peak(&calls);
        assert!(most <= 4, "campaign peak {most}");
        all.extend(calls);
    }
    let most = peak(&all);
    assert!(most <= 5, "org peak {most}");
    assert!(most >= 2, "calls ran side by side (peak {most})");
    let tenant = tenant(&t).await;
    for id in &ids {
        assert_eq!(
            slots::held_slots(&t.app, &tenant, id).await.unwrap(),
            0,
            "no slot leaked"
        );
    }
}

async fn a_closed_window_dials_nothing_until_it_opens(backend: Backend) {
    let t = spawn(backend, 0.02).await;
    let agent_id = agent(&t).await;
    // Open only on a day that is not today in Tokyo.
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Tokyo);
    use chrono::Datelike;
    let other = days[(today.weekday().num_days_from_monday() as usize + 2) % 7];
    let id = campaign(
        &t,
        json!({"name": "Closed", "agent_id": agent_id, "schedule": {"timezone": "Asia/Tokyo",
               "windows": [{"days": [other], "start": "00:00", "end": "24:00"}]}}),
    )
    .await;
    bulk(&t, &id, json!([{"phone": persona(7)}])).await;
    act(&t, &id, "start").await;
    let tenant = tenant(&t).await;
    let ticked = dialer::tick(&t.app, &tenant, &id).await.unwrap();
    assert!(ticked.dialed.is_empty());
    assert!(
        ticked.next.unwrap() > Duration::from_secs(60),
        "waits for the window"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(calls_of(&t, &id).await.is_empty(), "nothing dialed");
    assert_eq!(contacts(&t, &id).await[&persona(7)]["status"], "pending");
    // Opening the window lets it dial.
    let (status, body) = call(
        t.api(Method::PATCH, &format!("/campaigns/{id}")).json(&json!({"schedule":
            {"timezone": "Asia/Tokyo", "windows": [{"days": days, "start": "00:00", "end": "24:00"}]}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until(&t, &id, |c| c["status"] == "completed").await;
    assert_eq!(calls_of(&t, &id).await.len(), 1);
}

async fn two_ticks_at_once_dial_each_contact_once(backend: Backend) {
    // Calls last long enough that none ends during the ticks.
    let t = spawn(backend, 1.0).await;
    let agent_id = agent(&t).await;
    let id = campaign(
        &t,
        json!({"name": "Race", "agent_id": agent_id, "max_concurrent_calls": 20}),
    )
    .await;
    let list: Vec<Value> = (0..10)
        .map(|i| json!({"phone": format!("+1500557{i:04}")}))
        .collect();
    bulk(&t, &id, Value::Array(list)).await;
    act(&t, &id, "start").await;
    let tenant = tenant(&t).await;
    // Four ticks race each other (and the queue's own chain).
    let ticks = join_all((0..4).map(|_| dialer::tick(&t.app, &tenant, &id))).await;
    let placed: usize = ticks.into_iter().map(|r| r.unwrap().dialed.len()).sum();
    assert!(placed <= 10, "placed {placed}");
    // The queue's chain dials whatever the racing ticks left.
    let start = Instant::now();
    while contacts(&t, &id).await.values().any(|c| c["attempts"] == 0) {
        assert!(start.elapsed() < WAIT, "not all dialed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = calls_of(&t, &id).await;
    assert_eq!(calls.len(), 10, "one call per contact");
    for c in contacts(&t, &id).await.values() {
        assert_eq!(c["attempts"], 1, "{c}");
    }
    act(&t, &id, "cancel").await;
}

async fn a_late_started_event_does_not_settle_a_contact(backend: Backend) {
    // A `call.started` handled after its call ended sees the call ended but
    // without its report: only the end event (report written) settles it.
    let t = spawn(backend, 1.0).await;
    let agent_id = agent(&t).await;
    let id = campaign(&t, json!({"name": "Late", "agent_id": agent_id})).await;
    bulk(&t, &id, json!([{"phone": persona(7)}])).await;
    act(&t, &id, "start").await;
    let start = Instant::now();
    let placed = loop {
        if let Some(c) = calls_of(&t, &id).await.first() {
            break c["id"].as_str().unwrap().to_owned();
        }
        assert!(start.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let tenant = tenant(&t).await;
    let (mut ended, _) = switchboard::services::calls::load(&t.app, &tenant, &placed)
        .await
        .unwrap();
    ended.status = switchboard::domain::call::CallStatus::Completed;
    ended.report = None;
    switchboard::services::campaigns::after_call(&t.app, &tenant, &ended)
        .await
        .unwrap();
    let c = &contacts(&t, &id).await[&persona(7)];
    assert!(
        c["status"] == "queued" || c["status"] == "calling",
        "still in flight: {c}"
    );
    assert!(c["outcome"].is_null(), "{c}");
    act(&t, &id, "cancel").await;
}

async fn contacts_in_bulk_and_from_csv(backend: Backend) {
    let t = spawn(backend, 0.02).await;
    let agent_id = agent(&t).await;
    let id = campaign(&t, json!({"name": "Lists", "agent_id": agent_id})).await;
    let summary = bulk(
        &t,
        &id,
        json!([
            {"phone": "+14155550101", "name": "Ann", "variables": {"plan": "gold"}},
            {"phone": "+1 415 555 0101"},
            {"phone": "555"},
            {"phone": "+14155550102", "email": "bad"},
            {"name": "no phone"},
            {"phone": "+14155550103", "email": "bo@example.com"}
        ]),
    )
    .await;
    assert_eq!(summary["added"], 2, "{summary}");
    assert_eq!(summary["duplicates"], 1);
    let invalid: Vec<u64> = summary["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(invalid, [2, 3, 4]);
    assert!(
        summary["invalid"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("phone")
    );
    // Adding the same phone again is a duplicate, one at a time a 409.
    let again = bulk(&t, &id, json!([{"phone": "+14155550101"}])).await;
    assert_eq!(
        (again["added"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    let (status, body) = call(
        t.api(Method::POST, &format!("/campaigns/{id}/contacts"))
            .json(&json!({"phone": "+14155550103"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_error_body(&body);
    let (status, one) = call(
        t.api(Method::POST, &format!("/campaigns/{id}/contacts"))
            .json(&json!({"phone": "+14155550104", "name": "Cy"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{one}");
    assert_eq!(one["data"]["status"], "pending");
    assert!(one["data"]["crm_contact_id"].is_string());
    let (status, body) = call(
        t.api(Method::POST, &format!("/campaigns/{id}/contacts"))
            .json(&json!({"phone": "12"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["details"]["fields"]["phone"].is_string(), "{body}");

    // Over 10,000 is a 413.
    let big: Vec<Value> = (0..10_001)
        .map(|i| json!({"phone": format!("+1416{i:07}")}))
        .collect();
    let (status, body) = call(
        t.api(Method::POST, &format!("/campaigns/{id}/contacts/bulk"))
            .json(&json!({"contacts": big})),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_error_body(&body);

    // CSV: BOM, `;`, quotes with separators and line breaks, CRLF, row numbers.
    let csv = "\u{feff}phone;name;email;plan\r\n\
        +14155550201;\"Doe; Jane\";jane@example.com;gold\r\n\
        +14155550202;\"Two\r\nlines\";;silver\r\n\
        oops;Bad;;\r\n\
        +14155550201;Dup;;\r\n\
        +14155550203;Eve;eve@;\r\n";
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("list.csv"),
    );
    let (status, up) = call(
        t.api(
            Method::POST,
            &format!("/campaigns/{id}/contacts/upload-csv"),
        )
        .multipart(form),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    assert_eq!(up["data"]["added"], 2, "{up}");
    assert_eq!(up["data"]["duplicates"], 1);
    let rows: Vec<u64> = up["data"]["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [4, 6], "{up}");
    let got = contacts(&t, &id).await;
    assert_eq!(got["+14155550201"]["name"], "Doe; Jane");
    assert_eq!(got["+14155550201"]["variables"]["plan"], "gold");
    assert_eq!(got["+14155550202"]["name"], "Two\r\nlines");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"name,email\nAnn,a@example.com\n".to_vec()),
    );
    let (status, body) = call(
        t.api(
            Method::POST,
            &format!("/campaigns/{id}/contacts/upload-csv"),
        )
        .multipart(form),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["details"]["fields"]["file"]
            .as_str()
            .unwrap()
            .contains("phone")
    );

    // Filters.
    let (_, pending) = call(t.api(
        Method::GET,
        &format!("/campaigns/{id}/contacts?status=pending&limit=100"),
    ))
    .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 5);
    let (_, none) = call(t.api(
        Method::GET,
        &format!("/campaigns/{id}/contacts?outcome=interested"),
    ))
    .await;
    assert!(none["data"].as_array().unwrap().is_empty());
    let (status, body) = call(t.api(
        Method::GET,
        &format!("/campaigns/{id}/contacts?status=happy"),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Each bulk item is read on its own: one that is not an object, or has
    // an unknown key, is listed; a bad wrapper is a 422 naming the key.
    let odd = bulk(
        &t,
        &id,
        json!([7, {"phone": "+14155550105", "colour": 1}, null]),
    )
    .await;
    assert_eq!(odd["added"], 0, "{odd}");
    let errors: Vec<&str> = odd["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["error"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "must be an object with at least a phone",
            "colour: is not a contact field",
            "must be an object with at least a phone"
        ]
    );
    let path = format!("/campaigns/{id}/contacts/bulk");
    for (wrapper, field) in [
        (json!({"contacts": [], "extra": 1}), "extra"),
        (json!({"contacts": "x"}), "contacts"),
    ] {
        let (status, body) = call(t.api(Method::POST, &path).json(&wrapper)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["details"]["fields"][field].is_string(), "{body}");
    }
}

async fn states_exports_and_isolation(backend: Backend) {
    let t = spawn(backend, 0.02).await;
    let agent_id = agent(&t).await;
    let (status, body) =
        call(t.api(Method::POST, "/campaigns").json(
            &json!({"name": "x", "agent_id": agent_id, "schedule": {"timezone": "Mars/Base"}}),
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["details"]["fields"]["schedule.timezone"].is_string(),
        "{body}"
    );
    let id = campaign(
        &t,
        json!({"name": "States", "agent_id": agent_id, "retry": {"max_attempts": 1}}),
    )
    .await;
    // A PATCH names every bad field at once (an unknown key included) and
    // changes nothing; null restores a default, an absent field is kept, and
    // a body read back from a GET is a valid PATCH.
    let path = format!("/campaigns/{id}");
    let (status, body) = call(t.api(Method::PATCH, &path).json(&json!({"name": null,
        "max_concurrent_calls": 0, "retry": {"max_attempts": 50}, "context_defaults": [1],
        "schedule": 5, "colour": "red"})))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_body(&body);
    let fields = body["details"]["fields"].as_object().unwrap();
    assert_eq!(fields["name"], "is required");
    assert_eq!(
        fields["max_concurrent_calls"],
        "must be an integer from 1 to 500"
    );
    assert_eq!(
        fields["retry.max_attempts"],
        "must be a number from 1 to 10"
    );
    assert_eq!(fields["context_defaults"], "must be an object");
    assert_eq!(fields["colour"], "is not a campaign field");
    assert!(fields["schedule"].is_string(), "{fields:?}");
    assert_eq!(fields.len(), 6, "{fields:?}");
    let (status, body) = call(t.api(Method::PATCH, &path).json(&json!({"description": "d",
        "max_concurrent_calls": 3})))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        t.api(Method::PATCH, &path)
            .json(&json!({"description": null,
        "max_concurrent_calls": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = &body["data"];
    assert_eq!(
        (&c["description"], &c["max_concurrent_calls"]),
        (&json!(null), &json!(5))
    );
    assert_eq!(
        (&c["name"], &c["retry"]["max_attempts"]),
        (&json!("States"), &json!(1))
    );
    let (status, body) = call(t.api(Method::PATCH, &path).json(c)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a read body is a valid body: {body}"
    );
    for wrong in ["pause", "resume"] {
        let (status, body) = act(&t, &id, wrong).await;
        assert_eq!(status, StatusCode::CONFLICT, "{wrong}: {body}");
        assert_error_body(&body);
    }
    bulk(
        &t,
        &id,
        json!([{"phone": persona(7), "name": "=HYPERLINK(\"http://evil\")"},
               {"phone": persona(9), "name": "@SUM(A1)", "variables": {"note": "-2+3"}}]),
    )
    .await;
    act(&t, &id, "start").await;
    let (status, body) = call(t.api(Method::DELETE, &format!("/campaigns/{id}"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "running: {body}");
    let (status, _) = act(&t, &id, "start").await;
    assert_eq!(status, StatusCode::CONFLICT);
    until(&t, &id, |c| c["status"] == "completed").await;
    let (status, _) = act(&t, &id, "cancel").await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a completed campaign stays completed"
    );

    // Results and the export.
    let (status, results) = call(t.api(Method::GET, &format!("/campaigns/{id}/results"))).await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert_eq!(results["data"]["stats"]["by_outcome"]["interested"], 1);
    assert_eq!(results["data"]["interested"][0]["phone"], persona(7));
    let resp = t
        .api(Method::GET, &format!("/campaigns/{id}/results/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = resp.text().await.unwrap();
    let mut reader = csv_rows(&text);
    let header = reader.remove(0);
    assert_eq!(header[1], "phone");
    for row in &reader {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a formula cell reached the export: {cell:?}"
            );
        }
    }
    let ann = reader
        .iter()
        .find(|r| r[1] == format!("'{}", persona(7)))
        .unwrap();
    assert_eq!(ann[2], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(ann[4], "completed");
    assert_eq!(ann[5], "interested");

    // Cancel marks what is left cancelled at once; delete removes contacts.
    let later = campaign(
        &t,
        json!({"name": "Later", "agent_id": agent_id,
               "schedule": {"start_at": "2099-01-01T00:00:00Z"}}),
    )
    .await;
    bulk(
        &t,
        &later,
        json!([{"phone": persona(1)}, {"phone": persona(7)}]),
    )
    .await;
    act(&t, &later, "start").await;
    let (status, cancelled) = act(&t, &later, "cancel").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["data"]["status"], "cancelled");
    assert_eq!(cancelled["data"]["stats"]["by_status"]["cancelled"], 2);
    for c in contacts(&t, &later).await.values() {
        assert_eq!(c["status"], "cancelled");
    }
    let (status, _) = call(t.api(Method::DELETE, &format!("/campaigns/{later}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.api(Method::GET, &format!("/campaigns/{later}/contacts"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let tenant = tenant(&t).await;
    let left = t
        .app
        .table
        .query(
            switchboard::store::Query::partition(tenant.pk())
                .prefix(format!("CAMPCONTACT#{later}#")),
        )
        .await
        .unwrap();
    assert!(left.items.is_empty(), "its contacts are gone");

    // Another org sees none of it.
    let (cookie, _) = t.signup("other@example.com").await;
    for path in [
        format!("/campaigns/{id}"),
        format!("/campaigns/{id}/contacts"),
        format!("/campaigns/{id}/results"),
        format!("/campaigns/{id}/results/export"),
    ] {
        let (status, body) = call(t.session(Method::GET, &path, &cookie)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) =
        call(t.session(Method::POST, &format!("/campaigns/{id}/cancel"), &cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A CSV document's rows (quoted fields with separators and line breaks).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = vec![];
    let mut row = vec![];
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', q) => quoted = !q,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    rows
}

/// The bulk limit itself: 10,000 contacts in one request are all added, in
/// batched writes (embedded store; the time is printed, the release figure
/// is in BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_contacts_in_one_bulk_request() {
    let t = spawn(Backend::Embedded, 0.02).await;
    let agent_id = agent(&t).await;
    let id = campaign(&t, json!({"name": "Big", "agent_id": agent_id})).await;
    let list: Vec<Value> = (0..10_000)
        .map(|i| json!({"phone": format!("+1417{i:07}"), "name": format!("C{i}")}))
        .collect();
    let start = Instant::now();
    let summary = bulk(&t, &id, Value::Array(list)).await;
    println!(
        "bulk add of 10,000 contacts (debug build): {:?}",
        start.elapsed()
    );
    assert_eq!(summary["added"], 10_000, "{summary}");
    let (_, c) = call(t.api(Method::GET, &format!("/campaigns/{id}"))).await;
    assert_eq!(c["data"]["stats"]["total_contacts"], 10_000);
    assert_eq!(c["data"]["stats"]["by_status"]["pending"], 10_000);
}
