//! Web chat over `/ws/web/{session}` (SPEC §7, §14) with a real WebSocket
//! client against the spawned server: the chat is a `web` call run by the
//! offline engine, streamed to the page, stored like any call (transcript,
//! report); refusals on the upgrade are SPEC error bodies; the socket is
//! bounded. And `/widget.js` as pages load it.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::services::channels::web::{sign_web_session_token, verify_web_session_token};
use switchboard_tests::{
    TestApp, WsClient, assert_error_body, backend_tests, call, config, ws_connect,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

backend_tests!(
    a_visitor_chats_with_the_agent_as_a_web_call,
    refusals_on_the_upgrade_are_error_bodies,
    messages_are_bounded_and_checked,
    an_idle_chat_ends_itself,
    a_chat_ended_through_the_api_tells_the_page,
    one_address_holds_a_bounded_number_of_chats,
    supervisors_steer_a_web_chat,
    a_person_answers_a_web_chat_from_the_inbox,
);

pub(crate) const SHOP: &str = "https://shop.example";

async fn spawn(backend: Backend, idle: Duration) -> TestApp {
    let (mut config, dir) = config(backend).await;
    config.web_chat_idle = idle;
    TestApp::spawn_with(config, dir).await
}

pub(crate) async fn agent(t: &TestApp) -> String {
    let body = json!({"name": "Harbor help", "system_prompt": "You answer questions about Harbor Lane Dental."});
    let (status, a) = call(t.api(Method::POST, "/agents").json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    a["data"]["id"].as_str().unwrap().to_owned()
}

/// A public web channel on [`SHOP`] answered by `agent`.
pub(crate) async fn channel(t: &TestApp, agent: Option<&str>) -> String {
    let mut body = json!({
        "name": "Harbor Lane Dental", "type": "web",
        "config": {"allowed_origins": [SHOP], "public": true,
                   "greeting": "Hi! How can we help?", "theme": {"color": "#0055ff"}}
    });
    if let Some(agent) = agent {
        body["default_agent_id"] = json!(agent);
    }
    let (status, created) = call(t.api(Method::POST, "/channels").json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"]["id"].as_str().unwrap().to_owned()
}

/// A public session's `(session_id, token)`.
pub(crate) async fn open_session(t: &TestApp, channel: &str) -> (String, String) {
    let (status, s) = call(
        t.anon(
            Method::POST,
            &format!("/channels/web/{channel}/public-session"),
        )
        .header("origin", SHOP),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let s = &s["data"];
    (
        s["session_id"].as_str().unwrap().to_owned(),
        s["token"].as_str().unwrap().to_owned(),
    )
}

/// Opens the socket from a page on `origin`; a refused upgrade gives its
/// status and JSON body.
async fn connect(
    t: &TestApp,
    session: &str,
    token: &str,
    origin: Option<&str>,
) -> Result<WsClient, (u16, Value)> {
    let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
    connect_with(t, session, token, &headers).await
}

/// [`connect`] with these request headers.
pub(crate) async fn connect_with(
    t: &TestApp,
    session: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> Result<WsClient, (u16, Value)> {
    let url = format!(
        "{}/ws/web/{session}?token={token}",
        t.base.replacen("http", "ws", 1)
    );
    let mut req = url.into_client_request().unwrap();
    for (name, value) in headers {
        req.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    ws_connect(req).await
}

/// The next JSON message (`{"type": "closed"}` once the server closed).
async fn next(ws: &mut WsClient) -> Value {
    loop {
        let got = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s");
        match got {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return json!({"type": "closed"}),
            Some(Ok(_)) => continue,
        }
    }
}

async fn send(ws: &mut WsClient, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// A chat from an allowed page with a new agent on a new public channel,
/// past its `connected`: the session (the call's id) and the socket.
async fn chat_from_shop(t: &TestApp) -> (String, WsClient) {
    let agent = agent(t).await;
    let channel = channel(t, Some(&agent)).await;
    let (session, token) = open_session(t, &channel).await;
    let mut ws = connect(t, &session, &token, Some(SHOP)).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "connected");
    (session, ws)
}

/// Reads one streamed reply: its pieces (all `final: false`, one id) then the
/// final message; returns the final text after checking it is the pieces.
async fn streamed_reply(ws: &mut WsClient) -> String {
    let mut pieces = Vec::new();
    loop {
        let m = next(ws).await;
        assert_eq!(m["type"], "agent_message", "{m}");
        let data = &m["data"];
        if data["final"] == true {
            assert!(!pieces.is_empty(), "the reply streamed before its final");
            let whole = data["text"].as_str().unwrap().to_owned();
            assert_eq!(whole, pieces.join(" "), "the final carries the whole reply");
            return whole;
        }
        assert_eq!(data["final"], false);
        assert!(data["id"].is_string());
        pieces.push(data["text"].as_str().unwrap().to_owned());
    }
}

/// Polls `GET /calls/{id}` until `done` holds (at most 20 s).
async fn until(t: &TestApp, id: &str, mut done: impl FnMut(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = call(t.api(Method::GET, &format!("/calls/{id}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body["data"]) {
            return body["data"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn a_visitor_chats_with_the_agent_as_a_web_call(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(300)).await;
    let agent = agent(&t).await;
    let channel = channel(&t, Some(&agent)).await;
    let (session, token) = open_session(&t, &channel).await;
    let mut ws = connect(&t, &session, &token, Some(SHOP)).await.unwrap();

    let connected = next(&mut ws).await;
    assert_eq!(connected["type"], "connected", "{connected}");
    assert_eq!(
        connected["data"]["call_id"],
        json!(session),
        "one session, one call"
    );
    assert_eq!(connected["data"]["status"], "in_progress");
    assert_eq!(
        connected["data"]["channel"],
        json!({"name": "Harbor Lane Dental", "greeting": "Hi! How can we help?", "theme": {"color": "#0055ff"}})
    );
    // The channel's greeting is the agent's first line, streamed like any reply.
    assert_eq!(streamed_reply(&mut ws).await, "Hi! How can we help?");
    let update = next(&mut ws).await;
    assert_eq!(update["type"], "transcript_update", "{update}");
    assert_eq!(update["data"]["call_id"], json!(session));
    let greeting = update["data"]["transcript"].as_array().unwrap();
    assert_eq!(greeting.len(), 1);
    assert_eq!(greeting[0]["seq"], 1);
    assert_eq!(greeting[0]["role"], "agent");

    send(
        &mut ws,
        json!({"type": "user_message", "text": "What are your opening hours?"}),
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        json!({"type": "typing", "data": {"active": true}})
    );
    let answer = streamed_reply(&mut ws).await;
    assert!(!answer.is_empty());
    assert_eq!(
        next(&mut ws).await,
        json!({"type": "typing", "data": {"active": false}})
    );
    let update = next(&mut ws).await;
    assert_eq!(update["type"], "transcript_update", "{update}");
    let entries = update["data"]["transcript"].as_array().unwrap();
    assert_eq!(entries[0]["seq"], 2, "no gap, no repeat: {update}");
    assert_eq!(entries[0]["role"], "user");
    assert_eq!(entries[0]["text"], "What are your opening hours?");
    assert_eq!(entries[1]["seq"], 3);
    assert_eq!(entries[1]["text"], json!(answer));

    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(next(&mut ws).await, json!({"type": "pong"}));

    // While it lives it is a call like any other: listed, readable, its
    // transcript stored entry by entry.
    let live = until(&t, &session, |c| {
        c["transcript"].as_array().is_some_and(|e| e.len() == 3)
    })
    .await;
    assert_eq!(live["status"], "in_progress");
    assert_eq!(live["direction"], "web");
    assert_eq!(live["channel_id"], json!(channel));
    assert_eq!(live["agent_id"], json!(agent));
    assert_eq!(live["from"], SHOP);
    let (_, listed) = call(t.api(Method::GET, "/calls?direction=web")).await;
    assert_eq!(listed["data"][0]["id"], json!(session));

    // The visitor leaves: the call completes and gets its report.
    ws.close(None).await.unwrap();
    let ended = until(&t, &session, |c| c["report"].is_object()).await;
    assert_eq!(ended["status"], "completed");
    assert_eq!(ended["end_reason"], "callee_hung_up");
    assert!(ended["ended_at"].is_string());
    let texts: Vec<&str> = ended["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(texts.contains(&"What are your opening hours?"), "{texts:?}");

    // One session makes one chat: the token cannot open a second.
    let (status, body) = connect(&t, &session, &token, Some(SHOP)).await.unwrap_err();
    assert_eq!(status, 409);
    assert!(assert_error_body(&body).contains("already used"));
}

async fn refusals_on_the_upgrade_are_error_bodies(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(300)).await;
    let agent = agent(&t).await;
    let channel_id = channel(&t, Some(&agent)).await;
    let (session, token) = open_session(&t, &channel_id).await;

    let refused = |r: Result<WsClient, (u16, Value)>| r.map(|_| ()).unwrap_err();
    for bad in ["", "nope", "wst1.e30.AAAA"] {
        let (status, body) = refused(connect(&t, &session, bad, Some(SHOP)).await);
        assert_eq!(status, 401, "{bad:?}");
        assert!(assert_error_body(&body).contains("invalid or has expired"));
    }
    let mut claims = verify_web_session_token(&t.app, &token).unwrap();
    claims.exp = chrono::Utc::now().timestamp() - 1;
    let expired = sign_web_session_token(&t.app, &claims);
    assert_eq!(
        refused(connect(&t, &session, &expired, Some(SHOP)).await).0,
        401
    );
    // A token opens only its own session.
    let (other_session, _) = open_session(&t, &channel_id).await;
    let (status, body) = refused(connect(&t, &other_session, &token, Some(SHOP)).await);
    assert_eq!(status, 401);
    assert!(assert_error_body(&body).contains("another session"));
    // A public session's token carried to another page is refused.
    let (status, body) = refused(connect(&t, &session, &token, Some("https://evil.example")).await);
    assert_eq!(status, 403);
    assert!(assert_error_body(&body).contains("https://evil.example"));
    assert_eq!(refused(connect(&t, &session, &token, None).await).0, 403);
    // A plain GET is told what the endpoint is.
    let resp = t
        .client
        .get(format!("{}/ws/web/{session}?token={token}", t.base))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(assert_error_body(&resp.json().await.unwrap()).contains("WebSocket"));
    // A channel with no agent to answer says what to fix.
    let silent = channel(&t, None).await;
    let (silent_session, silent_token) = open_session(&t, &silent).await;
    let (status, body) = refused(connect(&t, &silent_session, &silent_token, Some(SHOP)).await);
    assert_eq!(status, 409);
    assert!(assert_error_body(&body).contains("default_agent_id"));
    // A channel deleted since the token was issued is gone.
    let (status, _) = call(t.api(Method::DELETE, &format!("/channels/{channel_id}"))).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        refused(connect(&t, &session, &token, Some(SHOP)).await).0,
        404
    );
    // None of these made a call.
    let (_, listed) = call(t.api(Method::GET, "/calls?direction=web")).await;
    assert_eq!(listed["data"], json!([]));
}

async fn messages_are_bounded_and_checked(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(300)).await;
    let (session, mut ws) = chat_from_shop(&t).await;
    streamed_reply(&mut ws).await;
    assert_eq!(next(&mut ws).await["type"], "transcript_update");

    let error = |m: &Value| m["error"].as_str().unwrap_or_default().to_owned();
    send(
        &mut ws,
        json!({"type": "user_message", "text": "x".repeat(2_001)}),
    )
    .await;
    let m = next(&mut ws).await;
    assert_eq!(m["type"], "error", "{m}");
    assert!(error(&m).contains("longer than 2000"), "{m}");
    send(&mut ws, json!({"type": "user_message", "text": "   "})).await;
    assert!(error(&next(&mut ws).await).contains("empty"));
    send(&mut ws, json!({"type": "dance"})).await;
    assert!(error(&next(&mut ws).await).contains("user_message"));
    ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "error");
    ws.send(Message::Binary(vec![0u8; 64].into()))
        .await
        .unwrap();
    assert!(error(&next(&mut ws).await).contains("JSON text"));

    // 20 messages a minute are answered; the 21st is refused.
    for i in 0..20 {
        send(&mut ws, json!({"type": "user_message", "text": format!("Question {i}: do you take new patients?")})).await;
        assert_eq!(next(&mut ws).await["data"]["active"], true, "message {i}");
        streamed_reply(&mut ws).await;
        assert_eq!(next(&mut ws).await["data"]["active"], false);
        assert_eq!(next(&mut ws).await["type"], "transcript_update");
    }
    send(
        &mut ws,
        json!({"type": "user_message", "text": "One more?"}),
    )
    .await;
    let m = next(&mut ws).await;
    assert!(error(&m).contains("messages a minute"), "{m}");
    send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(
        next(&mut ws).await["type"],
        "pong",
        "a refusal keeps the chat open"
    );

    // A frame over the size bound closes the socket; the chat ends with it.
    let _ = ws.send(Message::Text("y".repeat(20 * 1024).into())).await;
    assert_eq!(next(&mut ws).await["type"], "closed");
    let ended = until(&t, &session, |c| c["status"] == "completed").await;
    assert_eq!(ended["end_reason"], "callee_hung_up");
}

async fn an_idle_chat_ends_itself(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(1)).await;
    let agent = agent(&t).await;
    let channel = channel(&t, Some(&agent)).await;
    let (session, token) = open_session(&t, &channel).await;
    // Timed from before the upgrade: the chat cannot end sooner than its
    // idle time after it, however late this task runs after the handshake.
    let opened = Instant::now();
    let mut ws = connect(&t, &session, &token, Some(SHOP)).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let m = next(&mut ws).await;
        if m["type"] == "closed" {
            break;
        }
        seen.push(m);
    }
    assert!(opened.elapsed() >= Duration::from_secs(1));
    let n = seen.len();
    assert_eq!(
        seen[n - 2],
        json!({"type": "call_status_update", "data": {"call_id": session, "status": "completed", "end_reason": "silence_timeout"}})
    );
    assert_eq!(
        seen[n - 1],
        json!({"type": "end", "data": {"call_id": session, "reason": "silence_timeout"}})
    );
    let (_, got) = call(t.api(Method::GET, &format!("/calls/{session}"))).await;
    assert_eq!(got["data"]["end_reason"], "silence_timeout");
}

async fn a_chat_ended_through_the_api_tells_the_page(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(300)).await;
    let (session, mut ws) = chat_from_shop(&t).await;
    let (status, body) = call(t.api(Method::POST, &format!("/calls/{session}/end"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut last = Value::Null;
    loop {
        let m = next(&mut ws).await;
        if m["type"] == "closed" {
            break;
        }
        last = m;
    }
    assert_eq!(
        last,
        json!({"type": "end", "data": {"call_id": session, "reason": "ended_by_user"}})
    );
}

/// Reads messages until a `transcript_update`; returns it and every
/// `agent_message` text seen on the way.
async fn until_transcript(ws: &mut WsClient) -> (Value, Vec<String>) {
    let mut said = Vec::new();
    loop {
        let m = next(ws).await;
        match m["type"].as_str() {
            Some("transcript_update") => return (m, said),
            Some("agent_message") if m["data"]["final"] == true => {
                said.push(m["data"]["text"].as_str().unwrap_or_default().to_owned())
            }
            Some("closed") => panic!("the chat closed"),
            _ => {}
        }
    }
}

/// The live space reaches a web chat as it reaches a call (SPEC §11): a
/// barge is said on the page at once, a takeover keeps the AI quiet, a
/// whisper reaches the agent but the visitor never reads its words, and
/// supervisor text is refused until the chat is taken over.
async fn supervisors_steer_a_web_chat(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(300)).await;
    let (session, mut ws) = chat_from_shop(&t).await;
    until_transcript(&mut ws).await;
    let control = |action: &str, body: Value| {
        t.api(
            Method::POST,
            &format!("/live-space/live-calls/{session}/{action}"),
        )
        .json(&body)
    };

    let (status, body) = call(control(
        "barge",
        json!({"message": "Quick note: we close early today."}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (update, said) = until_transcript(&mut ws).await;
    assert_eq!(said, ["Quick note: we close early today."], "{update}");

    let secret = "Offer the Saturday slot first.";
    let (status, body) = call(control("whisper", json!({"message": secret}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (update, said) = until_transcript(&mut ws).await;
    assert!(said.is_empty(), "a whisper is never said: {said:?}");
    assert!(!update.to_string().contains(secret), "{update}");

    let (status, body) = call(control("takeover", json!({"active": true}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until_transcript(&mut ws).await;
    send(
        &mut ws,
        json!({"type": "user_message", "text": "Are you open on Saturday?"}),
    )
    .await;
    let (update, said) = until_transcript(&mut ws).await;
    assert!(
        said.is_empty(),
        "the AI stays quiet while taken over: {said:?}"
    );
    let roles: Vec<&str> = update["data"]["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user"], "{update}");

    let (status, body) = call(control("takeover", json!({"active": false}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(t.api(Method::GET, &format!("/calls/{session}/transcript"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.to_string().contains(secret),
        "the call's transcript hides the whisper"
    );
}

/// Polls `GET /conversations{query}` until its first conversation satisfies
/// `done` (at most 20 s); returns it.
async fn until_conversation(t: &TestApp, query: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (_, body) = call(t.api(Method::GET, &format!("/conversations{query}"))).await;
        if body["data"].get(0).is_some_and(&done) {
            return body["data"][0].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{body}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Issue 15: a running chat is in the inbox; a person's reply there reaches
/// the visitor as the human and pauses the AI until the AI is turned back
/// on; once over, the conversation holds the chat once, the reply once.
async fn a_person_answers_a_web_chat_from_the_inbox(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(300)).await;
    let (session, mut ws) = chat_from_shop(&t).await;
    until_transcript(&mut ws).await;
    let conv = until_conversation(&t, "?channel_type=web_chat", |_| true).await;
    let conv_id = conv["id"].as_str().unwrap().to_owned();
    assert!(
        conv["call_ids"] == json!([]) && conv["ai_enabled"] == true,
        "{conv}"
    );

    let reply = "Hi, this is Sam from the front desk.";
    let (status, body) = call(
        t.api(Method::POST, &format!("/conversations/{conv_id}/messages"))
            .json(&json!({"content": reply})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    loop {
        let m = next(&mut ws).await;
        assert_ne!(m["type"], "closed");
        if m["type"] == "agent_message" && m["data"]["author"] == "human" {
            assert_eq!(m["data"]["text"], reply, "{m}");
            break;
        }
    }
    until_transcript(&mut ws).await;
    let (_, got) = call(t.api(Method::GET, &format!("/conversations/{conv_id}"))).await;
    assert_eq!(got["data"]["ai_enabled"], false, "{got}");
    let ask = |text: &str| json!({"type": "user_message", "text": text});
    send(&mut ws, ask("Are you open on Saturday?")).await;
    let (_, said) = until_transcript(&mut ws).await;
    assert!(
        said.is_empty(),
        "the AI stays quiet after a person replied: {said:?}"
    );

    // Turning the AI back on hands the chat back.
    let (status, body) = call(
        t.api(Method::PATCH, &format!("/conversations/{conv_id}"))
            .json(&json!({"ai_enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until_transcript(&mut ws).await;
    send(&mut ws, ask("What are your opening hours?")).await;
    let (_, said) = until_transcript(&mut ws).await;
    assert!(!said.is_empty(), "the AI answers again");

    let (status, body) = call(t.api(Method::POST, &format!("/calls/{session}/end"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    until_conversation(&t, "?channel_type=web_chat", |c| {
        c["call_ids"] == json!([session])
    })
    .await;
    let (_, msgs) = call(t.api(
        Method::GET,
        &format!("/conversations/{conv_id}/messages?limit=100"),
    ))
    .await;
    let msgs = msgs["data"].as_array().unwrap();
    let replies: Vec<&Value> = msgs.iter().filter(|m| m["content"] == reply).collect();
    assert_eq!(
        replies.len(),
        1,
        "the reply is in the conversation once: {msgs:?}"
    );
    assert_eq!(replies[0]["author"], "user");
    assert!(msgs.iter().any(|m| m["author"] == "contact"
        && m["content"] == "Are you open on Saturday?"
        && m["call_id"] == json!(session)));
}

async fn one_address_holds_a_bounded_number_of_chats(backend: Backend) {
    let t = spawn(backend, Duration::from_secs(300)).await;
    let agent = agent(&t).await;
    let channel = channel(&t, Some(&agent)).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let (session, token) = open_session(&t, &channel).await;
        let mut ws = connect(&t, &session, &token, Some(SHOP)).await.unwrap();
        assert_eq!(next(&mut ws).await["type"], "connected");
        open.push(ws);
    }
    let (session, token) = open_session(&t, &channel).await;
    let (status, body) = connect(&t, &session, &token, Some(SHOP))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(status, 429);
    assert_error_body(&body);
    // A client cannot pick another bucket by claiming to be forwarded.
    let spoofed = [("origin", SHOP), ("x-forwarded-for", "198.51.100.77")];
    let refused = connect_with(&t, &session, &token, &spoofed).await;
    assert_eq!(refused.map(|_| ()).unwrap_err().0, 429);
    // A chat that closes frees its place.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    while next(&mut first).await["type"] != "closed" {}
    let start = Instant::now();
    loop {
        match connect(&t, &session, &token, Some(SHOP)).await {
            Ok(_) => break,
            Err((429, _)) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(other) => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn the_widget_is_served_to_any_page_with_cache_headers() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let url = format!("{}/widget.js", t.base);
    let resp = t
        .client
        .get(&url)
        .header("origin", "https://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert!(h["cache-control"].to_str().unwrap().contains("max-age="));
    let etag = h["etag"].to_str().unwrap().to_owned();
    let body = resp.text().await.unwrap();
    assert!(body.contains("public-session") && body.contains("user_message"));

    let gz = t
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let size = gz.bytes().await.unwrap().len();
    assert!(size < 30 * 1024, "{size} bytes gzipped");

    let again = t
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"], etag.as_str());
}
