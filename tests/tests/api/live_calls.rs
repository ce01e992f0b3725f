//! Live transcripts (SPEC §10 `GET /calls/{id}/live`, §14 `/ws/calls`) with a
//! real WebSocket client against the running server: a sim call in progress
//! is seen in order with nothing missing or repeated, a reconnect with
//! `after_seq` gets exactly what it missed, a call held by another process is
//! followed from the store, and bad credentials or another org's call are
//! refused on the upgrade with the SPEC error body.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::call::{Call, CallStatus, Direction};
use switchboard::domain::{Mode, Tenant};
use switchboard::engine::call::{EndReason, Role, TranscriptEntry};
use switchboard::services::live::hub::{self, LiveEvent};
use switchboard::services::live::token::CallSessionClaims;
use switchboard::services::signed_token;
use switchboard::services::table_keys::{call_event_sk, resource_sk};
use switchboard::store::{Condition, Item};
use switchboard_tests::{TEST_KEY, TestApp, WsClient, assert_error_body, backend_tests, call};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

backend_tests!(
    a_viewer_sees_a_live_call_in_order_and_a_reconnect_gets_what_it_missed,
    a_call_held_by_another_process_is_followed_from_the_store,
    the_socket_refuses_bad_credentials_and_other_orgs,
    a_slow_viewer_is_dropped_and_never_slows_the_others,
);

fn ws_url(t: &TestApp, call_id: &str, query: &str) -> String {
    format!(
        "{}/ws/calls/{call_id}?{query}",
        t.base.replacen("http", "ws", 1)
    )
}

async fn connect(url: &str) -> WsClient {
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("connecting {url}: {e}"));
    socket
}

