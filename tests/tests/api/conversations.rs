//! The inbox (SPEC §12) over real HTTP on both stores: conversations worked
//! (messages, status, tags, assignment, the AI switch), listed through their
//! index partitions and searched by word, every bad field named at once,
//! the agent role's narrower view, and ended calls landing in their
//! contact's conversation exactly once (where a `call_completed`
//! automation finds them).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::conversations;
use switchboard::services::events::Event;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    conversations_are_worked_filtered_and_searched,
    agents_see_their_own_and_unassigned_conversations,
    ended_calls_land_in_their_contacts_conversation_once,
);

async fn post(t: &TestApp, path: &str, body: Value) -> Value {
    let (status, out) = call(t.api(Method::POST, path).json(&body)).await;
    assert!(status.is_success(), "{path}: {status} {out}");
    out["data"].clone()
}

async fn ids(t: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = call(t.api(Method::GET, &format!("/conversations{query}"))).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
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

async fn conversations_are_worked_filtered_and_searched(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let ada = post(
        &t,
        "/contacts",
        json!({"name": "Ada Lovelace", "phone": "+14155550123"}),
    )
    .await;
    let bob = post(&t, "/contacts", json!({"name": "Bob Stone"})).await;
    let a = post(
        &t,
        "/conversations",
        json!({"contact_id": ada["id"], "tags": ["vip", "vip"]}),
    )
    .await;
    assert_eq!(a["status"], "open");
    assert_eq!(a["channel_type"], "api");
    assert_eq!(a["tags"], json!(["vip"]));
    assert_eq!(a["ai_enabled"], true);
    assert_eq!(a["unread_count"], 0);
    assert!(a["assignee_id"].is_null() && a["last_message_preview"].is_null());
    let b = post(
        &t,
        "/conversations",
        json!({"contact_id": bob["id"], "channel_type": "sms"}),
    )
    .await;
    let (a_id, b_id) = (id(&a), id(&b));

    // Every bad field at once; unknown keys are named too.
    let (status, body) = call(t.api(Method::POST, "/conversations").json(&json!({}))).await;
    assert_fields(status, &body, &["contact_id"]);
    let (status, body) = call(t.api(Method::POST, "/conversations").json(&json!(
        {"contact_id": 7, "channel_type": "fax", "tags": "vip", "ai_enabled": "yes", "colour": 1}
    )))
    .await;
    assert_fields(
        status,
        &body,
        &["ai_enabled", "channel_type", "colour", "contact_id", "tags"],
    );
    let (status, body) = call(
        t.api(Method::POST, "/conversations")
            .json(&json!({"contact_id": "0190f0f0-0000-7000-8000-000000000000"})),
    )
    .await;
    assert_fields(status, &body, &["contact_id"]);

    // Lists: newest activity first, each filter through its own index.
    assert_eq!(ids(&t, "").await, [b_id.as_str(), a_id.as_str()]);
    let (_, page) = call(t.api(Method::GET, "/conversations?page=2&per_page=1")).await;
    assert_eq!(page["data"][0]["id"], a_id.as_str());
    assert_eq!(page["meta"]["pagination"]["total"], 2, "{page}");
    assert_eq!(ids(&t, "?channel_type=sms").await, [b_id.as_str()]);
    assert_eq!(ids(&t, "?tag=vip").await, [a_id.as_str()]);
    assert_eq!(ids(&t, "?search=LOVELACE").await, [a_id.as_str()]);
    assert_eq!(ids(&t, "?search=ada%20lovelace").await, [a_id.as_str()]);
    assert_eq!(ids(&t, "?search=14155550123").await, [a_id.as_str()]);
    assert!(ids(&t, "?search=ada%20stone").await.is_empty());
    let (status, body) = call(t.api(
        Method::GET,
        "/conversations?status=closed&channel_type=fax&page=0",
    ))
    .await;
    assert_fields(status, &body, &["page"]);
    let (status, body) = call(t.api(Method::GET, "/conversations?status=closed")).await;
    assert_fields(status, &body, &["status"]);
    let (status, body) = call(t.api(Method::GET, "/conversations?page=1&limit=5")).await;
    assert_fields(status, &body, &["page"]);

    // Messages: a reply pauses the AI; a note is private and not previewed.
    let reply = post(
        &t,
        &format!("/conversations/{a_id}/messages"),
        json!({"content": "Your refund is on its way."}),
    )
    .await;
    assert_eq!(reply["type"], "text");
    assert_eq!(reply["author"], "user");
    post(
        &t,
        &format!("/conversations/{a_id}/messages"),
        json!({"content": "Gave a goodwill credit", "type": "note"}),
    )
    .await;
    let (status, body) = call(
        t.api(Method::POST, &format!("/conversations/{a_id}/messages"))
            .json(&json!({"content": " ", "type": "memo", "to": "x"})),
    )
    .await;
    assert_fields(status, &body, &["content", "to", "type"]);
    let (_, got) = call(t.api(Method::GET, &format!("/conversations/{a_id}"))).await;
    assert_eq!(got["data"]["ai_enabled"], false);
    assert_eq!(
        got["data"]["last_message_preview"],
        "Your refund is on its way."
    );
    assert_eq!(
        got["data"]["unread_count"], 0,
        "a person's own messages are not unread"
    );
    let (_, msgs) = call(t.api(Method::GET, &format!("/conversations/{a_id}/messages"))).await;
    let kinds: Vec<&str> = msgs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "note"], "oldest first");
    assert_eq!(
        ids(&t, "").await,
        [a_id.as_str(), b_id.as_str()],
        "activity reorders"
    );
    assert_eq!(ids(&t, "?search=refund").await, [a_id.as_str()]);

    // Status, tags and the AI switch move the conversation between lists.
    let resolved = post(
        &t,
        &format!("/conversations/{a_id}/status"),
        json!({"status": "resolved"}),
    )
    .await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(ids(&t, "?status=resolved").await, [a_id.as_str()]);
    assert_eq!(ids(&t, "?status=open").await, [b_id.as_str()]);
    post(
        &t,
        &format!("/conversations/{a_id}/tags"),
        json!({"tag": "billing"}),
    )
    .await;
    let (status, untagged) =
        call(t.api(Method::DELETE, &format!("/conversations/{a_id}/tags/vip"))).await;
    assert_eq!(status, StatusCode::OK, "{untagged}");
    assert_eq!(untagged["data"]["tags"], json!(["billing"]));
    assert!(ids(&t, "?tag=vip").await.is_empty());
    assert_eq!(
        ids(&t, "?tag=billing&status=resolved").await,
        [a_id.as_str()]
    );
    let (status, body) =
        call(t.api(Method::DELETE, &format!("/conversations/{a_id}/tags/vip"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = call(
        t.api(Method::POST, &format!("/conversations/{a_id}/status"))
            .json(&json!({"status": null})),
    )
    .await;
    assert_fields(status, &body, &["status"]);
    let (status, body) = call(
        t.api(Method::PATCH, &format!("/conversations/{a_id}"))
            .json(&json!({"ai_enabled": "on", "status": "open"})),
    )
    .await;
    assert_fields(status, &body, &["ai_enabled", "status"]);
    let (_, on) = call(
        t.api(Method::PATCH, &format!("/conversations/{a_id}"))
            .json(&json!({"ai_enabled": true})),
    )
    .await;
    assert_eq!(on["data"]["ai_enabled"], true);

    // Assignment: only to users of the org (the bootstrap key's org has
    // none); null unassigns.
    for bad in [
        json!({"user_id": "0190f0f0-0000-7000-8000-000000000000"}),
        json!({"user_id": 5}),
        json!({}),
    ] {
        let (status, body) = call(
            t.api(Method::POST, &format!("/conversations/{b_id}/assign"))
                .json(&bad),
        )
        .await;
        assert_fields(status, &body, &["user_id"]);
    }
    let freed = post(
        &t,
        &format!("/conversations/{b_id}/assign"),
        json!({"user_id": null}),
    )
    .await;
    assert!(freed["assignee_id"].is_null());
    assert_eq!(
        ids(&t, "?assignee_id=none").await,
        [a_id.as_str(), b_id.as_str()]
    );

    // Another org (and the sandbox) sees none of it.
    let (other, _) = t.signup("other@example.com").await;
    let (status, body) =
        call(t.session(Method::GET, &format!("/conversations/{a_id}"), &other)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, list) = call(t.session(Method::GET, "/conversations", &other)).await;
    assert_eq!(list["data"], json!([]));
    assert!(!ids(&t, "?mode=test").await.contains(&a_id));
}

async fn agents_see_their_own_and_unassigned_conversations(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (admin, me) = t.signup("admin@example.com").await;
    let admin_id = me["user"]["id"].as_str().unwrap().to_owned();
    let agent = t.member(&admin, "agent@example.com", "agent").await;
    let (_, agent_me) = call(t.session(Method::GET, "/auth/me", &agent)).await;
    let agent_id = agent_me["data"]["user"]["id"].as_str().unwrap().to_owned();
    let as_admin = |m: Method, p: &str| t.session(m, p, &admin);
    let as_agent = |m: Method, p: &str| t.session(m, p, &agent);
    let (_, c) = call(as_admin(Method::POST, "/contacts").json(&json!({"name": "Cy"}))).await;
    let contact = c["data"]["id"].clone();
    let (_, theirs) = call(
        as_admin(Method::POST, "/conversations")
            .json(&json!({"contact_id": contact, "assignee_id": admin_id})),
    )
    .await;
    let (_, open) =
        call(as_admin(Method::POST, "/conversations").json(&json!({"contact_id": contact}))).await;
    let (theirs, open) = (id(&theirs["data"]), id(&open["data"]));

    let (_, list) = call(as_agent(Method::GET, "/conversations")).await;
    let seen: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        [open.as_str()],
        "an agent sees only unassigned and their own"
    );
    let (_, list) = call(as_agent(
        Method::GET,
        &format!("/conversations?assignee_id={admin_id}"),
    ))
    .await;
    assert_eq!(list["data"], json!([]));
    // Someone else's conversation does not exist for the agent.
    for (m, path, body) in [
        (Method::GET, format!("/conversations/{theirs}"), None),
        (
            Method::PATCH,
            format!("/conversations/{theirs}"),
            Some(json!({"ai_enabled": false})),
        ),
        (
            Method::POST,
            format!("/conversations/{theirs}/status"),
            Some(json!({"status": "pending"})),
        ),
        (
            Method::POST,
            format!("/conversations/{theirs}/tags"),
            Some(json!({"tag": "x"})),
        ),
        (
            Method::DELETE,
            format!("/conversations/{theirs}/tags/x"),
            None,
        ),
        (
            Method::POST,
            format!("/conversations/{theirs}/assign"),
            Some(json!({"user_id": null})),
        ),
        (
            Method::GET,
            format!("/conversations/{theirs}/messages"),
            None,
        ),
        (
            Method::POST,
            format!("/conversations/{theirs}/messages"),
            Some(json!({"content": "hi"})),
        ),
    ] {
        let req = as_agent(m.clone(), &path);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{m} {path}: {body}");
        assert_error_body(&body);
    }
    // An agent takes a conversation, but does not hand one to someone else.
    let (status, body) = call(
        as_agent(Method::POST, &format!("/conversations/{open}/assign"))
            .json(&json!({"user_id": admin_id})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error_body(&body);
    let (status, body) = call(
        as_agent(Method::POST, "/conversations")
            .json(&json!({"contact_id": contact, "assignee_id": admin_id})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, taken) = call(
        as_agent(Method::POST, &format!("/conversations/{open}/assign"))
            .json(&json!({"user_id": agent_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{taken}");
    let (status, _) = call(
        as_agent(Method::POST, &format!("/conversations/{open}/messages"))
            .json(&json!({"content": "On it"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = call(as_agent(
        Method::GET,
        &format!("/conversations?assignee_id={agent_id}"),
    ))
    .await;
    assert_eq!(list["data"][0]["id"], open.as_str());
    assert_eq!(
        list["data"][0]["ai_enabled"], false,
        "a person's reply pauses the AI"
    );
    let (_, list) = call(as_admin(Method::GET, "/conversations")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "admins see all");

    // A workspace may let its agents see every conversation.
    let (status, body) = call(
        as_admin(Method::POST, "/settings/workspace")
            .json(&json!({"agents_see_all_conversations": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = call(as_agent(Method::GET, "/conversations")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    let (status, _) = call(as_agent(Method::GET, &format!("/conversations/{theirs}"))).await;
    assert_eq!(status, StatusCode::OK);
}

/// Polls the sandbox's conversations until one holds the call `call_id`
/// (the sandbox's demo call has one of its own); returns it.
async fn conversation_of(t: &TestApp, call_id: &str) -> Value {
    let start = Instant::now();
    loop {
        let (_, body) = call(t.api(Method::GET, "/conversations?mode=test")).await;
        let list = body["data"].as_array().cloned().unwrap_or_default();
        if let Some(c) = list.iter().find(|c| {
            c["call_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == call_id)
        }) {
            return c.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Places a test-mode call to `to` and waits for it to end.
async fn place(t: &TestApp, agent: &str, to: &str) -> String {
    let task = post(
        t,
        "/tasks?mode=test",
        json!({"agent_id": agent, "to_number": to}),
    )
    .await;
    let started = post(
        t,
        &format!("/tasks/{}/execute?mode=test", id(&task)),
        json!({}),
    )
    .await;
    started["call_id"].as_str().unwrap().to_owned()
}

async fn ended_calls_land_in_their_contacts_conversation_once(backend: Backend) {
    let t = TestApp::spawn_sim(backend, 0.05).await;
    let agent = post(
        &t,
        "/agents?mode=test",
        json!({"name": "Booker",
        "system_prompt": "You book dentist appointments.",
        "greeting": "Hello, this is Harbor Lane Dental calling."}),
    )
    .await;
    let agent = id(&agent);
    // An automation on `call_completed` finds the call's conversation.
    let tagger = post(
        &t,
        "/automations?mode=test",
        json!({"name": "Tag calls",
        "trigger": {"event": "call_completed",
                    "conditions": [{"field": "channel_type", "op": "equals", "value": "voice"}]},
        "actions": [{"type": "add_tag", "tag": "called"}]}),
    )
    .await;
    let first = place(&t, &agent, "+14155550199").await;
    let conv = &conversation_of(&t, &first).await;
    assert_eq!(conv["channel_type"], "voice");
    assert_eq!(conv["call_ids"], json!([first]));
    assert!(
        conv["contact_id"].is_string(),
        "the number became a contact: {conv}"
    );
    assert!(conv["unread_count"].as_u64().unwrap() > 0, "{conv}");
    let conv_id = id(conv);
    let (_, msgs) = call(t.api(
        Method::GET,
        &format!("/conversations/{conv_id}/messages?mode=test&limit=100"),
    ))
    .await;
    let msgs = msgs["data"].as_array().unwrap().clone();
    assert_eq!(msgs[0]["author"], "ai");
    assert_eq!(
        msgs[0]["content"],
        "Hello, this is Harbor Lane Dental calling."
    );
    assert!(msgs.iter().all(|m| m["call_id"] == first.as_str()));
    let last = msgs.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["author"].as_str()),
        (Some("note"), Some("system"))
    );
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .starts_with("Call report ("),
        "{last}"
    );

    call_completed_ran(&t, &id(&tagger), &conv_id).await;

    // A redelivered event changes nothing.
    let (_, me) = call(t.api(Method::GET, "/auth/me")).await;
    let tenant = Tenant {
        org_id: me["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        mode: Mode::Test,
    };
    let event = Event {
        id: "0190f0f0-0000-7000-8000-00000000cafe".into(),
        event_type: "call.completed".into(),
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        created_at: "2030-01-01T00:00:00.000Z".into(),
        data: json!({"id": first}),
        depth: 0,
    };
    for _ in 0..2 {
        conversations::after_call(&t.app, &event).await.unwrap();
    }
    let (_, again) = call(t.api(
        Method::GET,
        &format!("/conversations/{conv_id}/messages?mode=test&limit=100"),
    ))
    .await;
    assert_eq!(again["data"].as_array().unwrap().len(), msgs.len());

    // The next call to the number continues it; once resolved, a new one starts.
    let second = place(&t, &agent, "+14155550199").await;
    let start = Instant::now();
    loop {
        let (_, got) =
            call(t.api(Method::GET, &format!("/conversations/{conv_id}?mode=test"))).await;
        if got["data"]["call_ids"] == json!([first, second]) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    post(
        &t,
        &format!("/conversations/{conv_id}/status?mode=test"),
        json!({"status": "resolved"}),
    )
    .await;
    let third = place(&t, &agent, "+14155550199").await;
    let next = conversation_of(&t, &third).await;
    assert_ne!(next["id"], conv["id"]);
    assert_eq!(next["call_ids"], json!([third]), "{next}");
    assert_eq!(next["contact_id"], conv["contact_id"]);

    analytics_follow_the_calls(&t, &event).await;
    a_reply_is_suggested_from_the_knowledge_base(&t, &agent, &conv_id).await;
}

/// The `call_completed` automation `automation` ran for the ended call, on
/// the conversation `conv_id` the call went to, and tagged it.
async fn call_completed_ran(t: &TestApp, automation: &str, conv_id: &str) {
    let start = Instant::now();
    let run = loop {
        let (_, body) = call(t.api(
            Method::GET,
            &format!("/automations/{automation}/runs?mode=test"),
        ))
        .await;
        let runs = body["data"].as_array().cloned().unwrap_or_default();
        // (The sandbox's demo call ends in a conversation of its own.)
        if let Some(run) = runs
            .into_iter()
            .find(|r| r["conversation_id"] == conv_id && r["status"] != "running")
        {
            break run;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (run["status"].as_str(), run["event_type"].as_str()),
        (Some("succeeded"), Some("call.completed")),
        "{run}"
    );
    let (_, got) = call(t.api(Method::GET, &format!("/conversations/{conv_id}?mode=test"))).await;
    assert_eq!(got["data"]["tags"], json!(["called"]), "{got}");
}

/// `GET /analytics?mode=test` once it has counted `calls` ended calls.
async fn analytics_after(t: &TestApp, calls: u64) -> Value {
    let start = Instant::now();
    loop {
        let (status, body) = call(t.api(Method::GET, "/analytics?mode=test")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["data"]["calls"]["total"].as_u64() >= Some(calls) {
            return body["data"].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The three calls, their conversations and the one resolved are counted,
/// once each.
async fn analytics_follow_the_calls(t: &TestApp, event: &Event) {
    let a = analytics_after(t, 3).await;
    let calls = a["calls"]["total"].as_u64().unwrap();
    assert_eq!(a["days"], 30);
    assert_eq!(a["time_zone"], "UTC");
    let days = a["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["date"], a["to"]);
    assert_eq!(days[29]["calls"], calls, "{a}");
    assert!(
        a["calls"]["by_status"]["completed"].as_u64() >= Some(3),
        "{a}"
    );
    assert!(a["calls"]["avg_duration_seconds"].is_number(), "{a}");
    assert!(a["calls"]["avg_turn_latency_ms"].is_number(), "{a}");
    assert!(!a["calls"]["by_outcome"].as_object().unwrap().is_empty());
    let conversations = &a["conversations"];
    assert!(conversations["created"].as_u64() >= Some(2), "{a}");
    assert!(
        conversations["by_channel"]["voice"].as_u64() >= Some(2),
        "{a}"
    );
    assert_eq!(conversations["resolved"], 1, "{a}");
    assert_eq!(conversations["by_status"]["resolved"], 1, "{a}");
    assert_eq!(
        (
            &conversations["ai_contained"],
            &conversations["ai_containment_rate"]
        ),
        (&json!(1), &json!(1.0)),
        "no person answered: the AI contained it"
    );
    assert!(
        conversations["avg_first_response_seconds"].is_number(),
        "{a}"
    );
    assert!(conversations["avg_resolution_seconds"].is_number(), "{a}");
    let messages = &a["messages"];
    assert!(messages["from_ai"].as_u64() > Some(0), "{a}");
    assert!(messages["from_contacts"].as_u64() > Some(0), "{a}");
    assert!(
        messages["notes"].as_u64() >= Some(3),
        "one report note per call: {a}"
    );

    // A call event is counted once, however often it is delivered.
    for _ in 0..2 {
        switchboard::services::analytics::count_event(&t.app, event)
            .await
            .unwrap();
    }
    let (_, again) = call(t.api(Method::GET, "/analytics?mode=test")).await;
    assert_eq!(again["data"]["calls"]["total"], calls + 1);

    let (status, body) = call(t.api(Method::GET, "/analytics?days=0")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_body(&body);
    let (status, body) = call(t.api(Method::GET, "/analytics?days=x")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// A person asks for a draft of the next reply: the passage answering the
/// customer's last words is found and quoted (offline in test mode).
async fn a_reply_is_suggested_from_the_knowledge_base(t: &TestApp, agent: &str, conv_id: &str) {
    let (_, msgs) = call(t.api(
        Method::GET,
        &format!("/conversations/{conv_id}/messages?mode=test&limit=100"),
    ))
    .await;
    let asked = msgs["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["author"] == "contact")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .expect("the caller spoke");
    let doc = post(
        t,
        "/knowledge/ingest-text?mode=test",
        json!({"name": "Front desk", "content": format!("{asked} We are open from 9 to 5 on weekdays.")}),
    )
    .await;
    let doc = id(&doc);
    post(
        t,
        &format!("/knowledge/agent/{agent}/assign/{doc}?mode=test"),
        json!({}),
    )
    .await;
    let start = Instant::now();
    loop {
        let (_, got) = call(t.api(Method::GET, &format!("/knowledge/{doc}?mode=test"))).await;
        if got["data"]["status"] == "ready" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = call(t.api(
        Method::GET,
        &format!("/ai-suggest?conversation_id={conv_id}&mode=test"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s = &body["data"];
    assert_eq!(s["drafted_by"], "offline");
    assert_eq!(s["sources"][0]["document_id"], doc.as_str(), "{s}");
    assert!(
        s["suggestion"]
            .as_str()
            .unwrap()
            .contains("open from 9 to 5"),
        "{s}"
    );
    for query in ["", "?conversation_id=nope&mode=test"] {
        let (status, body) = call(t.api(Method::GET, &format!("/ai-suggest{query}"))).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::NOT_FOUND,
            "{query}: {status} {body}"
        );
        assert_error_body(&body);
    }
}
