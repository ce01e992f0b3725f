//! The live inbox (`/ws/inbox`, SPEC §14) over real WebSockets on both
//! stores: the pushes an admin, an agent and another org get for every
//! change (created, messages and notes, status, tags, assignment), in the
//! order written; refusals on the upgrade; a test-mode call arriving with
//! its transcript; and the delay from a posted message to its push.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::conversations::feed::FeedEntry;
use switchboard::services::conversations::socket;
use switchboard::services::table_keys::{inbox_feed_pk, inbox_feed_sk};
use switchboard::store::{Condition, Item};
use switchboard_tests::measure::percentile;
use switchboard_tests::{
    TEST_KEY, TestApp, WsClient, assert_error_body, backend_tests, call, ws_connect,
};
use tokio_tungstenite::tungstenite::Message;

backend_tests!(the_inbox_arrives_live_on_the_socket);

/// How long a push may take to arrive (the relay reads the feed every 200 ms).
const WITHIN: Duration = Duration::from_secs(3);

/// Opens the inbox socket at `url`; the refusal's status and body otherwise.
async fn connect(url: &str) -> Result<WsClient, (u16, Value)> {
    ws_connect(url).await
}

/// Opens the socket with `token` and reads its `connected`.
async fn open(url: &str, token: &str) -> WsClient {
    let mut ws = connect(&format!("{url}?session_token={token}"))
        .await
        .expect("the socket opens");
    assert_eq!(next(&mut ws).await["type"], "connected");
    ws
}

/// The next JSON message, which must come within [`WITHIN`].
async fn next(ws: &mut WsClient) -> Value {
    loop {
        let got = tokio::time::timeout(WITHIN, ws.next())
            .await
            .expect("a message in time");
        match got {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return json!({"type": "closed"}),
            Some(Ok(_)) => continue,
        }
    }
}

/// The conversation a push is about.
fn about(push: &Value) -> &str {
    let data = &push["data"];
    match push["type"].as_str() {
        Some("message.created") => data["conversation_id"].as_str().unwrap(),
        _ => data["id"].as_str().unwrap(),
    }
}

/// Reads one push per `(type, conversation)` of `expected`, in that order.
async fn expect(ws: &mut WsClient, expected: &[(&str, &str)]) -> Vec<Value> {
    let mut got = Vec::new();
    for (kind, conversation) in expected {
        let push = next(ws).await;
        assert_eq!(
            (push["type"].as_str().unwrap_or(""), about(&push)),
            (*kind, *conversation),
            "{push}"
        );
        got.push(push);
    }
    got
}

