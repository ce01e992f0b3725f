//! Automations (SPEC §12, admin) over real HTTP on both stores: written and
//! checked field by field (nested fields named, unknown keys refused),
//! switched, deleted, isolated per org; run on the events queue with every
//! action done and logged, once however often an event is delivered, on the
//! triggers' events (conditions on the conversation, its contact and the
//! customer's words); and a
//! chain of automations that trigger each other stopped at depth 3. (The
//! agent role's 403 on every route is in the `roles` matrix.)

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::services::events::{self, Event};
use switchboard_tests::receiver::Receiver;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    automations_are_written_checked_switched_and_isolated,
    automations_run_once_per_event_and_chains_stop,
);

const WAIT: Duration = Duration::from_secs(30);

async fn send(
    t: &TestApp,
    cookie: &str,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(t.session(method, path, cookie).json(&body)).await
}

/// Asserts a 422 naming exactly `fields`.
fn assert_fields(status: StatusCode, body: &Value, fields: &[&str]) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_body(body);
    let named = body["details"]["fields"].as_object().expect("fields");
    let mut got: Vec<&str> = named.keys().map(String::as_str).collect();
    got.sort();
    assert_eq!(got, fields, "{body}");
}

async fn automations_are_written_checked_switched_and_isolated(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (admin, _) = t.signup("admin@example.com").await;
    let body = json!({
        "name": "Welcome SMS",
        "trigger": {"event": "conversation_created",
                    "conditions": [{"field": "channel_type", "op": "equals", "value": "sms"}]},
        "actions": [{"type": "add_tag", "tag": "new"}, {"type": "set_status", "status": "pending"}],
    });
    let (status, created) = send(&t, &admin, Method::POST, "/automations", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let a = created["data"].clone();
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["active"], true);
    assert_eq!(a["trigger"], body["trigger"]);
    assert_eq!(a["actions"], body["actions"]);

    // Every bad field at once, nested ones by their path.
    let (status, out) = send(&t, &admin, Method::POST, "/automations", json!({})).await;
    assert_fields(status, &out, &["actions", "name", "trigger"]);
    let (status, out) = send(
        &t,
        &admin,
        Method::POST,
        "/automations",
        json!({
            "name": "", "active": "yes", "colour": 1,
            "trigger": {"event": "sms_sent", "conditions": [
                {"field": "status", "op": "contains", "value": "open"},
                {"field": "shoe_size", "op": "equals", "value": "9"},
                {"field": "status", "op": "equals", "value": "closed"},
            ], "when": 1},
            "actions": [
                {"type": "explode"},
                {"type": "add_tag"},
                {"type": "send_webhook", "url": "http://10.0.0.1/hook"},
                {"type": "assign", "user_id": "u", "round_robin": true},
                {"type": "set_status", "status": "done", "extra": 1},
            ],
        }),
    )
    .await;
    assert_fields(
        status,
        &out,
        &[
            "actions[0].type",
            "actions[1].tag",
            "actions[2].url",
            "actions[3].user_id",
            "actions[4].extra",
            "actions[4].status",
            "active",
            "colour",
            "name",
            "trigger.conditions[0].op",
            "trigger.conditions[1].field",
            "trigger.conditions[2].value",
            "trigger.event",
            "trigger.when",
        ],
    );
    // What an event cannot offer is refused for it.
    let (status, out) = send(
        &t,
        &admin,
        Method::POST,
        "/automations",
        json!({
            "name": "x",
            "trigger": {"event": "campaign_completed",
                        "conditions": [{"field": "message", "op": "contains", "value": "hi"}]},
            "actions": [{"type": "add_tag", "tag": "a"}],
        }),
    )
    .await;
    assert_fields(
        status,
        &out,
        &["actions[0].type", "trigger.conditions[0].field"],
    );
    let (status, out) = send(
        &t,
        &admin,
        Method::POST,
        "/automations",
        json!({
            "name": "x", "trigger": {"event": "tag_added"},
            "actions": [{"type": "assign", "user_id": "0190f0f0-0000-7000-8000-000000000000"}],
        }),
    )
    .await;
    assert_fields(status, &out, &["actions[0].user_id"]);

    // Read, patched (a read sent back is accepted), switched, listed.
    let (status, got) = call(t.session(Method::GET, &format!("/automations/{id}"), &admin)).await;
    assert_eq!((status, &got["data"]), (StatusCode::OK, &a));
    let mut read_back = got["data"].clone();
    read_back["name"] = json!("Renamed");
    let (status, patched) = send(
        &t,
        &admin,
        Method::PATCH,
        &format!("/automations/{id}"),
        read_back,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["name"], "Renamed");
    assert_eq!(patched["data"]["actions"], body["actions"]);
    let (status, out) = send(
        &t,
        &admin,
        Method::PATCH,
        &format!("/automations/{id}"),
        json!({"actions": []}),
    )
    .await;
    assert_fields(status, &out, &["actions"]);
    let (status, toggled) =
        call(t.session(Method::POST, &format!("/automations/{id}/toggle"), &admin)).await;
    assert_eq!(status, StatusCode::OK, "{toggled}");
    assert_eq!(toggled["data"]["active"], false);
    let (_, listed) = call(t.session(Method::GET, "/automations", &admin)).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["meta"]["pagination"]["total"], 1, "{listed}");
    let (status, runs) =
        call(t.session(Method::GET, &format!("/automations/{id}/runs"), &admin)).await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert_eq!(runs["data"], json!([]));

    // Another org sees none of it.
    let (other, _) = t.signup("other@example.com").await;
    for (m, p) in [
        (Method::GET, format!("/automations/{id}")),
        (Method::POST, format!("/automations/{id}/toggle")),
        (Method::GET, format!("/automations/{id}/runs")),
        (Method::DELETE, format!("/automations/{id}")),
    ] {
        let (status, out) = call(t.session(m, &p, &other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{p}: {out}");
        assert_error_body(&out);
    }
    let (_, listed) = call(t.session(Method::GET, "/automations", &other)).await;
    assert_eq!(listed["data"], json!([]));

    let (status, _) = call(t.session(Method::DELETE, &format!("/automations/{id}"), &admin)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.session(Method::GET, &format!("/automations/{id}"), &admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The runs of automation `id`, newest first, once `n` of them have ended.
async fn runs(t: &TestApp, cookie: &str, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) =
            call(t.session(Method::GET, &format!("/automations/{id}/runs"), cookie)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list = body["data"].as_array().unwrap().clone();
        if list.iter().filter(|r| r["status"] != "running").count() >= n {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{n} runs of {id} not ended: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn messages(t: &TestApp, cookie: &str, conversation: &str) -> Vec<Value> {
    let path = format!("/conversations/{conversation}/messages");
    let (status, body) = call(t.session(Method::GET, &path, cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

async fn create(t: &TestApp, cookie: &str, body: Value) -> String {
    let (status, out) = send(t, cookie, Method::POST, "/automations", body).await;
    assert_eq!(status, StatusCode::CREATED, "{out}");
    out["data"]["id"].as_str().unwrap().to_owned()
}

/// `tag_added` with tag `from` → add tag `to`.
fn tagger(from: &str, to: &str) -> Value {
    json!({
        "name": format!("{from} to {to}"),
        "trigger": {"event": "tag_added", "conditions": [{"field": "tag", "op": "equals", "value": from}]},
        "actions": [{"type": "add_tag", "tag": to}],
    })
}

async fn automations_run_once_per_event_and_chains_stop(backend: Backend) {
    let (mut config, dir) = switchboard_tests::config(backend).await;
    config.outbound_allow = "127.0.0.1".into();
    let t = TestApp::spawn_with(config, dir).await;
    let receiver = Receiver::start(0, 200).await;
    let (admin, signed_up) = t.signup("admin@example.com").await;
    let org_id = signed_up["organization"]["id"].as_str().unwrap().to_owned();
    // The agent is signed in: online for round-robin.
    let agent = t.member(&admin, "agent@example.com", "agent").await;
    let (_, me) = call(t.session(Method::GET, "/auth/me", &agent)).await;
    let agent_id = me["data"]["user"]["id"].as_str().unwrap().to_owned();

    let welcome = create(
        &t,
        &admin,
        json!({
            "name": "Welcome SMS",
            "trigger": {"event": "conversation_created", "conditions": [
                {"field": "channel_type", "op": "equals", "value": "sms"},
                {"field": "contact.name", "op": "contains", "value": "ada"},
            ]},
            "actions": [
                {"type": "assign", "round_robin": true},
                {"type": "set_status", "status": "pending"},
                {"type": "send_message", "text": "Hi, we got your message."},
                {"type": "send_webhook", "url": receiver.url},
                {"type": "add_tag", "tag": "welcomed"},
            ],
        }),
    )
    .await;
    let never = create(
        &t,
        &admin,
        json!({
            "name": "Voice only",
            "trigger": {"event": "conversation_created", "conditions": [
                {"field": "channel_type", "op": "equals", "value": "voice"}]},
            "actions": [{"type": "add_tag", "tag": "voice"}],
        }),
    )
    .await;

    let (_, contact) = send(
        &t,
        &admin,
        Method::POST,
        "/contacts",
        json!({"name": "Ada Lovelace"}),
    )
    .await;
    let contact = contact["data"]["id"].clone();
    let (status, conv) = send(
        &t,
        &admin,
        Method::POST,
        "/conversations",
        json!({"contact_id": contact, "channel_type": "sms"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{conv}");
    let conv_id = conv["data"]["id"].as_str().unwrap().to_owned();

    let run = runs(&t, &admin, &welcome, 1).await.remove(0);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (
            run["event_type"].as_str(),
            run["conversation_id"].as_str(),
            run["depth"].as_u64()
        ),
        (
            Some("conversation.created"),
            Some(conv_id.as_str()),
            Some(0)
        )
    );
    let kinds: Vec<&str> = run["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["status"], "succeeded", "{a}");
            a["type"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "assign",
            "set_status",
            "send_message",
            "send_webhook",
            "add_tag"
        ]
    );
    let (_, got) = call(t.session(Method::GET, &format!("/conversations/{conv_id}"), &admin)).await;
    let got = &got["data"];
    assert_eq!(
        (got["assignee_id"].as_str(), got["status"].as_str()),
        (Some(agent_id.as_str()), Some("pending"))
    );
    assert_eq!(got["tags"], json!(["welcomed"]));
    assert_eq!(
        got["ai_enabled"], true,
        "an automation's message does not pause the AI"
    );
    let said = messages(&t, &admin, &conv_id).await;
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(
        (said[0]["author"].as_str(), said[0]["content"].as_str()),
        (Some("system"), Some("Hi, we got your message."))
    );
    let hook = receiver.wait_for(1, WAIT).await.remove(0);
    let payload = hook.json();
    assert_eq!(
        (payload["type"].as_str(), payload["automation_id"].as_str()),
        (Some("conversation.created"), Some(welcome.as_str()))
    );
    assert_eq!(payload["data"]["id"], conv_id.as_str());
    let (_, secret) = call(t.session(Method::GET, "/webhooks/task-secret", &admin)).await;
    assert!(super::webhooks::verifies(
        secret["data"]["secret"].as_str().unwrap(),
        &hook
    ));
    assert!(
        runs(&t, &admin, &never, 0).await.is_empty(),
        "its conditions do not hold"
    );

    // The queue delivers the event again: nothing runs twice.
    let event = Event {
        id: run["event_id"].as_str().unwrap().to_owned(),
        event_type: "conversation.created".into(),
        org_id,
        mode: switchboard::domain::Mode::Live,
        created_at: run["created_at"].as_str().unwrap().to_owned(),
        data: json!({"id": conv_id}),
        depth: 0,
    };
    events::handle(&t.app, &event).await.unwrap();
    events::handle(&t.app, &event).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runs(&t, &admin, &welcome, 1).await.len(), 1);
    assert_eq!(messages(&t, &admin, &conv_id).await.len(), 1);
    assert_eq!(receiver.received().len(), 1);

    // A customer's message (as a message view) and a campaign's end.
    let refund = create(&t, &admin, json!({
        "name": "Refunds",
        "trigger": {"event": "message_received", "conditions": [
            {"field": "message", "op": "contains", "value": "REFUND"}]},
        "actions": [{"type": "set_status", "status": "open"}, {"type": "add_tag", "tag": "refund"}],
    }))
    .await;
    let campaign_done = create(
        &t,
        &admin,
        json!({
            "name": "Campaign report",
            "trigger": {"event": "campaign_completed"},
            "actions": [{"type": "send_webhook", "url": receiver.url}],
        }),
    )
    .await;
    for (event_type, data) in [
        (
            "message.received",
            json!({"id": "m1", "conversation_id": conv_id, "content": "I want a refund"}),
        ),
        (
            "message.received",
            json!({"id": "m2", "conversation_id": conv_id, "content": "thanks"}),
        ),
        (
            "campaign.completed",
            json!({"id": "camp-1", "status": "completed"}),
        ),
    ] {
        let event = Event {
            id: uuid::Uuid::now_v7().to_string(),
            event_type: event_type.into(),
            data,
            ..event.clone()
        };
        events::handle(&t.app, &event).await.unwrap();
    }
    let run = runs(&t, &admin, &refund, 1).await;
    assert_eq!(run.len(), 1, "only the message that says refund: {run:?}");
    assert_eq!(run[0]["status"], "succeeded", "{run:?}");
    let (_, got) = call(t.session(Method::GET, &format!("/conversations/{conv_id}"), &admin)).await;
    assert_eq!(
        (got["data"]["status"].as_str(), &got["data"]["tags"]),
        (Some("open"), &json!(["welcomed", "refund"]))
    );
    assert_eq!(
        runs(&t, &admin, &campaign_done, 1).await[0]["status"],
        "succeeded"
    );
    let report = receiver.wait_for(2, WAIT).await.remove(1).json();
    assert_eq!(
        (report["type"].as_str(), &report["data"]["id"]),
        (Some("campaign.completed"), &json!("camp-1"))
    );

    // t1 → t2 → t3 → t4 → t1: each added tag starts the next automation,
    // one level deeper; at depth 3 the chain stops, logged.
    let chain = [
        create(&t, &admin, tagger("t1", "t2")).await,
        create(&t, &admin, tagger("t2", "t3")).await,
        create(&t, &admin, tagger("t3", "t4")).await,
        create(&t, &admin, tagger("t4", "t1")).await,
    ];
    let (_, other) = send(
        &t,
        &admin,
        Method::POST,
        "/conversations",
        json!({"contact_id": contact}),
    )
    .await;
    let other_id = other["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &t,
        &admin,
        Method::POST,
        &format!("/conversations/{other_id}/tags"),
        json!({"tag": "t1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for (depth, id) in chain.iter().enumerate() {
        let run = runs(&t, &admin, id, 1).await.remove(0);
        assert_eq!(run["depth"], depth, "{run}");
        let expected = if depth < 3 { "succeeded" } else { "skipped" };
        assert_eq!(run["status"], expected, "{run}");
    }
    let last = runs(&t, &admin, &chain[3], 1).await.remove(0);
    assert!(
        last["error"].as_str().unwrap().contains("at most 3"),
        "{last}"
    );
    assert_eq!(last["actions"], json!([]));
    let (_, got) =
        call(t.session(Method::GET, &format!("/conversations/{other_id}"), &admin)).await;
    assert_eq!(got["data"]["tags"], json!(["t1", "t2", "t3", "t4"]));
}
