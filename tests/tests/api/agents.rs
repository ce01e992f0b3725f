//! Agents (SPEC §3).

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::store::{Condition, Item};
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    agent_crud_with_every_field,
    patch_is_partial_and_aliases_work,
    patch_null_restores_defaults_and_absent_keeps,
    delete_is_refused_while_in_use
);

async fn agent_crud_with_every_field(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let full = json!({
        "name": "Support Bot", "system_prompt": "You are helpful.", "description": "Front desk",
        "llm_model": "gpt-4o-mini", "language": "en-IN", "greeting": "Hello!",
        "enabled": false,
        "voice_settings": {"provider": "elevenlabs", "voice_id": "v1", "stability": 0.5, "similarity_boost": 0.75, "speed": 1.1},
        "dtmf_rules": [{"digit": "0", "action": "transfer", "value": "+14155550100"}, {"digit": "9", "action": "end_call"}],
        "transfer_number": "+14155550123", "max_duration_seconds": 900, "silence_timeout_seconds": 20,
        "allow_interruptions": false, "end_call_phrases": ["goodbye"],
        "voicemail": {"action": "leave_message", "message": "Call us back"},
        "data_extraction": [{"name": "plan", "type": "enum", "options": ["basic", "pro"], "description": "Chosen plan"}]
    });
    let (status, created) = call(t.api(Method::POST, "/agents").json(&full)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let a = &created["data"];
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&id).unwrap().get_version_num(),
        7,
        "ids are UUIDv7"
    );
    for (k, v) in full.as_object().unwrap() {
        assert_eq!(&a[k], v, "field {k}");
    }
    assert_eq!(a["starting_message"], "Hello!");

    let (_, got) = call(t.api(Method::GET, &format!("/agents/{id}"))).await;
    assert_eq!(got["data"], *a);
    let (_, disabled) = call(t.api(Method::GET, "/agents?enabled=false")).await;
    assert_eq!(disabled["data"].as_array().unwrap().len(), 1);
    let (_, enabled) = call(t.api(Method::GET, "/agents?enabled=true")).await;
    assert_eq!(enabled["data"].as_array().unwrap().len(), 0);

    let (status, _) = call(t.api(Method::DELETE, &format!("/agents/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(t.api(Method::GET, &format!("/agents/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);
    for bad_id in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let (status, _) = call(t.api(Method::GET, &format!("/agents/{bad_id}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad_id}");
    }
    let (_, list) = call(t.api(Method::GET, "/agents")).await;
    assert_eq!(
        list["meta"]["pagination"]["total"], 0,
        "the count follows deletes"
    );

    let (status, err) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "F", "system_prompt": "p", "flow_id": uuid::Uuid::now_v7()})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["flow_id"].is_string());
}

