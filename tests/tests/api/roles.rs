//! The `agent` role reads but never administers: one matrix over every
//! admin-only route (each service that calls `require_admin`, and the
//! organization routes that check the member's role), with a real signed-in
//! agent-role member.

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard::config::Backend;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(the_agent_role_is_refused_every_admin_route);

/// Every admin-only route; `{id}` is any id (the role is checked first),
/// `{org}` the member's organization.
const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("POST", "/agents"),
    ("PATCH", "/agents/{id}"),
    ("PUT", "/agents/{id}"),
    ("DELETE", "/agents/{id}"),
    ("POST", "/flows"),
    ("PATCH", "/flows/{id}"),
    ("PUT", "/flows/{id}"),
    ("DELETE", "/flows/{id}"),
    ("POST", "/tools"),
    ("PATCH", "/tools/{id}"),
    ("PUT", "/tools/{id}"),
    ("DELETE", "/tools/{id}"),
    ("POST", "/tools/{id}/test"),
    ("POST", "/tools/agent/{id}/assign/{id}"),
    ("DELETE", "/tools/agent/{id}/assign/{id}"),
    ("POST", "/tools/agent/{id}/mcp/{id}"),
    ("DELETE", "/tools/agent/{id}/mcp/{id}"),
    ("POST", "/tools/mcp/servers"),
    ("DELETE", "/tools/mcp/servers/{id}"),
    ("POST", "/tools/mcp/servers/{id}/connect"),
    ("POST", "/channels"),
    ("PATCH", "/channels/{id}"),
    ("PUT", "/channels/{id}"),
    ("DELETE", "/channels/{id}"),
    ("POST", "/channels/providers/verify"),
    ("DELETE", "/contacts/{id}"),
    ("GET", "/analytics"),
    ("POST", "/knowledge/upload"),
    ("POST", "/knowledge/ingest-text"),
    ("POST", "/knowledge/ingest-url"),
    ("POST", "/knowledge/{id}/reindex"),
    ("DELETE", "/knowledge/{id}"),
    ("POST", "/knowledge/agent/{id}/assign/{id}"),
    ("DELETE", "/knowledge/agent/{id}/assign/{id}"),
    ("GET", "/api-keys"),
    ("POST", "/api-keys"),
    ("DELETE", "/api-keys/{id}"),
    ("POST", "/api-keys/{id}/regenerate"),
    ("PATCH", "/organizations/{org}"),
    ("POST", "/settings/workspace"),
    ("POST", "/users/invite"),
    ("POST", "/users/{id}/role"),
    ("DELETE", "/users/{id}"),
    ("GET", "/automations"),
    ("POST", "/automations"),
    ("GET", "/automations/{id}"),
    ("PATCH", "/automations/{id}"),
    ("DELETE", "/automations/{id}"),
    ("POST", "/automations/{id}/toggle"),
    ("GET", "/automations/{id}/runs"),
    ("POST", "/webhooks"),
    ("DELETE", "/webhooks/{id}"),
    ("POST", "/webhooks/deliveries/{id}/redeliver"),
    ("GET", "/webhooks/task-secret"),
    ("POST", "/webhooks/task-secret/rotate"),
];

async fn the_agent_role_is_refused_every_admin_route(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (admin, data) = t.signup("owner@example.com").await;
    let org = data["organization"]["id"].as_str().unwrap().to_owned();
    let admin_id = data["user"]["id"].as_str().unwrap().to_owned();
    let agent = t.member(&admin, "member@example.com", "agent").await;

    let id = uuid::Uuid::now_v7().to_string();
    for (method, route) in ADMIN_ROUTES {
        let path = route.replace("{id}", &id).replace("{org}", &org);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let req = t.session(method.clone(), &path, &agent);
        let req = if path.ends_with("/upload") {
            req.header("content-type", "multipart/form-data; boundary=B").body(
                "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhi\r\n--B--\r\n",
            )
        } else if method == Method::GET || method == Method::DELETE {
            req
        } else {
            req.json(&json!({}))
        };
        let (status, body) = call(req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_error_body(&body);
    }
    // The matrix is about the role: the admin is not refused, and the
    // member can still read.
    let (status, _) = call(t.session(Method::GET, "/api-keys", &admin)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.session(Method::GET, "/agents", &agent)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        call(t.session(Method::DELETE, &format!("/users/{admin_id}"), &agent)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
