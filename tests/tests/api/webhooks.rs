//! Webhooks (SPEC §13), end to end over real HTTP: endpoints with a secret
//! shown once; deliveries from the events queue through the webhook worker
//! to a receiver in the test, signed the Standard Webhooks way (checked by
//! the `standardwebhooks` package, a verifier we did not write); retries,
//! the dead-letter path and redelivery; the SSRF rules at create and at
//! delivery; and one delivery per (event, endpoint) however often an event
//! is handled.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::engine::signing::WebhookSecret;
use switchboard::services::events::{self, Event};
use switchboard::services::table_keys::task_deliveries_index;
use switchboard::services::webhooks;
use switchboard::store::{Index, Query};
use switchboard_tests::receiver::{Captured, Receiver};
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    endpoints_show_their_secret_once_and_masked_after,
    knowledge_ready_reaches_a_subscribed_endpoint_signed,
    a_failing_endpoint_is_retried_until_it_answers,
    a_dead_endpoint_ends_failed_and_can_be_redelivered,
    private_destinations_are_refused_at_create_and_at_delivery,
    an_event_handled_twice_is_delivered_once,
    a_stalled_endpoint_does_not_hold_the_others,
);

const WAIT: Duration = Duration::from_secs(30);

/// A platform whose outbound client may reach a receiver on 127.0.0.1 and
/// whose retries are quick.
async fn spawn(backend: Backend) -> TestApp {
    let (mut config, dir) = switchboard_tests::config(backend).await;
    config.outbound_allow = "127.0.0.1".into();
    config.webhook_retry_base = Duration::from_millis(20);
    TestApp::spawn_with(config, dir).await
}

/// Signs up an org; returns its session and live tenant.
async fn org(t: &TestApp, email: &str) -> (String, Tenant) {
    let (cookie, data) = t.signup(email).await;
    let tenant = Tenant {
        org_id: data["organization"]["id"].as_str().unwrap().to_owned(),
        mode: Mode::Live,
    };
    (cookie, tenant)
}

