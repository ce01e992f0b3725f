//! Task bodies (SPEC §8): the typed create and PATCH bodies. The task's
//! life (execute, reset, calls) is tested in `calls`.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard::config::Backend;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(patch_null_restores_defaults_and_every_bad_field_is_named);

/// A PATCH tells absent from `null` (null clears an optional field or puts
/// back its default, absent keeps it); every bad field, an unknown key
/// included, is named at once and nothing changes; a body read back from a
/// `GET` (with `id`, `status`, the embedded `agent`) can be sent again.
async fn patch_null_restores_defaults_and_every_bad_field_is_named(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, agent) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "A", "system_prompt": "p"})),
    )
    .await;
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let (status, created) = call(t.api(Method::POST, "/tasks").json(&json!({
        "agent_id": agent_id, "to_number": "+15005550007", "name": "Call",
        "description": "d", "priority": 5, "context_data": {"customer_name": "Ann"},
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    let (status, patched) = call(t.api(Method::PATCH, &format!("/tasks/{id}")).json(&json!({
        "description": null, "priority": null, "context_data": null,
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let p = &patched["data"];
    assert_eq!(p["description"], json!(null), "null clears a field");
    assert_eq!(p["priority"], 0, "null restores the default");
    assert_eq!(p["context_data"], json!({}), "null restores the default");
    assert_eq!(p["name"], "Call", "an absent field is kept");

    let (status, err) = call(t.api(Method::PATCH, &format!("/tasks/{id}")).json(&json!({
        "priority": "high", "to_number": null, "name": "", "webhook_events": ["call_exploded"],
        "context_data": [1], "colour": "red",
    })))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_error_body(&err);
    let fields = err["details"]["fields"].as_object().unwrap();
    assert_eq!(fields["priority"], "must be an integer from -1000 to 1000");
    assert_eq!(fields["to_number"], "is required");
    assert_eq!(fields["name"], "must not be empty");
    assert_eq!(fields["context_data"], "must be an object");
    assert_eq!(fields["colour"], "is not a task field");
    assert!(fields.contains_key("webhook_events.[0]"), "{fields:?}");
    assert_eq!(fields.len(), 6, "{fields:?}");

    let (_, got) = call(t.api(Method::GET, &format!("/tasks/{id}"))).await;
    assert_eq!(
        got["data"]["name"], "Call",
        "a rejected PATCH changes nothing"
    );
    let (status, again) = call(
        t.api(Method::PATCH, &format!("/tasks/{id}"))
            .json(&got["data"]),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a read body is a valid body: {again}"
    );
    assert_eq!(again["data"]["status"], "pending");
}