/// The refusal of an upgrade: its status and SPEC error body.
async fn refused(url: &str) -> (StatusCode, Value) {
    let request = url.into_client_request().unwrap();
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => panic!("{url} was accepted"),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{url}: not a JSON body ({e})"));
            assert_error_body(&body);
            (status, body)
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

/// The next JSON message (pings and pongs skipped); `None` once closed.
async fn next(socket: &mut WsClient) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")?;
        match message.expect("a readable socket") {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Everything a viewer receives until the socket closes.
async fn until_closed(socket: &mut WsClient) -> Vec<Value> {
    let mut messages = Vec::new();
    while let Some(m) = next(socket).await {
        messages.push(m);
    }
    messages
}

/// The seqs of every `transcript_update` in `messages`, in order.
fn seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .filter(|m| m["type"] == "transcript_update")
        .flat_map(|m| m["data"]["transcript"].as_array().unwrap().clone())
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

async fn started_call(t: &TestApp, q: &str, to: &str) -> String {
    let body = json!({"name": "Booker", "system_prompt": "You book dentist appointments.",
        "greeting": "Hello, this is Harbor Lane Dental calling."});
    let (status, agent) = call(t.api(Method::POST, &format!("/agents{q}")).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let task = json!({"agent_id": agent["data"]["id"], "to_number": to});
    let (status, task) = call(t.api(Method::POST, &format!("/tasks{q}")).json(&task)).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let id = task["data"]["id"].as_str().unwrap();
    let (status, started) = call(t.api(Method::POST, &format!("/tasks/{id}/execute{q}"))).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    started["data"]["call_id"].as_str().unwrap().to_owned()
}

async fn a_viewer_sees_a_live_call_in_order_and_a_reconnect_gets_what_it_missed(backend: Backend) {
    // Real time at a fifth: the call lasts a few seconds.
    let t = TestApp::spawn_sim(backend, 0.2).await;
    let call_id = started_call(&t, "?mode=test", "+15005550007").await;

    let (status, live) =
        call(t.api(Method::GET, &format!("/calls/{call_id}/live?mode=test"))).await;
    assert_eq!(status, StatusCode::OK, "{live}");
    let live = &live["data"];
    let url = format!("{}/ws/calls/{call_id}", t.base.replacen("http", "ws", 1));
    let token = live["temp_token"].as_str().unwrap();
    assert_eq!(live["websocket_url"], url.as_str());
    assert_eq!(live["call_id"], call_id.as_str());
    assert!(token.starts_with("cst1."), "{token}");
    assert_eq!(
        live["connection_info"],
        json!({
            "url": url, "auth_method": "query_param", "auth_param": "api_key",
            "temp_auth_param": "session_token",
            "example": format!("{url}?api_key=YOUR_API_KEY"),
            "example_session": format!("{url}?session_token={token}"),
            "message_format": "json",
            "message_types": ["connected", "transcript_update", "call_status_update", "error"],
        })
    );

    // One viewer by token from the start, one by API key.
    let mut by_token = connect(&ws_url(&t, &call_id, &format!("session_token={token}"))).await;
    let mut by_key = connect(&ws_url(
        &t,
        &call_id,
        &format!("api_key={TEST_KEY}&mode=test"),
    ))
    .await;
    let connected = next(&mut by_token).await.unwrap();
    assert_eq!(connected["type"], "connected", "{connected}");
    assert_eq!(connected["data"]["call_id"], call_id.as_str());
    assert!(
        ["initiated", "in_progress"].contains(&connected["data"]["status"].as_str().unwrap()),
        "{connected}"
    );
    let so_far = next(&mut by_token).await.unwrap();
    assert_eq!(so_far["type"], "transcript_update", "{so_far}");
    assert!(so_far["data"]["transcript"].is_array());

    // Keepalive.
    by_token
        .send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    let mut token_seen = vec![connected, so_far];
    let pong = loop {
        let m = next(&mut by_token).await.unwrap();
        if m["type"] == "pong" {
            break m;
        }
        token_seen.push(m);
    };
    assert_eq!(pong, json!({"type": "pong"}));
    by_token
        .send(Message::text(r#"{"type":"subscribe"}"#))
        .await
        .unwrap();

    // The API-key viewer leaves after a few entries and reconnects after its last seq.
    let mut key_seen = Vec::new();
    while seqs(&key_seen).len() < 3 {
        key_seen.push(next(&mut by_key).await.expect("entries before the end"));
    }
    by_key.close(None).await.unwrap();
    let last = *seqs(&key_seen).last().unwrap();
    let mut again = connect(&ws_url(
        &t,
        &call_id,
        &format!("api_key={TEST_KEY}&mode=test&after_seq={last}"),
    ))
    .await;

    token_seen.extend(until_closed(&mut by_token).await);
    let rest = until_closed(&mut again).await;

    let (_, transcript) = call(t.api(
        Method::GET,
        &format!("/calls/{call_id}/transcript?mode=test"),
    ))
    .await;
    let stored: Vec<TranscriptEntry> =
        serde_json::from_value(transcript["data"]["transcript"].clone()).unwrap();
    let all: Vec<u64> = (1..=stored.len() as u64).collect();
    assert!(stored.len() > 4, "a conversation: {transcript}");

    // In order, none missing, none repeated, exactly what was stored.
    assert_eq!(seqs(&token_seen), all, "{token_seen:#?}");
    let entries: Vec<TranscriptEntry> = token_seen
        .iter()
        .filter(|m| m["type"] == "transcript_update")
        .flat_map(|m| {
            serde_json::from_value::<Vec<TranscriptEntry>>(m["data"]["transcript"].clone()).unwrap()
        })
        .collect();
    assert_eq!(entries, stored);
    assert!(
        token_seen
            .iter()
            .any(|m| m["type"] == "error" && m["error"].as_str().unwrap().contains("subscribe")),
        "an unknown message is answered with an error: {token_seen:#?}"
    );
    let statuses: Vec<&Value> = token_seen
        .iter()
        .filter(|m| m["type"] == "call_status_update")
        .collect();
    let last_status = statuses.last().expect("a final status");
    assert_eq!(last_status["data"]["status"], "completed", "{statuses:?}");
    assert!(last_status["data"]["end_reason"].is_string());
    assert_eq!(
        token_seen.last(),
        Some(*last_status),
        "the final status comes last"
    );

    // The reconnect: connected, then exactly the entries after `last`.
    assert_eq!(rest[0]["type"], "connected");
    assert_eq!(rest[1]["type"], "transcript_update");
    let after: Vec<u64> = ((last + 1)..=stored.len() as u64).collect();
    assert_eq!(seqs(&rest), after, "{rest:#?}");
    assert_eq!(rest.last().unwrap()["data"]["status"], "completed");

    // An ended call: everything at once, its final status, then the close.
    let ended =
        until_closed(&mut connect(&ws_url(&t, &call_id, &format!("session_token={token}"))).await)
            .await;
    let types: Vec<&str> = ended.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["connected", "transcript_update", "call_status_update"]
    );
    assert_eq!(seqs(&ended), all);
    assert_eq!(ended[0]["data"]["status"], "completed");
}

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

/// A call as another relay process holding it would leave it in the store.
fn foreign_call(id: &str, status: CallStatus) -> Call {
    Call {
        status,
        ..Call::placed(
            id.to_owned(),
            Direction::Outbound,
            uuid::Uuid::now_v7().to_string(),
            "+15555550100".into(),
            "+15005550007".into(),
            true,
            "2026-01-01T00:00:00.000Z".into(),
        )
    }
}

async fn a_call_held_by_another_process_is_followed_from_the_store(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.0).await;
    let tenant = tenant(&t, Mode::Live).await;
    let id = uuid::Uuid::now_v7().to_string();
    let put_call = |call: Call| {
        let item = Item::new(
            tenant.pk(),
            resource_sk("CALL", &id),
            serde_json::to_value(call).unwrap(),
        );
        let app = t.app.clone();
        async move { app.table.put(item, Condition::None).await.unwrap() }
    };
    let put_entry = |seq: u32| {
        let entry = TranscriptEntry {
            seq,
            role: if seq % 2 == 1 {
                Role::Agent
            } else {
                Role::User
            },
            text: format!("line {seq}"),
            at_ms: u64::from(seq) * 1000,
            interrupted: false,
        };
        let item = Item::new(
            tenant.pk(),
            call_event_sk(&id, seq),
            serde_json::to_value(entry).unwrap(),
        );
        let app = t.app.clone();
        async move { app.table.put(item, Condition::None).await.unwrap() }
    };
    put_call(foreign_call(&id, CallStatus::Initiated)).await;
    let mut viewer = connect(&ws_url(&t, &id, &format!("api_key={TEST_KEY}"))).await;
    let connected = next(&mut viewer).await.unwrap();
    assert_eq!(connected["data"]["status"], "initiated");
    assert_eq!(
        next(&mut viewer).await.unwrap()["data"]["transcript"],
        json!([])
    );

    let mut answered = foreign_call(&id, CallStatus::InProgress);
    answered.answered_at = Some("2026-01-01T00:00:01.000Z".into());
    put_call(answered.clone()).await;
    let status = next(&mut viewer).await.unwrap();
    assert_eq!(status["type"], "call_status_update", "{status}");
    assert_eq!(status["data"]["status"], "in_progress");
    assert_eq!(status["data"]["end_reason"], Value::Null);

    let start = Instant::now();
    let mut seen = Vec::new();
    for seq in 1..=6 {
        put_entry(seq).await;
        if seq % 2 == 0 {
            // Some entries land between two reads, some alone.
            while seqs(&seen).len() < seq as usize {
                seen.push(next(&mut viewer).await.unwrap());
            }
        }
    }
    assert_eq!(seqs(&seen), [1, 2, 3, 4, 5, 6]);
    assert!(start.elapsed() < Duration::from_secs(10));

    let mut ended = answered;
    ended.status = CallStatus::Completed;
    ended.end_reason = Some(EndReason::CalleeHungUp);
    ended.ended_at = Some("2026-01-01T00:00:09.000Z".into());
    put_entry(7).await;
    put_call(ended).await;
    let rest = until_closed(&mut viewer).await;
    assert_eq!(seqs(&rest), [7], "{rest:#?}");
    let last = rest.last().unwrap();
    assert_eq!(last["type"], "call_status_update");
    assert_eq!(last["data"]["status"], "completed");
    assert_eq!(last["data"]["end_reason"], "callee_hung_up");
}

async fn the_socket_refuses_bad_credentials_and_other_orgs(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 1.0).await;
    let call_id = started_call(&t, "", "+15005550007").await;
    let other_call = started_call(&t, "", "+15005550008").await;
    let (_, live) = call(t.api(Method::GET, &format!("/calls/{call_id}/live"))).await;
    let token = live["data"]["temp_token"].as_str().unwrap().to_owned();

    let cases = [
        ("", "missing credentials"),
        ("api_key=sb_not_a_key", "invalid or revoked API key"),
        ("api_key=", "missing credentials"),
        ("session_token=cst1.garbage.sig", "session token"),
    ];
    for (query, says) in cases {
        let (status, body) = refused(&ws_url(&t, &call_id, query)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    // A token opens its own call only.
    let (status, _) = refused(&ws_url(&t, &other_call, &format!("session_token={token}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An expired token, correctly signed.
    let tenant = tenant(&t, Mode::Live).await;
    let expired = signed_token::sign(
        &t.app.signing_key,
        &CallSessionClaims {
            org_id: tenant.org_id.clone(),
            mode: Mode::Live,
            call_id: call_id.clone(),
            token_id: "t1".into(),
            exp: chrono::Utc::now().timestamp() - 1,
        },
    );
    let (status, body) = refused(&ws_url(&t, &call_id, &format!("session_token={expired}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // The live call of the test partition is another call: not found in live mode.
    let test_call = started_call(&t, "?mode=test", "+15005550007").await;
    let (status, _) = refused(&ws_url(&t, &test_call, &format!("api_key={TEST_KEY}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Unknown calls and another org's: 404, on the socket and on `/live`.
    let (status, body) = refused(&ws_url(
        &t,
        &uuid::Uuid::now_v7().to_string(),
        &format!("api_key={TEST_KEY}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (cookie, _) = t.signup("stranger@example.com").await;
    let (status, key) = call(
        t.session(Method::POST, "/api-keys", &cookie)
            .json(&json!({"name": "theirs"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let theirs = key["data"]["key"].as_str().unwrap();
    let (status, body) = refused(&ws_url(&t, &call_id, &format!("api_key={theirs}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = call(
        t.anon(Method::GET, &format!("/calls/{call_id}/live"))
            .bearer_auth(theirs),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_body(&body);

    // Malformed input is a clear 4xx, and plain HTTP gets the error body too.
    let (status, body) = refused(&ws_url(
        &t,
        &call_id,
        &format!("api_key={TEST_KEY}&after_seq=-1"),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["details"]["fields"]["after_seq"].is_string(), "{body}");
    let (status, body) = refused(&ws_url(
        &t,
        &call_id,
        &format!("api_key={TEST_KEY}&mode=sideways"),
    ))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let resp = t
        .client
        .get(format!("{}/ws/calls/{call_id}?api_key={TEST_KEY}", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_error_body(&resp.json().await.unwrap());

    // A valid token opens the socket (and may be used again).
    for _ in 0..2 {
        let mut ok = connect(&ws_url(&t, &call_id, &format!("session_token={token}"))).await;
        assert_eq!(next(&mut ok).await.unwrap()["type"], "connected");
    }
}

async fn a_slow_viewer_is_dropped_and_never_slows_the_others(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.0).await;
    let tenant = tenant(&t, Mode::Live).await;
    let id = uuid::Uuid::now_v7().to_string();
    let item = Item::new(
        tenant.pk(),
        resource_sk("CALL", &id),
        serde_json::to_value(foreign_call(&id, CallStatus::InProgress)).unwrap(),
    );
    t.app.table.put(item, Condition::None).await.unwrap();
    let url = ws_url(&t, &id, &format!("api_key={TEST_KEY}"));
    let mut slow = connect(&url).await;
    let mut fast = connect(&url).await;
    for socket in [&mut slow, &mut fast] {
        assert_eq!(next(socket).await.unwrap()["type"], "connected");
        assert_eq!(next(socket).await.unwrap()["type"], "transcript_update");
    }
    // Far more than the socket buffers hold, published as fast as `fast` reads
    // (never more than 100 ahead of it); `slow` reads nothing meanwhile.
    const ENTRIES: u32 = 2_000;
    let text = "x".repeat(16 * 1024);
    let (progress, mut read) = tokio::sync::watch::channel(0u64);
    let publisher = tokio::spawn({
        let id = id.clone();
        async move {
            for seq in 1..=ENTRIES {
                while u64::from(seq) > *read.borrow_and_update() + 100 {
                    read.changed().await.unwrap();
                }
                let entry = TranscriptEntry {
                    seq,
                    role: Role::Agent,
                    text: text.clone(),
                    at_ms: u64::from(seq),
                    interrupted: false,
                };
                hub::publish(&id, LiveEvent::Entry(entry));
            }
        }
    });
    let mut got: Vec<u64> = Vec::new();
    let mut last_other = None;
    while got.len() < ENTRIES as usize {
        let m = next(&mut fast)
            .await
            .unwrap_or_else(|| panic!("the fast viewer was dropped after {last_other:?}"));
        if m["type"] == "transcript_update" {
            got.extend(seqs(&[m]));
            progress.send_replace(got.last().copied().unwrap_or(0));
        } else {
            last_other = Some(m);
        }
    }
    publisher.await.unwrap();
    let want: Vec<u64> = (1..=u64::from(ENTRIES)).collect();
    assert_eq!(got, want, "the fast viewer gets every entry once, in order");

    // The slow one was cut off: what it reads now ends before the last entry.
    let start = Instant::now();
    let mut slow_seqs = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), slow.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let m: Value = serde_json::from_str(&text).unwrap();
                slow_seqs.extend(seqs(&[m]));
            }
            Ok(Some(Ok(_))) => {}
            Ok(None | Some(Err(_))) => break,
            Err(_) => panic!("the slow viewer was never dropped"),
        }
    }
    assert!(
        slow_seqs.len() < ENTRIES as usize,
        "the slow viewer got {} entries",
        slow_seqs.len()
    );
    assert!(
        slow_seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "what it got is in order"
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}