async fn patch_is_partial_and_aliases_work(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, created) = call(t.api(Method::POST, "/agents").json(&json!({"name": "A", "system_prompt": "p", "starting_message": "Hi", "end_call_phrases": ["bye"]}))).await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["data"]["greeting"], "Hi");

    let (status, patched) = call(
        t.api(Method::PATCH, &format!("/agents/{id}"))
            .json(&json!({"name": "B", "starting_message": "Hello"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let p = &patched["data"];
    assert_eq!(p["name"], "B");
    assert_eq!(p["greeting"], "Hello");
    assert_eq!(p["starting_message"], "Hello");
    assert_eq!(p["system_prompt"], "p", "untouched fields stay");
    assert_eq!(p["end_call_phrases"], json!(["bye"]));
    assert_eq!(p["created_at"], created["data"]["created_at"]);

    let (_, p2) = call(
        t.api(Method::PUT, &format!("/agents/{id}"))
            .json(&json!({"greeting": "Yo", "description": null})),
    )
    .await;
    assert_eq!(p2["data"]["starting_message"], "Yo");

    let (status, err) = call(
        t.api(Method::PATCH, &format!("/agents/{id}"))
            .json(&json!({"system_prompt": null, "language": "??"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["details"]["fields"]["system_prompt"].is_string());
    assert!(err["details"]["fields"]["language"].is_string());
    let (_, after) = call(t.api(Method::GET, &format!("/agents/{id}"))).await;
    assert_eq!(
        after["data"]["system_prompt"], "p",
        "a rejected PATCH changes nothing"
    );
}

/// A PATCH tells absent from `null`: an absent field keeps its value, `null`
/// clears an optional field or puts a defaulted one back to its default, and
/// a wrongly typed field is named (with every other bad one) without
/// changing anything.
async fn patch_null_restores_defaults_and_absent_keeps(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, created) = call(t.api(Method::POST, "/agents").json(&json!({
        "name": "A", "system_prompt": "p", "description": "d", "language": "fr-FR",
        "max_duration_seconds": 60, "enabled": false,
    })))
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, patched) = call(t.api(Method::PATCH, &format!("/agents/{id}")).json(&json!({
        "description": null, "max_duration_seconds": null, "enabled": null,
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let p = &patched["data"];
    assert_eq!(
        p["description"],
        json!(null),
        "null clears an optional field"
    );
    assert_eq!(p["max_duration_seconds"], 600, "null restores the default");
    assert_eq!(p["enabled"], true, "null restores the default");
    assert_eq!(p["language"], "fr-FR", "an absent field is kept");

    let (status, err) = call(t.api(Method::PATCH, &format!("/agents/{id}")).json(&json!({
        "enabled": "yes", "max_duration_seconds": "long", "voice_settings": {"speed": "fast"},
        "dtmf_rules": [{"digit": "1", "action": "dance"}], "sytem_prompt": "a typo",
    })))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_error_body(&err);
    let fields = err["details"]["fields"].as_object().unwrap();
    assert_eq!(fields["enabled"], "must be true or false");
    assert_eq!(fields["sytem_prompt"], "is not an agent field");
    assert_eq!(
        fields["max_duration_seconds"],
        "must be an integer from 10 to 14400"
    );
    assert!(
        fields.keys().any(|k| k.starts_with("voice_settings."))
            && fields.keys().any(|k| k.starts_with("dtmf_rules.")),
        "{fields:?}"
    );
    let (_, after) = call(t.api(Method::GET, &format!("/agents/{id}"))).await;
    assert_eq!(
        after["data"]["enabled"], true,
        "a rejected PATCH changes nothing"
    );
    // What a read returns (`id`, `created_at`, … included) is a valid PATCH.
    let (status, echoed) = call(
        t.api(Method::PATCH, &format!("/agents/{id}"))
            .json(&after["data"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed["data"]["language"], "fr-FR");
}

async fn delete_is_refused_while_in_use(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, created) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "Busy", "system_prompt": "p"})),
    )
    .await;
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let org_id = call(t.api(Method::GET, "/auth/me")).await.1["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant = Tenant {
        org_id,
        mode: Mode::Live,
    };
    // A pending task referencing the agent, written as the tasks service will
    // write it (its entry in the agent-reference index).
    let task = Item::new(
        tenant.pk(),
        "TASK#t1",
        json!({"id": "t1", "status": "pending"}),
    )
    .with_gsi2(
        switchboard::services::agents::agent_refs(&tenant, &id),
        "TASK#pending#t1",
    );
    t.app.table.put(task, Condition::None).await.unwrap();
    let (status, err) = call(t.api(Method::DELETE, &format!("/agents/{id}"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(assert_error_body(&err).contains("pending tasks"));

    let done = Item::new(
        tenant.pk(),
        "TASK#t1",
        json!({"id": "t1", "status": "completed"}),
    )
    .with_gsi2(
        switchboard::services::agents::agent_refs(&tenant, &id),
        "TASK#completed#t1",
    );
    t.app.table.put(done, Condition::None).await.unwrap();
    let (status, _) = call(t.api(Method::DELETE, &format!("/agents/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "finished work does not block");
}