async fn create_endpoint(t: &TestApp, cookie: &str, url: &str, events: &[&str]) -> Value {
    let (status, body) = call(
        t.session(Method::POST, "/webhooks", cookie)
            .json(&json!({"url": url, "events": events})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

async fn deliveries(t: &TestApp, cookie: &str, webhook_id: &str) -> Vec<Value> {
    let (status, body) = call(t.session(
        Method::GET,
        &format!("/webhooks/{webhook_id}/deliveries"),
        cookie,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Waits until the endpoint's newest delivery has `status`.
async fn settled(t: &TestApp, cookie: &str, webhook_id: &str, status: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let list = deliveries(t, cookie, webhook_id).await;
        if let Some(d) = list.first()
            && d["status"] == status
        {
            return d.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {status} delivery: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn verifies(secret: &str, got: &Captured) -> bool {
    let secret = WebhookSecret::parse(secret).unwrap();
    let ts: i64 = got.header("webhook-timestamp").parse().unwrap();
    secret.verify(
        got.header("webhook-id"),
        ts,
        &got.body,
        got.header("webhook-signature"),
    )
}

/// Verifies a captured delivery with the `standardwebhooks` package from
/// PyPI (`scripts/test` installs it). Fails, never skips, without it.
pub(crate) fn python_verifies(secret: &str, got: &Captured, body: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body");
    let headers_path = dir.path().join("headers.json");
    std::fs::write(&body_path, body).unwrap();
    let headers = json!({
        "webhook-id": got.header("webhook-id"),
        "webhook-timestamp": got.header("webhook-timestamp"),
        "webhook-signature": got.header("webhook-signature"),
    });
    std::fs::write(&headers_path, headers.to_string()).unwrap();
    let script = "import json, sys\n\
        from standardwebhooks import Webhook\n\
        from standardwebhooks.webhooks import WebhookVerificationError\n\
        body = open(sys.argv[2], 'rb').read()\n\
        headers = json.load(open(sys.argv[3]))\n\
        try:\n    Webhook(sys.argv[1]).verify(body, headers)\n\
        except WebhookVerificationError as e:\n    print('rejected:', e); sys.exit(3)\n\
        print('verified')\n";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(secret)
        .arg(&body_path)
        .arg(&headers_path)
        .output()
        .expect("python3 must be installed to verify webhook signatures");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        _ => panic!(
            "the standardwebhooks verifier did not run (pip install standardwebhooks): {stdout}{stderr}"
        ),
    }
}

async fn endpoints_show_their_secret_once_and_masked_after(backend: Backend) {
    let t = spawn(backend).await;
    let (cookie, _) = org(&t, "hooks@example.com").await;
    let (status, created) = call(
        t.session(Method::POST, "/webhooks", &cookie)
            .header("idempotency-key", "create-hook-1")
            .json(&json!({"url": "https://example.com/hooks", "events": ["call.completed", "knowledge.ready"], "active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let hook = &created["data"];
    let id = hook["id"].as_str().unwrap();
    let secret = hook["secret"].as_str().unwrap();
    assert!(WebhookSecret::parse(secret).is_ok(), "{secret}");
    assert_eq!(hook["events"], json!(["call.completed", "knowledge.ready"]));
    assert_eq!(hook["active"], false);
    let masked = format!("••••{}", &secret[secret.len() - 4..]);

    // The same Idempotency-Key: the secret is never shown (nor minted) again.
    let (status, retry) = call(
        t.session(Method::POST, "/webhooks", &cookie)
            .header("idempotency-key", "create-hook-1")
            .json(&json!({"url": "https://example.com/hooks", "events": ["call.completed", "knowledge.ready"], "active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{retry}");
    assert!(!retry.to_string().contains(secret));

    let (status, list) = call(t.session(Method::GET, "/webhooks", &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["meta"]["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["secret"], masked);
    let (status, one) = call(t.session(Method::GET, &format!("/webhooks/{id}"), &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["data"]["secret"], masked);
    assert!(!one.to_string().contains(secret));

    // Another org sees none of it.
    let (other, _) = org(&t, "other@example.com").await;
    for path in [
        format!("/webhooks/{id}"),
        format!("/webhooks/{id}/deliveries"),
    ] {
        let (status, body) = call(t.session(Method::GET, &path, &other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_error_body(&body);
    }
    let (_, theirs) = call(t.session(Method::GET, "/webhooks", &other)).await;
    assert_eq!(theirs["data"], json!([]));

    // Bad bodies: one 422 naming each field.
    let (status, body) =
        call(t.session(Method::POST, "/webhooks", &cookie).json(
            &json!({"url": "http://example.com/x", "events": ["call.exploded"], "active": 1}),
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_body(&body);
    let fields = &body["details"]["fields"];
    assert!(fields["url"].as_str().unwrap().contains("https"), "{body}");
    assert!(
        fields["events"].is_string() && fields["active"].is_string(),
        "{body}"
    );
    let (status, body) = call(
        t.session(Method::POST, "/webhooks", &cookie)
            .json(&json!({"url": null, "events": "call.started", "secret": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = body["details"]["fields"].as_object().unwrap();
    assert_eq!(fields["url"], "is required");
    assert_eq!(fields["events"], "must be an array of event types");
    assert_eq!(fields["secret"], "is not a field of a webhook endpoint");
    assert_eq!(fields.len(), 3, "{fields:?}");

    // The task-webhook secret: created on first read, stable, rotated.
    let (status, first) = call(t.session(Method::GET, "/webhooks/task-secret", &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let task_secret = first["data"]["secret"].as_str().unwrap().to_owned();
    assert!(WebhookSecret::parse(&task_secret).is_ok());
    let (_, again) = call(t.session(Method::GET, "/webhooks/task-secret", &cookie)).await;
    assert_eq!(again["data"]["secret"], task_secret.as_str());
    let (status, rotated) =
        call(t.session(Method::POST, "/webhooks/task-secret/rotate", &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(rotated["data"]["secret"], task_secret.as_str());
    let (_, after) = call(t.session(Method::GET, "/webhooks/task-secret", &cookie)).await;
    assert_eq!(after["data"]["secret"], rotated["data"]["secret"]);

    let (status, deleted) =
        call(t.session(Method::DELETE, &format!("/webhooks/{id}"), &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["data"]["deleted"], true);
    let (status, _) = call(t.session(Method::GET, &format!("/webhooks/{id}"), &cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn knowledge_ready_reaches_a_subscribed_endpoint_signed(backend: Backend) {
    let t = spawn(backend).await;
    let (cookie, _) = org(&t, "kb@example.com").await;
    let receiver = Receiver::start(0, 200).await;
    let bystander = Receiver::start(0, 200).await;
    let hook = create_endpoint(&t, &cookie, &receiver.url, &["knowledge.ready"]).await;
    create_endpoint(&t, &cookie, &bystander.url, &["call.completed"]).await;
    let secret = hook["secret"].as_str().unwrap();

    let (status, doc) = call(
        t.session(Method::POST, "/knowledge/ingest-text", &cookie)
            .json(
                &json!({"name": "Hours", "content": "We are open from nine to five on weekdays."}),
            ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let got = receiver.wait_for(1, WAIT).await;
    let delivery = &got[0];
    let body = delivery.json();
    assert_eq!(body["type"], "knowledge.ready", "{body}");
    assert_eq!(body["data"]["id"], doc["data"]["id"]);
    assert_eq!(body["data"]["status"], "ready");
    assert!(body["timestamp"].is_string());
    assert_eq!(delivery.header("content-type"), "application/json");
    assert!(verifies(secret, delivery), "our own verifier");
    assert!(
        python_verifies(secret, delivery, &delivery.body),
        "standardwebhooks"
    );
    let mut tampered = delivery.body.clone();
    tampered.push(b' ');
    assert!(!python_verifies(secret, delivery, &tampered));

    let record = settled(&t, &cookie, hook["id"].as_str().unwrap(), "delivered").await;
    assert_eq!(record["id"], delivery.header("webhook-id"));
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["last_status_code"], 200);
    assert_eq!(record["event_type"], "knowledge.ready");
    assert!(record["attempt_log"][0]["latency_ms"].is_u64());
    // Not subscribed, nothing sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bystander.received().is_empty());
}

async fn a_failing_endpoint_is_retried_until_it_answers(backend: Backend) {
    let t = spawn(backend).await;
    let (cookie, tenant) = org(&t, "retry@example.com").await;
    let receiver = Receiver::start(2, 500).await;
    let hook = create_endpoint(&t, &cookie, &receiver.url, &["call.completed"]).await;
    events::emit(&t.app, &tenant, "call.completed", json!({"id": "call-1"}))
        .await
        .unwrap();
    let got = receiver.wait_for(3, WAIT).await;
    let ids: Vec<&str> = got.iter().map(|c| c.header("webhook-id")).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "one id across retries: {ids:?}"
    );
    for c in &got {
        assert!(verifies(hook["secret"].as_str().unwrap(), c));
    }
    let record = settled(&t, &cookie, hook["id"].as_str().unwrap(), "delivered").await;
    assert_eq!(record["attempts"], 3, "{record}");
    let codes: Vec<&Value> = record["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(200)]);
    assert_eq!(record["id"], ids[0]);
}

async fn a_dead_endpoint_ends_failed_and_can_be_redelivered(backend: Backend) {
    let t = spawn(backend).await;
    let (cookie, tenant) = org(&t, "dead@example.com").await;
    let receiver = Receiver::start(usize::MAX, 503).await;
    let hook = create_endpoint(&t, &cookie, &receiver.url, &["call.failed"]).await;
    let hook_id = hook["id"].as_str().unwrap();
    events::emit(&t.app, &tenant, "call.failed", json!({"id": "call-2"}))
        .await
        .unwrap();
    let failed = settled(&t, &cookie, hook_id, "failed").await;
    assert_eq!(
        failed["attempts"],
        webhooks::delivery::MAX_ATTEMPTS,
        "{failed}"
    );
    assert_eq!(failed["last_status_code"], 503);
    assert_eq!(
        receiver.received().len(),
        webhooks::delivery::MAX_ATTEMPTS as usize
    );
    if let Some(parts) = &t.app.embedded {
        // The exhausted message is in the dead-letter queue.
        let dlq = switchboard::store::embedded::EmbeddedQueue::new(
            parts.db.clone(),
            "webhooks-dlq",
            None,
        );
        let deadline = std::time::Instant::now() + WAIT;
        while dlq.depth().unwrap() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing reached the DLQ"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    receiver.recover();
    let id = failed["id"].as_str().unwrap();
    let (status, again) = call(t.session(
        Method::POST,
        &format!("/webhooks/deliveries/{id}/redeliver"),
        &cookie,
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["data"]["id"], id);
    let delivered = settled(&t, &cookie, hook_id, "delivered").await;
    assert_eq!(delivered["id"], id);
    let last = receiver.received().pop().unwrap();
    assert_eq!(last.header("webhook-id"), id);
    assert!(verifies(hook["secret"].as_str().unwrap(), &last));

    // Redelivering what is not finished, or another org's, is refused.
    let (other, _) = org(&t, "someone@example.com").await;
    let (status, body) = call(t.session(
        Method::POST,
        &format!("/webhooks/deliveries/{id}/redeliver"),
        &other,
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_body(&body);
}

async fn private_destinations_are_refused_at_create_and_at_delivery(backend: Backend) {
    let t = spawn(backend).await;
    let (cookie, tenant) = org(&t, "ssrf@example.com").await;
    for url in [
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "http://192.168.1.1/hook",
    ] {
        let (status, body) = call(
            t.session(Method::POST, "/webhooks", &cookie)
                .json(&json!({"url": url, "events": ["call.completed"]})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_error_body(&body);
        assert!(body["details"]["fields"]["url"].is_string(), "{body}");
    }
    // At delivery (a task URL is checked again when it is sent).
    webhooks::enqueue_task_delivery(
        &t.app,
        &tenant,
        "https://10.1.2.3/hook",
        json!({"event_type": "call_completed", "task_id": "t", "call_id": "c", "status": "completed", "data": {}}),
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let record = loop {
        let page = t
            .app
            .table
            .query(Query::partition(task_deliveries_index(&tenant)).on(Index::Gsi1))
            .await
            .unwrap();
        if let Some(item) = page.items.first()
            && item.data["status"] == "failed"
        {
            break item.data.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{page:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(record["attempts"], 1, "refused once, not retried: {record}");
    assert!(
        record["last_error"].as_str().unwrap().contains("blocked"),
        "{record}"
    );
}

async fn an_event_handled_twice_is_delivered_once(backend: Backend) {
    let t = spawn(backend).await;
    let (cookie, tenant) = org(&t, "twice@example.com").await;
    let receiver = Receiver::start(0, 200).await;
    let hook = create_endpoint(&t, &cookie, &receiver.url, &["call.completed"]).await;
    let event = Event {
        id: t.app.new_id(),
        event_type: "call.completed".into(),
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        created_at: t.app.now_rfc3339(),
        data: json!({"id": "call-3"}),
        depth: 0,
    };
    events::handle(&t.app, &event).await.unwrap();
    events::handle(&t.app, &event).await.unwrap();
    receiver.wait_for(1, WAIT).await;
    settled(&t, &cookie, hook["id"].as_str().unwrap(), "delivered").await;
    // And again after delivery: still nothing new.
    events::handle(&t.app, &event).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(
        deliveries(&t, &cookie, hook["id"].as_str().unwrap())
            .await
            .len(),
        1
    );
}

async fn a_stalled_endpoint_does_not_hold_the_others(backend: Backend) {
    let t = spawn(backend).await;
    let (cookie, tenant) = org(&t, "slow@example.com").await;
    // Holds every request longer than the test waits for the healthy one.
    let slow = Receiver::stalling(Duration::from_secs(60)).await;
    let healthy = Receiver::start(0, 200).await;
    create_endpoint(&t, &cookie, &slow.url, &["call.completed"]).await;
    create_endpoint(&t, &cookie, &healthy.url, &["call.completed"]).await;
    // More deliveries to the slow endpoint than the worker pool has slots
    // (three times as many; 40 made the test a timing test of moto, which
    // serializes DynamoDB calls, whenever a campaign test ran beside it).
    const EVENTS: usize = 12;
    for i in 0..EVENTS {
        events::emit(
            &t.app,
            &tenant,
            "call.completed",
            json!({"id": format!("call-{i}")}),
        )
        .await
        .unwrap();
    }
    // Every delivery to the healthy endpoint arrives while the slow one
    // holds its first requests: at most the pool's 4 per receiver
    // (`WEBHOOK_POOL` in local/src/workers.rs), never the whole pool.
    healthy.wait_for(EVENTS, Duration::from_secs(9)).await;
    // A delivery gives up after 10 s and frees its slot, so on a slow store the
    // next ones may have started since: count those that arrived while the
    // first was still held.
    let got = slow.received();
    let first = got
        .iter()
        .map(|c| c.at)
        .min()
        .expect("the slow endpoint got a delivery");
    let held = got
        .iter()
        .filter(|c| c.at < first + Duration::from_secs(9))
        .count();
    assert!(
        (1..=4).contains(&held),
        "the slow endpoint holds {held} deliveries at once"
    );
}
