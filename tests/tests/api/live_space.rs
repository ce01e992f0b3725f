//! The live space (SPEC §11) against the running platform with a sim call in
//! progress: take over, speak on the supervisor socket, whisper, barge, hand
//! back, end; whispers stay out of the call's transcript views; another org
//! sees nothing; an agent-role member supervises; bad input is refused.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::engine::call::WHISPER_REDACTED;
use switchboard_tests::{TEST_KEY, TestApp, WsClient, assert_error_body, backend_tests, call};
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    supervisors_steer_a_live_call,
    the_live_space_stays_in_its_org_and_checks_input
);

/// Places a test-mode sim call and returns its id once it is in progress.
pub async fn live_call(t: &TestApp, key: &str) -> String {
    let api = |m: Method, path: &str| t.anon(m, path).bearer_auth(key);
    let (status, agent) = call(api(Method::POST, "/agents?mode=test").json(&json!({
        "name": "Booker", "system_prompt": "You book dentist appointments.",
        "greeting": "Hello, this is Harbor Lane Dental calling."
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let (status, task) = call(api(Method::POST, "/tasks?mode=test").json(&json!({
        "agent_id": agent["data"]["id"], "to_number": "+15005550007", "name": "Live"
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let task_id = task["data"]["id"].as_str().unwrap();
    let (status, started) = call(api(
        Method::POST,
        &format!("/tasks/{task_id}/execute?mode=test"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let id = started["data"]["call_id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let (status, live) = call(api(Method::GET, "/live-space/live-calls?mode=test")).await;
        assert_eq!(status, StatusCode::OK, "{live}");
        if live["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == id.as_str() && c["status"] == "in_progress")
        {
            return id;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never in progress: {live}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(t: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    call(
        t.api(
            Method::POST,
            &format!("/live-space/live-calls/{path}?mode=test"),
        )
        .json(&body),
    )
    .await
}

/// The next JSON message of the socket.
async fn next(ws: &mut WsClient) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a message");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// Reads transcript updates until one carries an entry `found` accepts.
async fn entry_where(ws: &mut WsClient, found: impl Fn(&Value) -> bool) -> Value {
    loop {
        let m = next(ws).await;
        assert_ne!(m["type"], "error", "{m}");
        if m["type"] == "transcript_update"
            && let Some(e) = m["data"]["transcript"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| found(e))
        {
            return e.clone();
        }
    }
}

async fn supervisors_steer_a_live_call(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.2).await;
    let id = live_call(&t, TEST_KEY).await;

    let (status, took) = post(&t, &format!("{id}/takeover"), json!({"active": true})).await;
    assert_eq!(status, StatusCode::OK, "{took}");
    assert_eq!(
        took["data"],
        json!({"call_id": id, "action": "takeover", "delivered": true})
    );

    // The supervisor socket: the transcript so far, then what happens.
    let (status, joined) = post(&t, &format!("{id}/supervisor/join"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let url = joined["data"]["websocket_url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/ws/supervisor/{id}")), "{url}");
    assert!(joined["data"]["expires_at"].is_string());
    let token = joined["data"]["token"].as_str().unwrap();
    let ws_base = t.base.replacen("http", "ws", 1);
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("{ws_base}/ws/supervisor/{id}?token={token}"))
            .await
            .expect("the supervisor socket opens");
    let hello = next(&mut ws).await;
    assert_eq!(hello["type"], "connected", "{hello}");
    assert_eq!(hello["data"]["status"], "in_progress");
    let so_far = next(&mut ws).await;
    assert_eq!(so_far["type"], "transcript_update", "{so_far}");
    assert_eq!(so_far["data"]["transcript"][0]["role"], "agent", "{so_far}");

    // Taken over: the supervisor's words are said as the `supervisor`.
    ws.send(Message::Text(
        json!({"type": "say", "text": "We open at 8."})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    entry_where(&mut ws, |e| {
        e["role"] == "supervisor" && e["text"] == "We open at 8."
    })
    .await;

    // A whisper is noted for supervisors only.
    let (status, w) = post(
        &t,
        &format!("{id}/whisper"),
        json!({"message": "offer the spring discount"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let whisper = entry_where(&mut ws, |e| {
        e["role"] == "system"
            && e["text"]
                .as_str()
                .unwrap()
                .contains("offer the spring discount")
    })
    .await;

    // A live-transcript viewer (not a supervisor) gets the whisper's place, not its words.
    let seq = whisper["seq"].as_u64().unwrap();
    let (mut viewer, _) = tokio_tungstenite::connect_async(format!(
        "{ws_base}/ws/calls/{id}?api_key={TEST_KEY}&mode=test&after_seq={}",
        seq - 1
    ))
    .await
    .expect("the live transcript socket opens");
    assert_eq!(next(&mut viewer).await["type"], "connected");
    let seen = entry_where(&mut viewer, |e| e["seq"].as_u64() == Some(seq)).await;
    assert_eq!(seen["text"], WHISPER_REDACTED, "{seen}");
    drop(viewer);

    // A barge is said by the agent at once.
    let (status, b) = post(
        &t,
        &format!("{id}/barge"),
        json!({"message": "One moment, please."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["data"]["action"], "barge");
    entry_where(&mut ws, |e| {
        e["role"] == "agent" && e["text"] == "One moment, please."
    })
    .await;

    // The call's own transcript keeps the whisper's place, not its words.
    let (status, tr) = call(t.api(Method::GET, &format!("/calls/{id}/transcript?mode=test"))).await;
    assert_eq!(status, StatusCode::OK, "{tr}");
    let entries = tr["data"]["transcript"].as_array().unwrap();
    let hidden = entries.iter().find(|e| e["seq"] == whisper["seq"]).unwrap();
    assert_eq!(hidden["text"], WHISPER_REDACTED);
    assert!(!tr.to_string().contains("spring discount"), "{tr}");
    let (status, seen) = call(t.api(
        Method::GET,
        &format!("/live-space/live-calls/{id}?mode=test"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert!(
        seen["data"]["transcript"]
            .to_string()
            .contains("offer the spring discount"),
        "{seen}"
    );

    // Handed back: supervisor text is refused, with a reason.
    let (status, r) = post(&t, &format!("{id}/takeover"), json!({"active": false})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["data"]["action"], "resume");
    ws.send(Message::Text(
        json!({"type": "say", "text": "Hello?"}).to_string().into(),
    ))
    .await
    .unwrap();
    loop {
        let m = next(&mut ws).await;
        if m["type"] == "error" {
            assert!(
                m["error"].as_str().unwrap().contains("not taken over"),
                "{m}"
            );
            break;
        }
    }

    // End: the call completes, the socket says so, and nothing steers it any more.
    let (status, ended) = post(&t, &format!("{id}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(ended["data"]["status"], "completed");
    loop {
        let m = next(&mut ws).await;
        if m["type"] == "call_status_update" && m["data"]["status"] == "completed" {
            break;
        }
    }
    for (path, body) in [
        ("whisper", json!({"message": "too late"})),
        ("takeover", json!({"active": true})),
        ("end", json!({})),
        ("supervisor/join", json!({})),
    ] {
        let (status, body) = post(&t, &format!("{id}/{path}"), body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {body}");
        assert_error_body(&body);
    }
}

async fn the_live_space_stays_in_its_org_and_checks_input(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.2).await;
    let id = live_call(&t, TEST_KEY).await;
    // Held by a supervisor, it stays live through the checks below.
    let (status, took) = post(&t, &format!("{id}/takeover"), json!({"active": true})).await;
    assert_eq!(status, StatusCode::OK, "{took}");

    // Another org, with an admin's API key and an agent-role member.
    let (admin, _) = t.signup("other@example.com").await;
    let (status, key) = call(
        t.session(Method::POST, "/api-keys", &admin)
            .json(&json!({"name": "supervisor"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let other_key = key["data"]["key"].as_str().unwrap().to_owned();
    let member = t.member(&admin, "member@example.com", "agent").await;

    // It sees none of this org's calls: not listed, not found.
    let (status, list) = call(
        t.anon(Method::GET, "/live-space/live-calls?mode=test")
            .bearer_auth(&other_key),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"], json!([]));
    for (method, path, body) in [
        (
            Method::GET,
            format!("/live-space/live-calls/{id}?mode=test"),
            None,
        ),
        (
            Method::POST,
            format!("/live-space/live-calls/{id}/whisper?mode=test"),
            Some(json!({"message": "hi"})),
        ),
        (
            Method::POST,
            format!("/live-space/live-calls/{id}/takeover?mode=test"),
            Some(json!({"active": true})),
        ),
        (
            Method::POST,
            format!("/live-space/live-calls/{id}/end?mode=test"),
            None,
        ),
        (
            Method::POST,
            format!("/live-space/live-calls/{id}/supervisor/join?mode=test"),
            None,
        ),
    ] {
        for req in [
            t.anon(method.clone(), &path).bearer_auth(&other_key),
            t.session(method.clone(), &path, &member),
        ] {
            let req = match &body {
                Some(b) => req.json(b),
                None => req,
            };
            let (status, body) = call(req).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_error_body(&body);
        }
    }

    // Bad bodies are 422 with the field.
    for (path, body, field) in [
        ("whisper", json!({}), "message"),
        ("whisper", json!({"message": "  "}), "message"),
        ("barge", json!({"message": 3}), "message"),
        ("barge", json!({"message": "x".repeat(2_001)}), "message"),
        ("takeover", json!({}), "active"),
        ("takeover", json!({"active": "yes"}), "active"),
        ("takeover", json!({"active": null}), "active"),
        ("whisper", json!({"message": "hi", "to": "agent"}), "to"),
        ("takeover", json!({"active": true, "force": true}), "force"),
    ] {
        let (status, b) = post(&t, &format!("{id}/{path}"), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {b}");
        assert!(b["details"]["fields"][field].is_string(), "{b}");
    }
    let unknown = uuid::Uuid::now_v7();
    let (status, b) = post(&t, &format!("{unknown}/whisper"), json!({"message": "hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{b}");

    // The socket refuses a bad token, and another call's token.
    let ws_base = t.base.replacen("http", "ws", 1);
    let refused = tokio_tungstenite::connect_async(format!(
        "{ws_base}/ws/supervisor/{id}?token=sst1.forged.sig"
    ))
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a forged token opened the socket: {other:?}"),
    }
    let (_, joined) = post(&t, &format!("{id}/supervisor/join"), json!({})).await;
    let token = joined["data"]["token"].as_str().unwrap();
    let refused = tokio_tungstenite::connect_async(format!(
        "{ws_base}/ws/supervisor/{unknown}?token={token}"
    ))
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a token opened another call's socket: {other:?}"),
    }

    // The internal control route takes only requests signed with the
    // installation's key, within the time window.
    let now = chrono::Utc::now().timestamp();
    let body = json!({"org_id": "x", "mode": "test", "control": {"whisper": "hi"}});
    for (timestamp, signature) in [
        (None, None),
        (Some(now.to_string()), Some("00".repeat(32))),
        (Some((now - 3_600).to_string()), Some("zz".to_owned())),
        (Some("soon".to_owned()), Some("00".repeat(32))),
    ] {
        let mut req = t
            .client
            .post(format!("{}/internal/calls/{id}/control", t.base))
            .json(&body);
        if let Some(ts) = timestamp {
            req = req.header("x-switchboard-timestamp", ts);
        }
        if let Some(sig) = signature {
            req = req.header("x-switchboard-signature", sig);
        }
        let (status, b) = call(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
        assert_error_body(&b);
    }

    // An agent-role member (a human agent) supervises its org's calls.
    let own = live_call(&t, &other_key).await;
    let (status, took) = call(
        t.session(
            Method::POST,
            &format!("/live-space/live-calls/{own}/takeover?mode=test"),
            &member,
        )
        .json(&json!({"active": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{took}");
    let (status, w) = call(
        t.session(
            Method::POST,
            &format!("/live-space/live-calls/{own}/whisper?mode=test"),
            &member,
        )
        .json(&json!({"message": "mention the parking"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let (status, e) = call(t.session(
        Method::POST,
        &format!("/live-space/live-calls/{own}/end?mode=test"),
        &member,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{e}");
    assert_eq!(e["data"]["status"], "completed");
    let (status, _) = post(&t, &format!("{id}/end"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
}
