//! Tasks (SPEC §8) and calls (SPEC §10) end to end: the README story on the
//! simulated carrier, the execute race, wrong states, the scheduler, a lost
//! runner, filters and isolation.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::calls::{lease, post_call};
use switchboard::services::events::Event;
use switchboard::services::scheduler;
use switchboard::services::table_keys::{CALL_LEASES_PK, call_lease_sk};
use switchboard::store::Condition;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, config};

backend_tests!(
    a_test_mode_task_calls_and_reports,
    fifty_executes_place_one_call,
    wrong_states_are_conflicts,
    two_ticks_start_a_due_task_once,
    a_lost_runner_fails_its_call,
    calls_filter_and_stay_in_their_org,
    a_finished_call_sends_its_signed_task_webhook,
);

async fn tenant(t: &TestApp, mode: Mode) -> Tenant {
    let (_, me) = call(t.api(Method::GET, "/auth/me")).await;
    Tenant {
        org_id: me["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        mode,
    }
}

async fn agent(t: &TestApp, q: &str) -> String {
    let body = json!({
        "name": "Booker", "system_prompt": "You book dentist appointments.",
        "greeting": "Hello, this is Harbor Lane Dental calling.",
        "data_extraction": [
            {"name": "caller_name", "type": "string", "description": "Their name"},
            {"name": "wants_appointment", "type": "boolean", "description": "Wants to book"}
        ]
    });
    let (status, a) = call(t.api(Method::POST, &format!("/agents{q}")).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    a["data"]["id"].as_str().unwrap().to_owned()
}

async fn task(t: &TestApp, q: &str, body: Value) -> Value {
    let (status, created) = call(t.api(Method::POST, &format!("/tasks{q}")).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"].clone()
}

/// Polls `path` until `done` holds for its `data` (at most 20 s).
async fn until(t: &TestApp, path: &str, mut done: impl FnMut(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = call(t.api(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body["data"]) {
            return body["data"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out on {path}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_test_mode_task_calls_and_reports(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.05).await;
    let agent_id = agent(&t, "?mode=test").await;
    let task = task(
        &t,
        "?mode=test",
        json!({"agent_id": agent_id, "to_number": "+15005550007", "name": "Follow up",
               "context_data": {"customer_name": "Ann"}}),
    )
    .await;
    assert_eq!(task["status"], "pending");
    let id = task["id"].as_str().unwrap();
    let (status, started) =
        call(t.api(Method::POST, &format!("/tasks/{id}/execute?mode=test"))).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["data"]["message"], "Call initiated");
    let call_id = started["data"]["call_id"].as_str().unwrap().to_owned();

    // Watch it live: statuses only move forward and it completes.
    let order = ["initiated", "in_progress", "completed"];
    let mut seen: Vec<String> = Vec::new();
    let done = until(&t, &format!("/calls/{call_id}?mode=test"), |c| {
        let s = c["status"].as_str().unwrap_or("").to_owned();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        s == "completed" || s == "failed"
    })
    .await;
    let steps: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap_or(usize::MAX))
        .collect();
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "statuses went {seen:?}"
    );
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["direction"], "outbound");
    assert_eq!(done["task_id"], id);
    assert_eq!(done["to"], "+15005550007");
    assert!(done["answered_at"].is_string() && done["ended_at"].is_string());
    let transcript = done["transcript"].as_array().unwrap();
    assert_eq!(transcript[0]["seq"], 1);
    assert_eq!(transcript[0]["role"], "agent");
    assert_eq!(
        transcript[0]["text"],
        "Hello, this is Harbor Lane Dental calling."
    );

    // The post-call job writes the report and finishes the task.
    let reported = until(&t, &format!("/calls/{call_id}?mode=test"), |c| {
        c["report"].is_object()
    })
    .await;
    let extracted = reported["report"]["extracted_data"].as_object().unwrap();
    let mut keys: Vec<&str> = extracted.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["caller_name", "wants_appointment"]);
    until(&t, &format!("/tasks/{id}?mode=test"), |t| {
        t["status"] == "completed"
    })
    .await;
    let (_, got) = call(t.api(Method::GET, &format!("/tasks/{id}?mode=test"))).await;
    assert_eq!(
        got["data"]["agent"]["id"],
        agent_id.as_str(),
        "a task shows its agent"
    );
    assert_eq!(got["data"]["call_id"], call_id.as_str());

    let (status, tr) = call(t.api(
        Method::GET,
        &format!("/calls/{call_id}/transcript?mode=test"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tr["data"]["transcript"], reported["transcript"]);
    let (status, report) =
        call(t.api(Method::GET, &format!("/calls/{call_id}/report?mode=test"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["data"], reported["report"]);
    let (status, rebuilt) = call(t.api(
        Method::POST,
        &format!("/calls/{call_id}/transcript?mode=test"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{rebuilt}");
    assert_eq!(rebuilt["data"]["transcript"], reported["transcript"]);
    assert_eq!(
        rebuilt["data"]["extracted_data"],
        reported["report"]["extracted_data"]
    );

    // Counted once, per day and per agent (the sandbox's demo calls count
    // under their own agent).
    let tenant = tenant(&t, Mode::Test).await;
    let day = &done["started_at"].as_str().unwrap()[..10];
    let counter = |name: String| {
        let (app, tenant) = (t.app.clone(), tenant.clone());
        async move { post_call::counter(&app, &tenant, day, &name).await.unwrap() }
    };
    assert_eq!(counter(format!("AGENT#{agent_id}#calls")).await, 1);
    assert_eq!(
        counter(format!("AGENT#{agent_id}#status#completed")).await,
        1
    );
    let outcome = reported["report"]["outcome"].as_str().unwrap();
    assert_eq!(
        counter(format!("AGENT#{agent_id}#outcome#{outcome}")).await,
        1
    );
    assert_eq!(
        counter("ALL#status#completed".into()).await,
        3,
        "with the 2 demo calls"
    );
    assert!(
        lease::live(&t.app, &tenant).await.unwrap().is_empty(),
        "no live call left"
    );
}

async fn fifty_executes_place_one_call(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.0).await;
    let agent_id = agent(&t, "").await;
    let task = task(
        &t,
        "",
        json!({"agent_id": agent_id, "to_number": "+15005550001"}),
    )
    .await;
    let id = task["id"].as_str().unwrap();
    let requests = (0..50).map(|_| call(t.api(Method::POST, &format!("/tasks/{id}/execute"))));
    let results = join_all(requests).await;
    let created: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "exactly one call starts");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_error_body(body);
    }
    let (_, calls) = call(t.api(Method::GET, &format!("/calls?task_id={id}"))).await;
    let calls = calls["data"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"], created[0]["data"]["call_id"]);
}

async fn wrong_states_are_conflicts(backend: Backend) {
    // Real time: the call stays unanswered long enough to act on it.
    let t = TestApp::spawn_sim(backend, 1.0).await;
    let agent_id = agent(&t, "").await;
    let task = task(
        &t,
        "",
        json!({"agent_id": agent_id, "to_number": "+15005550001"}),
    )
    .await;
    let id = task["id"].as_str().unwrap();
    let (status, _) = call(t.api(Method::POST, &format!("/tasks/{id}/reset"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a pending task is not reset");
    let (status, patched) = call(
        t.api(Method::PATCH, &format!("/tasks/{id}"))
            .json(&json!({"priority": 7, "name": "Renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["priority"], 7);
    let (status, bad) = call(
        t.api(Method::PATCH, &format!("/tasks/{id}"))
            .json(&json!({"to_number": "12"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad["details"]["fields"]["to_number"].is_string());

    let (_, started) = call(t.api(Method::POST, &format!("/tasks/{id}/execute"))).await;
    let call_id = started["data"]["call_id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/tasks/{id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/tasks/{id}"), None),
        (Method::POST, format!("/tasks/{id}/execute"), None),
    ] {
        let mut req = t.api(method.clone(), &path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, err) = call(req).await;
        assert_eq!(status, StatusCode::CONFLICT, "{method} {path}: {err}");
        assert_error_body(&err);
    }
    let (status, cancelled) = call(t.api(Method::POST, &format!("/calls/{call_id}/cancel"))).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["data"]["status"], "failed");
    assert_eq!(cancelled["data"]["end_reason"], "cancelled");
    for action in ["end", "cancel"] {
        let (status, _) = call(t.api(Method::POST, &format!("/calls/{call_id}/{action}"))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{action} of an ended call");
    }
    until(&t, &format!("/tasks/{id}"), |t| t["status"] == "failed").await;
    // It stays failed: the runner's own ending lost to the cancel.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let (_, after) = call(t.api(Method::GET, &format!("/calls/{call_id}"))).await;
    assert_eq!(after["data"]["end_reason"], "cancelled");

    let (status, reset) = call(t.api(Method::POST, &format!("/tasks/{id}/reset"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reset["data"]["status"], "pending");
    let (status, _) = call(t.api(Method::DELETE, &format!("/tasks/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "a pending task can be deleted");
    let (status, _) = call(t.api(Method::GET, &format!("/tasks/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn two_ticks_start_a_due_task_once(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.0).await;
    let agent_id = agent(&t, "").await;
    let due = task(
        &t,
        "",
        json!({"agent_id": agent_id, "to_number": "+15005550001", "scheduled_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let later = task(
        &t,
        "",
        json!({"agent_id": agent_id, "to_number": "+15005550001", "scheduled_at": "2999-01-01T00:00:00+01:00"}),
    )
    .await;
    assert_eq!(later["scheduled_at"], "2998-12-31T23:00:00.000Z");
    let (a, b) = tokio::join!(scheduler::tick(&t.app), scheduler::tick(&t.app));
    let started = a.unwrap().started.len() + b.unwrap().started.len();
    assert_eq!(started, 1, "one of the two ticks starts the due task");
    let id = due["id"].as_str().unwrap();
    let (_, calls) = call(t.api(Method::GET, &format!("/calls?task_id={id}"))).await;
    assert_eq!(calls["data"].as_array().unwrap().len(), 1);
    until(&t, &format!("/tasks/{id}"), |t| t["status"] == "completed").await;
    let again = scheduler::tick(&t.app).await.unwrap();
    assert!(again.started.is_empty(), "nothing else is due");
    let (_, later) = call(t.api(
        Method::GET,
        &format!("/tasks/{}", later["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(later["data"]["status"], "pending");
}

async fn a_lost_runner_fails_its_call(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 1.0).await;
    let agent_id = agent(&t, "").await;
    let task = task(
        &t,
        "",
        json!({"agent_id": agent_id, "to_number": "+15005550001"}),
    )
    .await;
    let id = task["id"].as_str().unwrap();
    let (_, started) = call(t.api(Method::POST, &format!("/tasks/{id}/execute"))).await;
    let call_id = started["data"]["call_id"].as_str().unwrap().to_owned();
    let tenant = tenant(&t, Mode::Live).await;
    assert_eq!(
        lease::live(&t.app, &tenant).await.unwrap().len(),
        1,
        "listed live"
    );
    // The runner holding the call "dies": its lease was last renewed long ago.
    let sk = call_lease_sk(&tenant, &call_id);
    // Once a runner holds it.
    let start = Instant::now();
    let mut item = loop {
        let item = t
            .app
            .table
            .get(CALL_LEASES_PK, &sk)
            .await
            .unwrap()
            .expect("a lease");
        if item.data["owner"].is_string() {
            break item;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no runner took the call"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    item.data["owner"] = json!("runner-that-died");
    item.data["expires_at_ms"] = json!(0);
    t.app.table.put(item, Condition::None).await.unwrap();
    let tick = scheduler::tick(&t.app).await.unwrap();
    assert_eq!(tick.lost, 1);
    let (_, got) = call(t.api(Method::GET, &format!("/calls/{call_id}"))).await;
    assert_eq!(got["data"]["status"], "failed");
    assert_eq!(got["data"]["end_reason"], "runner_lost");
    until(&t, &format!("/tasks/{id}"), |t| t["status"] == "failed").await;
    assert!(lease::live(&t.app, &tenant).await.unwrap().is_empty());
    assert_eq!(scheduler::tick(&t.app).await.unwrap().lost, 0, "swept once");

    // The post-call job counts each event once: a redelivery changes nothing.
    let day = got["data"]["started_at"].as_str().unwrap()[..10].to_owned();
    let name = format!("AGENT#{agent_id}#status#failed");
    let failed = || post_call::counter(&t.app, &tenant, &day, &name);
    let start = Instant::now();
    while failed().await.unwrap() == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = failed().await.unwrap();
    assert_eq!(before, 1);
    let event = Event {
        id: "0190f0f0-0000-7000-8000-00000000beef".into(),
        event_type: "call.failed".into(),
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        created_at: "2030-01-01T00:00:00.000Z".into(),
        data: json!({"id": call_id}),
        depth: 0,
    };
    for _ in 0..3 {
        post_call::post_call(&t.app, &event).await.unwrap();
    }
    assert_eq!(
        failed().await.unwrap(),
        before + 1,
        "one more event, counted once"
    );
    let (_, task) = call(t.api(Method::GET, &format!("/tasks/{id}"))).await;
    assert_eq!(task["data"]["status"], "failed");
}

async fn calls_filter_and_stay_in_their_org(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.0).await;
    let a1 = agent(&t, "").await;
    let a2 = agent(&t, "").await;
    let mut call_ids = Vec::new();
    for (agent_id, to, priority) in [(&a1, "+15005550007", 1), (&a2, "+15005550002", 9)] {
        let task = task(
            &t,
            "",
            json!({"agent_id": agent_id, "to_number": to, "priority": priority}),
        )
        .await;
        let id = task["id"].as_str().unwrap();
        let (_, s) = call(t.api(Method::POST, &format!("/tasks/{id}/execute"))).await;
        let cid = s["data"]["call_id"].as_str().unwrap().to_owned();
        until(&t, &format!("/calls/{cid}"), |c| {
            c["status"] == "completed" || c["status"] == "failed"
        })
        .await;
        call_ids.push(cid);
    }
    let pending_low = task(
        &t,
        "",
        json!({"agent_id": a1, "to_number": "+15005550001", "priority": -5}),
    )
    .await;
    let pending_high = task(
        &t,
        "",
        json!({"agent_id": a1, "to_number": "+15005550001", "priority": 50}),
    )
    .await;
    let (_, pending) = call(t.api(Method::GET, "/tasks?status=pending")).await;
    let order: Vec<&Value> = pending["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(
        order,
        [&pending_high["id"], &pending_low["id"]],
        "highest priority first"
    );

    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, all) = call(t.api(Method::GET, "/calls")).await;
    assert_eq!(
        ids(&all),
        [call_ids[1].clone(), call_ids[0].clone()],
        "newest first"
    );
    let (_, by_agent) = call(t.api(Method::GET, &format!("/calls?agent_id={a2}"))).await;
    assert_eq!(ids(&by_agent), [call_ids[1].clone()]);
    for status in ["completed", "failed"] {
        let mut expected = Vec::new();
        for id in call_ids.iter().rev() {
            let (_, c) = call(t.api(Method::GET, &format!("/calls/{id}"))).await;
            if c["data"]["status"] == status {
                expected.push(id.clone());
            }
        }
        let (_, listed) = call(t.api(Method::GET, &format!("/calls?status={status}"))).await;
        assert_eq!(ids(&listed), expected, "{status}");
        let (_, by_agent) = call(t.api(
            Method::GET,
            &format!("/calls?status={status}&agent_id={a1}"),
        ))
        .await;
        assert_eq!(
            ids(&by_agent),
            expected
                .iter()
                .filter(|i| **i == call_ids[0])
                .cloned()
                .collect::<Vec<_>>()
        );
    }
    let (_, inbound) = call(t.api(Method::GET, "/calls?direction=inbound")).await;
    assert!(ids(&inbound).is_empty());
    let (_, future) = call(t.api(Method::GET, "/calls?from=2999-01-01")).await;
    assert!(ids(&future).is_empty());
    let (_, today) = call(t.api(
        Method::GET,
        "/calls?from=2020-01-01&to=2999-12-31T00:00:00Z",
    ))
    .await;
    assert_eq!(ids(&today).len(), 2);
    for bad in [
        "status=ringing",
        "direction=up",
        "from=yesterday",
        "agent_id=x",
        "from=2030-01-02&to=2030-01-01",
    ] {
        let (status, err) = call(t.api(Method::GET, &format!("/calls?{bad}"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
    }
    let (status, _) = call(t.api(Method::GET, "/tasks?status=done")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Another org sees none of it, and test mode none of live.
    let (other, _) = t.signup("other@example.com").await;
    let task_id = pending_low["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/tasks/{task_id}")),
        (Method::POST, format!("/tasks/{task_id}/execute")),
        (Method::DELETE, format!("/tasks/{task_id}")),
        (Method::GET, format!("/calls/{}", call_ids[0])),
        (Method::GET, format!("/calls/{}/report", call_ids[0])),
        (Method::POST, format!("/calls/{}/cancel", call_ids[0])),
    ] {
        let (status, err) = call(t.session(method.clone(), &path, &other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {err}");
        assert_error_body(&err);
    }
    let (_, theirs) = call(t.session(Method::GET, "/calls", &other)).await;
    assert!(ids(&theirs).is_empty());
    let (status, _) = call(t.api(Method::GET, &format!("/calls/{}?mode=test", call_ids[0]))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, err) = call(
        t.session(Method::POST, "/tasks", &other)
            .json(&json!({"agent_id": a1, "to_number": "+15005550001"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another org's agent does not exist: {err}"
    );
}

/// The README story's last step: a task with a `webhook_url` gets its
/// `call_completed` delivery, signed with the org's task secret the Standard
/// Webhooks way (checked by our verifier and by the `standardwebhooks`
/// package), with the seed's payload; `call_started` was not subscribed.
async fn a_finished_call_sends_its_signed_task_webhook(backend: Backend) {
    let (mut config, dir) = config(backend).await;
    config.sim_time_scale = 0.0;
    config.scheduler_interval_ms = 3_600_000;
    config.outbound_allow = "127.0.0.1".into();
    let t = TestApp::spawn_with(config, dir).await;
    let receiver = switchboard_tests::receiver::Receiver::start(0, 200).await;
    let agent_id = agent(&t, "?mode=test").await;
    let task = task(
        &t,
        "?mode=test",
        json!({"agent_id": agent_id, "to_number": "+15005550007",
               "webhook_url": receiver.url, "webhook_events": ["call_completed"]}),
    )
    .await;
    let id = task["id"].as_str().unwrap();
    let (status, started) =
        call(t.api(Method::POST, &format!("/tasks/{id}/execute?mode=test"))).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let call_id = started["data"]["call_id"].as_str().unwrap();

    let got = receiver.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "one subscribed event, one delivery");
    let body = got[0].json();
    assert_eq!(body["event_type"], "call_completed", "{body}");
    assert_eq!(body["task_id"], id);
    assert_eq!(body["call_id"], call_id);
    assert_eq!(body["status"], "completed");
    assert!(body["data"]["transcript_excerpt"].is_string(), "{body}");

    let (status, secret) = call(t.api(Method::GET, "/webhooks/task-secret?mode=test")).await;
    assert_eq!(status, StatusCode::OK, "{secret}");
    let secret = secret["data"]["secret"].as_str().unwrap();
    assert!(super::webhooks::verifies(secret, &got[0]), "our verifier");
    assert!(
        super::webhooks::python_verifies(secret, &got[0], &got[0].body),
        "the standardwebhooks package"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "nothing else was sent");
}
