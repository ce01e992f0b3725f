//! SMS through Twilio (SPEC §12) over real HTTP on both stores, against the
//! Twilio double: signed inbound texts land once in the sender's `sms`
//! conversation and the AI answers by SMS; a person's replies are stored
//! first, sent through the Messages API, retried while Twilio is down,
//! failed with Twilio's reason when it refuses, and moved on by signed
//! status callbacks — never lost.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::twilio::{SentMessage, TwilioDouble, signed_webhook, sms_status};
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call, config};

use crate::telephony::{CALLER, NUMBER, SID, TOKEN, double, hook, line, post, until};

backend_tests!(
    texts_come_in_once_and_the_ai_answers_by_sms,
    replies_are_retried_refused_or_delivered_never_lost,
);

/// The platform pointed at `twilio`, with webhook-queue retries in
/// milliseconds.
async fn spawn(backend: Backend, twilio: &TwilioDouble) -> TestApp {
    let (mut cfg, dir) = config(backend).await;
    cfg.twilio_api_base = twilio.base.clone();
    cfg.webhook_retry_base = Duration::from_millis(20);
    TestApp::spawn_with(cfg, dir).await
}

fn text<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", SID),
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("From", CALLER),
        ("To", NUMBER),
        ("Body", body),
        ("NumMedia", "0"),
    ]
}