/// Asserts nothing was pushed: a ping's `pong` comes first.
async fn nothing_pushed(ws: &mut WsClient) {
    ws.send(Message::Text(json!({"type": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(next(ws).await, json!({"type": "pong"}));
}

/// `data` of a successful call.
async fn ok(req: reqwest::RequestBuilder) -> Value {
    let (status, body) = call(req).await;
    assert!(status.is_success(), "{status} {body}");
    body["data"].clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn the_inbox_arrives_live_on_the_socket(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.05).await;
    let (admin, me) = t.signup("admin@example.com").await;
    let admin_id = me["user"]["id"].as_str().unwrap().to_owned();
    let agent = t.member(&admin, "agent@example.com", "agent").await;
    let agent_id = ok(t.session(Method::GET, "/auth/me", &agent)).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_admin = |m: Method, p: &str| t.session(m, p, &admin);

    // The socket and its token.
    let live = ok(as_admin(Method::GET, "/conversations/live")).await;
    let url = live["websocket_url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{}/ws/inbox", t.app.config.relay_url));
    assert!(live["expires_at"].is_string(), "{live}");
    assert!(live["message_types"].as_array().unwrap().len() >= 4);
    let admin_token = live["session_token"].as_str().unwrap().to_owned();
    let agent_token =
        ok(t.session(Method::GET, "/conversations/live", &agent)).await["session_token"]
            .as_str()
            .unwrap()
            .to_owned();

    // Bad credentials: 401 with the error body, on the upgrade.
    let mut forged = admin_token.clone();
    forged.pop();
    for query in [
        String::new(),
        "?session_token=ist1.bogus.sig".into(),
        format!("?session_token={forged}"),
        "?api_key=sb_test_wrong_key_000000000000".into(),
    ] {
        let (status, body) = connect(&format!("{url}{query}")).await.unwrap_err();
        assert_eq!(status, 401, "{query}: {body}");
        assert_error_body(&body);
    }
    let (status, body) = call(
        t.client
            .get(format!("{}/ws/inbox?session_token={admin_token}", t.base)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not a WebSocket: {body}");
    assert_error_body(&body);

    let mut admin_ws = open(&url, &admin_token).await;
    let mut agent_ws = open(&url, &agent_token).await;
    // Another org (the bootstrap key's), by API key.
    let mut other_ws = connect(&format!("{url}?api_key={TEST_KEY}")).await.unwrap();
    assert_eq!(next(&mut other_ws).await["type"], "connected");
    let other_opened = t.app.now().timestamp_millis();

    // Created: the admin sees both; the agent only the unassigned one.
    let contact = ok(as_admin(Method::POST, "/contacts").json(&json!({"name": "Ada"}))).await;
    let a = id(&ok(
        as_admin(Method::POST, "/conversations").json(&json!({"contact_id": contact["id"]}))
    )
    .await);
    let b = id(&ok(as_admin(Method::POST, "/conversations")
        .json(&json!({"contact_id": contact["id"], "assignee_id": admin_id})))
    .await);
    let (a, b) = (a.as_str(), b.as_str());
    let created = expect(
        &mut admin_ws,
        &[("conversation.created", a), ("conversation.created", b)],
    )
    .await;
    assert_eq!(created[1]["data"]["assignee_id"], admin_id.as_str());

    // A reply, a note, a status, a tag, a message on B, an assignment.
    let at = |p: &str| format!("/conversations/{a}/{p}");
    ok(as_admin(Method::POST, &at("messages")).json(&json!({"content": "Hello Ada"}))).await;
    ok(as_admin(Method::POST, &at("messages"))
        .json(&json!({"content": "VIP, be nice", "type": "note"})))
    .await;
    ok(as_admin(Method::POST, &at("status")).json(&json!({"status": "pending"}))).await;
    ok(as_admin(Method::POST, &at("tags")).json(&json!({"tag": "vip"}))).await;
    ok(
        as_admin(Method::POST, &format!("/conversations/{b}/messages"))
            .json(&json!({"content": "Only for admins"})),
    )
    .await;
    ok(as_admin(Method::POST, &at("assign")).json(&json!({"user_id": agent_id}))).await;
    let on_a = [
        ("message.created", a),
        ("conversation.updated", a),
        ("message.created", a),
        ("conversation.updated", a),
        ("conversation.updated", a),
        ("conversation.updated", a),
    ];
    let mut for_admin = on_a.to_vec();
    for_admin.extend([
        ("message.created", b),
        ("conversation.updated", b),
        ("conversation.updated", a),
    ]);
    let pushed = expect(&mut admin_ws, &for_admin).await;
    assert_eq!(pushed[0]["data"]["type"], "text");
    assert_eq!(pushed[0]["data"]["content"], "Hello Ada");
    assert_eq!(
        pushed[1]["data"]["ai_enabled"], false,
        "a reply pauses the AI"
    );
    assert_eq!(pushed[1]["data"]["last_message_preview"], "Hello Ada");
    assert_eq!(pushed[2]["data"]["type"], "note");
    assert_eq!(pushed[4]["data"]["status"], "pending");
    assert_eq!(pushed[5]["data"]["tags"], json!(["vip"]));
    assert_eq!(pushed[8]["data"]["assignee_id"], agent_id.as_str());
    let mut for_agent = vec![("conversation.created", a)];
    for_agent.extend(on_a);
    for_agent.push(("conversation.updated", a));
    expect(&mut agent_ws, &for_agent).await;

    // Taken from the agent: they see it go, then nothing more of it.
    ok(as_admin(Method::POST, &at("assign")).json(&json!({"user_id": admin_id}))).await;
    let gone = expect(&mut agent_ws, &[("conversation.updated", a)]).await;
    assert_eq!(gone[0]["data"]["assignee_id"], admin_id.as_str());
    ok(as_admin(Method::POST, &at("messages")).json(&json!({"content": "Mine now"}))).await;
    // The largest new conversation (10 tags, a contact of many words) still
    // fits its one transaction with its feed item.
    let many = ok(as_admin(Method::POST, "/contacts").json(&json!({
        "name": "Augusta Ada Byron King Countess of Lovelace Noel", "phone": "+14155550177"})))
    .await;
    let tags: Vec<String> = (0..10).map(|i| format!("tag{i}")).collect();
    let c = id(&ok(as_admin(Method::POST, "/conversations")
        .json(&json!({"contact_id": many["id"], "tags": tags})))
    .await);
    expect(&mut agent_ws, &[("conversation.created", c.as_str())]).await;
    expect(
        &mut admin_ws,
        &[
            ("conversation.updated", a),
            ("message.created", a),
            ("conversation.updated", a),
            ("conversation.created", c.as_str()),
        ],
    )
    .await;
    // Another org got nothing; unknown client messages are answered.
    nothing_pushed(&mut other_ws).await;
    late_writes_arrive_once(&t, &mut other_ws, other_opened).await;
    admin_ws
        .send(Message::Text(r#"{"type":"subscribe"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next(&mut admin_ws).await["type"], "error");

    // A user holds at most 10 sockets (the agent has one open already).
    let mut more = Vec::new();
    for _ in 0..9 {
        more.push(open(&url, &agent_token).await);
    }
    let (status, body) = connect(&format!("{url}?session_token={agent_token}"))
        .await
        .unwrap_err();
    assert_eq!(status, 409, "{body}");
    assert!(
        assert_error_body(&body).contains("10 inbox sockets"),
        "{body}"
    );
    drop(more);

    // An open socket's periodic re-check: the agent's holds until they sign out.
    let viewer = socket::verify(&t.app, &agent_token).unwrap();
    assert!(viewer.still_allowed(&t.app).await.unwrap());
    let (status, _) = call(t.session(Method::POST, "/auth/logout", &agent)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!viewer.still_allowed(&t.app).await.unwrap());
    // An API key's socket holds until the key is revoked.
    let (_, key) = call(
        t.session(Method::POST, "/api-keys", &admin)
            .json(&json!({"name": "Wallboard"})),
    )
    .await;
    let secret = key["data"]["key"].as_str().unwrap().to_owned();
    let (status, live) = call(
        t.anon(Method::GET, "/conversations/live")
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{live}");
    let viewer = socket::verify(&t.app, live["data"]["session_token"].as_str().unwrap()).unwrap();
    assert!(viewer.still_allowed(&t.app).await.unwrap());
    let path = format!("/api-keys/{}", key["data"]["id"].as_str().unwrap());
    let (status, _) = call(t.session(Method::DELETE, &path, &admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!viewer.still_allowed(&t.app).await.unwrap());

    measure(&t, backend, &mut admin_ws, a, &admin).await;
    a_test_call_arrives(&t, &url).await;
}

/// A write that commits after later ones were read (its key's time is
/// 1.5 s old) still arrives, once, though every read looks back over it.
/// `ws` (the bootstrap key's) was opened at `opened_ms`: what was written
/// before is not its news.
async fn late_writes_arrive_once(t: &TestApp, ws: &mut WsClient, opened_ms: i64) {
    let me = ok(t.api(Method::GET, "/auth/me")).await;
    let tenant = Tenant {
        org_id: me["organization"]["id"].as_str().unwrap().to_owned(),
        mode: Mode::Live,
    };
    let late = 1500;
    let open_for = t.app.now().timestamp_millis() - opened_ms;
    if open_for < late {
        tokio::time::sleep(Duration::from_millis((late - open_for) as u64)).await;
    }
    let at_ms = t.app.now().timestamp_millis() - late;
    let entry = FeedEntry {
        id: t.app.new_id(),
        at_ms,
        event_type: "conversation.updated".into(),
        conversation_id: "late".into(),
        assignee_id: None,
        previous_assignee_id: None,
        data: json!({"id": "late"}),
    };
    let item = Item::new(
        inbox_feed_pk(&tenant),
        inbox_feed_sk(at_ms, &entry.id),
        serde_json::to_value(&entry).unwrap(),
    );
    t.app.table.put(item, Condition::None).await.unwrap();
    expect(ws, &[("conversation.updated", "late")]).await;
    // Several reads later, nothing came twice.
    tokio::time::sleep(Duration::from_millis(700)).await;
    nothing_pushed(ws).await;
}

/// The issue's "done when": a test-mode sim call makes its conversation and
/// its transcript arrive on a socket opened with an API key's token.
async fn a_test_call_arrives(t: &TestApp, url: &str) {
    let live = ok(t.api(Method::GET, "/conversations/live?mode=test")).await;
    let mut ws = open(url, live["session_token"].as_str().unwrap()).await;
    let agent = ok(t.api(Method::POST, "/agents?mode=test").json(&json!({
        "name": "Booker", "system_prompt": "You book dentist appointments.",
        "greeting": "Hello, this is Harbor Lane Dental calling."})))
    .await;
    let task = ok(t
        .api(Method::POST, "/tasks?mode=test")
        .json(&json!({"agent_id": agent["id"], "to_number": "+14155550142"})))
    .await;
    let started = ok(t
        .api(
            Method::POST,
            &format!("/tasks/{}/execute?mode=test", id(&task)),
        )
        .json(&json!({})))
    .await;
    let call_id = started["call_id"].as_str().unwrap();
    // The sandbox's own demo data may arrive too: keep what is this call's.
    let mut created = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "the call's transcript never arrived"
        );
        let push = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a push")
            .expect("the socket is open")
            .expect("a message");
        let Message::Text(text) = push else { continue };
        let push: Value = serde_json::from_str(text.as_str()).unwrap();
        if push["type"] == "conversation.created" {
            created.insert(id(&push["data"]));
        }
        if push["type"] == "message.created" && push["data"]["call_id"] == call_id {
            break push;
        }
    };
    assert_eq!(first["data"]["author"], "ai");
    assert_eq!(
        first["data"]["content"],
        "Hello, this is Harbor Lane Dental calling."
    );
    assert!(
        created.contains(about(&first)),
        "conversation.created came first: {first}"
    );
}

/// The delay from `POST /conversations/{id}/messages` to its push (sent
/// one after another, each POST awaited), printed as p50/p99.
async fn measure(
    t: &TestApp,
    backend: Backend,
    ws: &mut WsClient,
    conversation: &str,
    admin: &str,
) {
    let n = match backend {
        Backend::Embedded => 200,
        Backend::Aws => 50,
    };
    let path = format!("/conversations/{conversation}/messages");
    let mut sent = HashMap::new();
    let post = async {
        for i in 0..n {
            sent.insert(format!("m{i}"), Instant::now());
            let (status, body) = call(
                t.session(Method::POST, &path, admin)
                    .json(&json!({"content": format!("m{i}")})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    };
    let receive = async {
        let mut arrived = HashMap::new();
        while arrived.len() < n {
            let push = next(ws).await;
            if push["type"] == "message.created" {
                let content = push["data"]["content"].as_str().unwrap().to_owned();
                arrived.insert(content, Instant::now());
            }
        }
        arrived
    };
    let ((), arrived) = tokio::join!(post, receive);
    let mut delays: Vec<Duration> = arrived
        .iter()
        .map(|(content, at)| at.duration_since(sent[content]))
        .collect();
    delays.sort();
    println!(
        "inbox push delay, {backend:?} store, debug build, {n} messages: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1]
    );
}