/// Waits until the double has received `n` message forms.
async fn sent(twilio: &TwilioDouble, n: usize) -> Vec<SentMessage> {
    for _ in 0..200 {
        let got = twilio.messages();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the double got {:?}, not {n} messages", twilio.messages());
}

fn messages_path(conversation: &str) -> String {
    format!("/conversations/{conversation}/messages?limit=100")
}

/// The message with `content` once `done` holds for it.
async fn message(
    t: &TestApp,
    conversation: &str,
    content: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let find = |data: &Value| {
        data.as_array()
            .and_then(|ms| ms.iter().find(|m| m["content"] == content))
            .cloned()
    };
    let data = until(t, &messages_path(conversation), |d| {
        find(d).is_some_and(|m| done(&m))
    })
    .await;
    find(&data).unwrap_or_default()
}

async fn texts_come_in_once_and_the_ai_answers_by_sms(backend: Backend) {
    let twilio = double().await;
    let t = spawn(backend, &twilio).await;
    let channel = line(&t).await;
    // A second number ahead of the one the customer texts: replies still go
    // out from the number they wrote to.
    let (status, body) = call(
        t.api(Method::PATCH, &format!("/channels/{channel}"))
            .json(&json!({"phone_numbers": ["+14155550777", NUMBER]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = hook(&t, &channel, "sms");
    let first = text("SM0001", "Hello, are you open on Sunday?");

    // Unsigned, wrongly signed, and a replayed delivery: refused, stored nothing.
    let resp = t.client.post(&url).form(&first).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_error_body(&resp.json::<Value>().await.unwrap());
    let forged = signed_webhook(&t.client, &url, "not_the_token", &first, "idem-x")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (_, list) = call(t.api(Method::GET, "/conversations?channel_type=sms")).await;
    assert_eq!(list["data"], json!([]), "{list}");

    let send = |params: Vec<(&'static str, &'static str)>, idem: &'static str| {
        signed_webhook(&t.client, &url, TOKEN, &params, idem).send()
    };
    let resp = send(first.clone(), "idem-1").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    assert!(resp.text().await.unwrap().ends_with("<Response/>"));
    let replay = send(first.clone(), "idem-1").await.unwrap();
    assert_eq!(replay.status(), StatusCode::FORBIDDEN);
    assert!(replay.text().await.unwrap().contains("replayed"));
    // Twilio's retry of the same message (another delivery): taken once.
    let retry = send(first.clone(), "idem-2").await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);

    // The AI's answer goes out through the Messages API, from the number
    // texted to the sender, with its status callback.
    let out = sent(&twilio, 1).await;
    assert_eq!(out[0].field("To"), Some(CALLER));
    assert_eq!(out[0].field("From"), Some(NUMBER));
    let status_url = hook(&t, &channel, "sms-status");
    assert_eq!(out[0].field("StatusCallback"), Some(status_url.as_str()));
    let answer = out[0].field("Body").unwrap().to_owned();
    assert!(!answer.is_empty());

    let (_, list) = call(t.api(Method::GET, "/conversations?channel_type=sms")).await;
    let convs = list["data"].as_array().unwrap();
    assert_eq!(convs.len(), 1, "{list}");
    let conv = convs[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(convs[0]["channel_id"], channel.as_str());
    let (_, contact) = call(t.api(
        Method::GET,
        &format!("/contacts/{}", convs[0]["contact_id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(contact["data"]["phone"], CALLER, "{contact}");
    let ai = message(&t, &conv, &answer, |m| {
        m["provider_message_id"] == out[0].sid.as_deref().unwrap()
    })
    .await;
    assert_eq!(ai["author"], "ai");
    assert_eq!(ai["delivery_status"], "queued");

    // The next text continues the conversation; one not to the channel's
    // number is refused.
    let resp = send(text("SM0002", "And on Monday?"), "idem-3")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    sent(&twilio, 2).await;
    let data = until(&t, &messages_path(&conv), |d| {
        d.as_array().is_some_and(|a| a.len() == 4)
    })
    .await;
    let authors: Vec<&str> = data
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["contact", "ai", "contact", "ai"], "{data}");
    assert!(data[0]["delivery_status"].is_null(), "{data}");
    let mut elsewhere = text("SM0003", "hi");
    elsewhere[4] = ("To", "+14155550199");
    let (status, _, body) = post(&t, &url, &elsewhere).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, list) = call(t.api(Method::GET, "/conversations?channel_type=sms")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

async fn replies_are_retried_refused_or_delivered_never_lost(backend: Backend) {
    let twilio = double().await;
    let t = spawn(backend, &twilio).await;
    let channel = line(&t).await;
    let (_, contact) = call(t.api(Method::POST, "/contacts").json(&json!({
        "name": "Ada", "phone": CALLER,
    })))
    .await;
    let (status, conv) = call(t.api(Method::POST, "/conversations").json(&json!({
        "contact_id": contact["data"]["id"], "channel_type": "sms", "channel_id": channel,
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{conv}");
    let conv = conv["data"]["id"].as_str().unwrap().to_owned();
    let reply = |content: &str, kind: &str| {
        t.api(Method::POST, &format!("/conversations/{conv}/messages"))
            .json(&json!({"type": kind, "content": content}))
    };
    let status_url = hook(&t, &channel, "sms-status");
    let callback = |sid: &str, status: &str, code: Option<&str>| {
        sms_status(&t.client, &status_url, (SID, TOKEN), sid, status, code).send()
    };

    // A reply: stored queued, then sent; callbacks move it on, never back.
    let (status, shipped) = call(reply("Your order shipped.", "text")).await;
    assert_eq!(status, StatusCode::CREATED, "{shipped}");
    assert_eq!(shipped["data"]["delivery_status"], "queued");
    let (_, note) = call(reply("Customer is a VIP.", "note")).await;
    assert!(note["data"]["delivery_status"].is_null(), "{note}");
    let out = sent(&twilio, 1).await;
    assert_eq!(out[0].field("Body"), Some("Your order shipped."));
    let sid = out[0].sid.clone().unwrap();
    message(&t, &conv, "Your order shipped.", |m| {
        m["provider_message_id"] == sid
    })
    .await;
    for (status, want) in [
        ("sent", StatusCode::NO_CONTENT),
        ("delivered", StatusCode::NO_CONTENT),
        ("sent", StatusCode::NO_CONTENT),
    ] {
        let resp = callback(&sid, status, None).await.unwrap();
        assert_eq!(resp.status(), want, "{status}");
    }
    let m = message(&t, &conv, "Your order shipped.", |_| true).await;
    assert_eq!(
        m["delivery_status"], "delivered",
        "a late `sent` is ignored"
    );
    // Unsigned callbacks and unknown messages are refused.
    let resp = t
        .client
        .post(&status_url)
        .form(&[("MessageSid", sid.as_str()), ("MessageStatus", "failed")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = callback("SM99999", "delivered", None).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_error_body(&resp.json::<Value>().await.unwrap());

    // Twilio down twice: retried, then taken; an undelivered callback says why.
    twilio.fail_messages(2);
    call(reply("Second try.", "text")).await;
    let out = sent(&twilio, 4).await;
    assert!(out[1..3].iter().all(|m| m.sid.is_none()), "{out:?}");
    let sid = out[3].sid.clone().unwrap();
    message(&t, &conv, "Second try.", |m| {
        m["provider_message_id"] == sid
    })
    .await;
    callback(&sid, "undelivered", Some("30003")).await.unwrap();
    let m = message(&t, &conv, "Second try.", |_| true).await;
    assert_eq!(m["delivery_status"], "undelivered");
    assert_eq!(m["delivery_error"], "Twilio error 30003");

    // A refused number: failed at once with Twilio's code and message.
    twilio.refuse_messages(Some((
        400,
        21211,
        "The 'To' number +14155559999 is not a valid phone number.".into(),
    )));
    call(reply("Third.", "text")).await;
    let m = message(&t, &conv, "Third.", |m| m["delivery_status"] == "failed").await;
    let why = m["delivery_error"].as_str().unwrap();
    assert!(
        why.contains("21211") && why.contains("not a valid phone number"),
        "{why}"
    );
    assert!(!why.contains(TOKEN) && !why.contains(SID), "{why}");
    assert_eq!(twilio.messages().len(), 5);

    // Down for longer than the retries: failed after the last attempt.
    twilio.refuse_messages(None);
    twilio.fail_messages(100);
    call(reply("Fourth.", "text")).await;
    let m = message(&t, &conv, "Fourth.", |m| m["delivery_status"] == "failed").await;
    let why = m["delivery_error"].as_str().unwrap();
    assert!(
        why.contains("503") && why.contains("gave up after 5 attempts"),
        "{why}"
    );
    assert_eq!(twilio.messages().len(), 10);

    // Nothing lost: every reply and the note, in order, each as it ended.
    let (_, all) = call(t.api(Method::GET, &messages_path(&conv))).await;
    let got: Vec<(&str, &Value)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["content"].as_str().unwrap(), &m["delivery_status"]))
        .collect();
    assert_eq!(
        got,
        [
            ("Your order shipped.", &json!("delivered")),
            ("Customer is a VIP.", &Value::Null),
            ("Second try.", &json!("undelivered")),
            ("Third.", &json!("failed")),
            ("Fourth.", &json!("failed")),
        ],
        "{all}"
    );
}

/// Inbound SMS ingest on the embedded store, as the issue measures it: from
/// Twilio's signed webhook to the text stored (the webhook's round trip: the
/// message is stored, the conversation updated and `message.received`
/// queued before Twilio is answered) and on to its `message.created` push on
/// a connected inbox socket. 500 texts from 50 numbers to a channel with no
/// agent (the ingest, not the AI): half one at a time (p50/p99 of both
/// delays), half 8 at once (messages/s stored and pushed). A measurement,
/// run on request:
/// `cargo test --release -p switchboard-tests --test api sms::inbound_ingest_is_measured -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run on request"]
async fn inbound_ingest_is_measured() {
    use futures::StreamExt;
    use std::collections::HashMap;
    use std::time::Instant;
    use switchboard_tests::measure::percentile;
    use tokio_tungstenite::tungstenite::Message;

    const TEXTS: usize = 500;
    const SENDERS: usize = 50;
    let twilio = double().await;
    let t = spawn(Backend::Embedded, &twilio).await;
    let (status, channel) = call(t.api(Method::POST, "/channels").json(&json!({
        "name": "Texts", "type": "twilio",
        "credentials": {"account_sid": SID, "auth_token": TOKEN},
        "phone_numbers": [NUMBER],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let url = hook(&t, channel["data"]["id"].as_str().unwrap(), "sms");

    // The inbox socket, read by its own task: when each text's push arrived.
    let (_, live) = call(t.api(Method::GET, "/conversations/live")).await;
    let socket = format!(
        "{}?session_token={}",
        live["data"]["websocket_url"].as_str().unwrap(),
        live["data"]["session_token"].as_str().unwrap()
    );
    let mut ws = switchboard_tests::ws_connect(socket.as_str())
        .await
        .expect("the inbox socket opens");
    let pushed = tokio::spawn(async move {
        let mut at = HashMap::new();
        while at.len() < TEXTS {
            let Ok(Some(Ok(Message::Text(text)))) =
                tokio::time::timeout(Duration::from_secs(30), ws.next()).await
            else {
                panic!("the socket stopped after {} pushes", at.len());
            };
            let push: Value = serde_json::from_str(text.as_str()).unwrap();
            if push["type"] == "message.created" {
                let content = push["data"]["content"].as_str().unwrap().to_owned();
                at.insert(content, Instant::now());
            }
        }
        at
    });

    let body = |i: usize| format!("Where is my order #{i}? It was due yesterday.");
    let deliver = |i: usize| {
        let (url, client) = (url.clone(), t.client.clone());
        async move {
            let sid = format!("SM{i:032x}");
            let from = format!("+1415555{:04}", 2000 + i % SENDERS);
            let text = body(i);
            let params = [
                ("AccountSid", SID),
                ("MessageSid", sid.as_str()),
                ("From", from.as_str()),
                ("To", NUMBER),
                ("Body", text.as_str()),
            ];
            let started = Instant::now();
            let resp = signed_webhook(&client, &url, TOKEN, &params, &sid)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            (started, started.elapsed())
        }
    };
    let mut sent = Vec::new();
    let mut stored = Vec::new();
    for i in 0..TEXTS / 2 {
        let (at, took) = deliver(i).await;
        sent.push(at);
        stored.push(took);
    }
    let burst = Instant::now();
    let _: Vec<_> = futures::stream::iter(TEXTS / 2..TEXTS)
        .map(deliver)
        .buffer_unordered(8)
        .collect()
        .await;
    let stored_rate = (TEXTS / 2) as f64 / burst.elapsed().as_secs_f64();
    let pushed = pushed.await.unwrap();
    let last_push = (TEXTS / 2..TEXTS).map(|i| pushed[&body(i)]).max().unwrap();
    let pushed_rate = (TEXTS / 2) as f64 / last_push.duration_since(burst).as_secs_f64();
    let mut to_push: Vec<Duration> = (0..TEXTS / 2)
        .map(|i| pushed[&body(i)].duration_since(sent[i]))
        .collect();
    stored.sort();
    to_push.sort();

    let (_, list) = call(t.api(Method::GET, "/conversations?channel_type=sms&limit=100")).await;
    let convs = list["data"].as_array().unwrap();
    let unread: u64 = convs
        .iter()
        .map(|c| c["unread_count"].as_u64().unwrap())
        .sum();
    assert_eq!((convs.len(), unread), (SENDERS, TEXTS as u64), "{list}");
    let ms = |d: &[Duration], p: f64| percentile(d, p).as_secs_f64() * 1e3;
    println!(
        "inbound SMS ({} build, embedded, {TEXTS} texts from {SENDERS} numbers), one at a time: \
         stored p50 {:.1} ms, p99 {:.1} ms; pushed p50 {:.1} ms, p99 {:.1} ms. \
         8 at once: {stored_rate:.0} messages/s stored, {pushed_rate:.0} messages/s pushed",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        ms(&stored, 0.5),
        ms(&stored, 0.99),
        ms(&to_push, 0.5),
        ms(&to_push, 0.99),
    );
}
