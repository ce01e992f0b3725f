//! The OpenAPI document (`GET /api/v1/openapi.json`), the reference page
//! (`/docs`) and the index (`/`): the document describes exactly the routes
//! the server answers.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchboard::config::Backend;
use switchboard_tests::{TestApp, call};

const METHODS: [&str; 6] = ["get", "post", "put", "patch", "delete", "options"];

async fn document(t: &TestApp) -> Value {
    let (status, doc) = call(t.anon(Method::GET, "/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

/// `{name}` segments filled with an id that names nothing.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "no-such-id"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// True when the router has no route for the request (not a missing resource).
fn no_route(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["error"] == "route not found")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_with_the_envelope_errors_and_auth() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let doc = document(&t).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "sb_session");
    for schema in ["ErrorBody", "Meta", "ListMeta", "Pagination"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    let list = &doc["paths"]["/api/v1/agents"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in ["limit", "offset", "cursor", "mode", "enabled"] {
        assert!(params.contains(&p), "{p} in {params:?}");
    }
    for status in [
        "400", "401", "403", "404", "409", "413", "415", "422", "429",
    ] {
        let r = &list["responses"][status];
        assert_eq!(
            r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
            "{status}"
        );
    }
    assert!(list["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert!(list["responses"]["200"]["headers"]["X-RateLimit-Remaining"].is_object());
    assert!(list["responses"]["200"]["headers"]["X-Request-Id"].is_object());
    let create = &doc["paths"]["/api/v1/agents"]["post"];
    assert!(
        create["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    );
    // Public operations say so; the rest inherit the document's two schemes.
    assert_eq!(
        doc["paths"]["/api/v1/auth/login"]["post"]["security"],
        serde_json::json!([{}])
    );
    assert_eq!(doc["security"].as_array().unwrap().len(), 2);
}

/// Every documented operation is routed, and no other method is routed on
/// a documented path. (That no route is registered outside the document is
/// the functions crate's `groups_register_routes_only_with_their_operation`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_the_router_describe_the_same_routes() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let doc = document(&t).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 40, "{} paths", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        let url = format!("{}{}", t.base, concrete(path));
        for method in METHODS {
            // A request the handler refuses (bad id, no body) before any effect.
            let resp = t
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &url,
                )
                .bearer_auth(switchboard_tests::TEST_KEY)
                .header("content-type", "text/plain")
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if item.get(method).is_some() {
                operations += 1;
                assert!(
                    !no_route(status, &body),
                    "documented {method} {path} is not routed: {status} {body}"
                );
            } else {
                assert!(
                    no_route(status, &body),
                    "{method} {path} is routed ({status}) but not documented"
                );
            }
        }
    }
    assert!(operations > 60, "{operations} operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_and_its_assets_are_served_by_the_binary() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let page = t
        .client
        .get(format!("{}/docs/", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "no asset comes from another host"
    );
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "swagger-initializer.js",
    ] {
        let resp = t
            .client
            .get(format!("{}/docs/{asset}", t.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        let text = resp.text().await.unwrap();
        assert!(text.len() > 20, "{asset}");
        if asset == "swagger-initializer.js" {
            assert!(text.contains("/api/v1/openapi.json"), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_says_where_things_are() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let html = t.client.get(&t.base).send().await.unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let text = html.text().await.unwrap();
    for link in ["/api/v1", "/docs", "/api/v1/openapi.json", "/health"] {
        assert!(text.contains(link), "{link}");
    }
    let (status, json) = call(t.client.get(&t.base).header("accept", "application/json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["docs"], "/docs");
    assert_eq!(json["openapi"], "/api/v1/openapi.json");
    assert_eq!(json["api"], "/api/v1");
    assert_eq!(json["health"], "/health");
}

/// `schema`, or the component it refers to.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The schema of `data` in the `status` response of an operation.
fn data_schema<'a>(doc: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    let body =
        &doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"];
    resolve(doc, &resolve(doc, body)["properties"]["data"])
}

/// Every key of `data` is a property of `schema`, and every required one is there.
fn conforms(schema: &Value, data: &Value, what: &str) {
    let props = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no typed properties in {schema}"));
    let data = data.as_object().unwrap();
    for key in data.keys() {
        assert!(props.contains_key(key), "{what}: `{key}` is not documented");
    }
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().unwrap();
        assert!(data.contains_key(key), "{what}: required `{key}` missing");
    }
}

/// Every `$ref` under `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push(r);
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_resources_are_documented_with_the_fields_they_return() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let doc = document(&t).await;
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    let agents = &doc["paths"]["/api/v1/agents"];
    assert_eq!(
        resolve(
            &doc,
            &agents["post"]["requestBody"]["content"]["application/json"]["schema"]
        )["required"],
        serde_json::json!(["name", "system_prompt"])
    );
    let patch = &doc["paths"]["/api/v1/agents/{id}"]["patch"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let patch = resolve(&doc, patch);
    assert!(patch["properties"]["system_prompt"].is_object());
    assert!(
        patch["required"].as_array().is_none_or(Vec::is_empty),
        "{patch}"
    );

    // A tool's config is documented per tool type, not as a free object.
    let tools = &doc["paths"]["/api/v1/tools"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let config = resolve(&doc, tools)["properties"]["config"].to_string();
    assert!(
        config.contains("#/components/schemas/ToolConfigInput"),
        "{config}"
    );
    let variants = doc["components"]["schemas"]["ToolConfigInput"]["oneOf"].to_string();
    for name in ["HttpConfigInput", "WebhookConfigInput", "CodeConfigInput"] {
        assert!(
            variants.contains(&format!("#/components/schemas/{name}")),
            "{variants}"
        );
        assert!(
            doc["components"]["schemas"][name]["properties"].is_object(),
            "{name} is not documented"
        );
    }

    let (status, agent) = call(t.api(Method::POST, "/agents").json(&serde_json::json!({
        "name": "Front desk", "system_prompt": "Be kind.", "starting_message": "Hi",
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    conforms(
        data_schema(&doc, "/api/v1/agents", "post", "201"),
        &agent["data"],
        "agent",
    );
    let (_, listed) = call(t.api(Method::GET, "/agents")).await;
    let items = data_schema(&doc, "/api/v1/agents", "get", "200");
    conforms(
        resolve(&doc, &items["items"]),
        &listed["data"][0],
        "agent list",
    );

    let (status, flow) = call(t.api(Method::POST, "/flows").json(&serde_json::json!({
        "name": "Hello",
        "nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}],
        "edges": [{"id": "a", "source": "s", "target": "e"}],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{flow}");
    conforms(
        data_schema(&doc, "/api/v1/flows", "post", "201"),
        &flow["data"],
        "flow",
    );
    let (_, listed) = call(t.api(Method::GET, "/flows")).await;
    let items = data_schema(&doc, "/api/v1/flows", "get", "200");
    conforms(
        resolve(&doc, &items["items"]),
        &listed["data"][0],
        "flow list",
    );

    let (status, tool) = call(t.api(Method::POST, "/tools").json(&serde_json::json!({
        "name": "lookup", "description": "Looks things up", "type": "http",
        "parameters": {"type": "object", "properties": {}},
        "config": {"url": "https://example.com/", "headers": {"Authorization": "Bearer abcdefgh"}},
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{tool}");
    conforms(
        data_schema(&doc, "/api/v1/tools", "post", "201"),
        &tool["data"],
        "tool",
    );
    assert_eq!(
        tool["data"]["config"]["headers"]["Authorization"],
        serde_json::json!({"value": "••••efgh", "secret": true})
    );
}

/// True when `schema` (resolved) names its fields: an object with
/// properties, a composition of one, or a list of one.
fn typed(doc: &Value, schema: &Value) -> bool {
    let s = resolve(doc, schema);
    if s.get("items").is_some() {
        return typed(doc, &s["items"]);
    }
    for combined in ["allOf", "oneOf", "anyOf"] {
        if let Some(parts) = s[combined].as_array() {
            return parts.iter().any(|p| typed(doc, p));
        }
    }
    s["properties"].as_object().is_some_and(|p| !p.is_empty())
}

/// No operation takes a free-form body or answers a free-form `data`:
/// clients and schemathesis can check every field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_names_the_fields_it_takes_and_answers() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let doc = document(&t).await;
    let mut untyped = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if path == "/api/v1/openapi.json" {
            continue; // The document itself.
        }
        for (method, op) in ops.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            if !body.is_null() && !typed(&doc, body) {
                untyped.push(format!("{method} {path}: request body"));
            }
            for (status, resp) in op["responses"].as_object().unwrap() {
                let schema = &resp["content"]["application/json"]["schema"];
                if !status.starts_with('2') || schema.is_null() {
                    continue;
                }
                if !typed(&doc, &resolve(&doc, schema)["properties"]["data"]) {
                    untyped.push(format!("{method} {path}: {status} data"));
                }
            }
        }
    }
    assert!(untyped.is_empty(), "untyped: {untyped:#?}");
}

/// What each operation typed last answers matches its documented view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_invites_assignments_tool_tests_and_deletes_answer_their_views() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let doc = document(&t).await;
    let check = |path: &str, method: &str, status: &str, data: &Value| {
        conforms(
            data_schema(&doc, &format!("/api/v1{path}"), method, status),
            data,
            &format!("{method} {path}"),
        );
    };
    use serde_json::json;

    let (cookie, _) = t.signup("typed@example.com").await;
    // Public operations that check credentials document their 401 (found by
    // schemathesis once the login body was typed).
    let (status, body) = call(t.anon(Method::POST, "/auth/login").json(&json!({
        "email": "typed@example.com", "password": "not the password",
    })))
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    for path in ["/api/v1/auth/login", "/api/v1/auth/accept-invite"] {
        let refused =
            &doc["paths"][path]["post"]["responses"]["401"]["content"]["application/json"];
        assert!(refused["schema"].is_object(), "{path} documents its 401");
    }
    let (status, body) = call(
        t.session(Method::POST, "/users/invite", &cookie)
            .json(&json!({
                "email": "invited@example.com",
            })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    check("/users/invite", "post", "201", &body["data"]);
    assert_eq!(body["data"]["role"], "agent");
    let (status, body) = call(t.session(Method::POST, "/settings/password", &cookie).json(
        &json!({
            "current_password": "correct horse battery", "new_password": "a longer horse battery",
        }),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("/settings/password", "post", "200", &body["data"]);
    assert_eq!(
        body["data"],
        json!({"changed": true, "other_sessions_ended": 0})
    );
    let (status, body) = call(t.session(Method::POST, "/auth/logout", &cookie)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("/auth/logout", "post", "200", &body["data"]);
    assert_eq!(body["data"], json!({"logged_out": true}));

    let (_, agent) = call(t.api(Method::POST, "/agents").json(&json!({
        "name": "Typed", "system_prompt": "Be brief.",
    })))
    .await;
    let agent = agent["data"]["id"].as_str().unwrap().to_owned();
    let (status, tool) = call(t.api(Method::POST, "/tools").json(&json!({
        "name": "add_numbers", "description": "Adds two numbers.", "type": "code",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
        "config": {"language": "javascript", "source": "function main(args) { return args.a + args.b; }"},
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{tool}");
    let tool = tool["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        t.api(Method::POST, &format!("/tools/{tool}/test"))
            .json(&json!({"input": {"a": 2, "b": 3}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("/tools/{id}/test", "post", "200", &body["data"]);
    assert_eq!(body["data"]["output"], 5);
    let assign = format!("/tools/agent/{agent}/assign/{tool}");
    let path = "/tools/agent/{agent_id}/assign/{tool_id}";
    for (method, assigned) in [(Method::POST, true), (Method::DELETE, false)] {
        let (status, body) = call(t.api(method.clone(), &assign)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        check(path, &method.as_str().to_lowercase(), "200", &body["data"]);
        let want = json!({"agent_id": agent, "id": tool, "assigned": assigned});
        assert_eq!(body["data"], want);
    }
    let (_, doc_made) = call(t.api(Method::POST, "/knowledge/ingest-text").json(&json!({
        "name": "Hours", "content": "We open at nine.",
    })))
    .await;
    let document_id = doc_made["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) = call(t.api(
        Method::POST,
        &format!("/knowledge/agent/{agent}/assign/{document_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let path = "/knowledge/agent/{agent_id}/assign/{doc_id}";
    check(path, "post", "200", &body["data"]);
    assert_eq!(body["data"]["assigned"], true);

    let (status, channel) = call(t.api(Method::POST, "/channels").json(&json!({
        "name": "Website", "type": "web", "default_agent_id": agent,
        "config": {"allowed_origins": ["https://shop.example"], "public": true},
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let channel = channel["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) =
        call(t.api(Method::POST, &format!("/channels/web/{channel}/session"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    check("/channels/web/{id}/session", "post", "201", &body["data"]);
    let (status, body) = call(
        t.anon(
            Method::POST,
            &format!("/channels/web/{channel}/public-session"),
        )
        .header("origin", "https://shop.example"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    check(
        "/channels/web/{id}/public-session",
        "post",
        "201",
        &body["data"],
    );

    let (status, task) = call(t.api(Method::POST, "/tasks").json(&json!({
        "agent_id": agent, "to_number": "+15005550007",
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let task = task["data"]["id"].as_str().unwrap().to_owned();
    let (status, hook) = call(t.api(Method::POST, "/webhooks").json(&json!({
        "url": "https://example.com/hooks", "events": ["call.completed"],
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook = hook["data"]["id"].as_str().unwrap().to_owned();
    for (collection, id) in [("tasks", &task), ("webhooks", &hook)] {
        let (status, body) = call(t.api(Method::DELETE, &format!("/{collection}/{id}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        check(
            &format!("/{collection}/{{id}}"),
            "delete",
            "200",
            &body["data"],
        );
        assert_eq!(body["data"], json!({"deleted": true, "id": id}));
        let (_, listed) = call(t.api(Method::GET, &format!("/{collection}"))).await;
        assert_eq!(
            listed["meta"]["pagination"]["total"], 0,
            "{collection}: {listed}"
        );
    }
}

/// Each create links to the operations that take the created id, and every
/// link names an operation the document has (schemathesis' stateful phase
/// follows them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_link_to_the_operations_on_what_they_created() {
    let t = TestApp::spawn(Backend::Embedded).await;
    let doc = document(&t).await;
    for collection in ["agents", "tools", "flows", "tasks", "contacts", "campaigns"] {
        let links =
            &doc["paths"][format!("/api/v1/{collection}")]["post"]["responses"]["201"]["links"];
        for method in ["get", "patch", "delete"] {
            let link = &links[method];
            assert_eq!(
                link["operationRef"],
                format!("#/paths/~1api~1v1~1{collection}~1{{id}}/{method}"),
                "{collection} {method}: {links}"
            );
            assert_eq!(link["parameters"]["id"], "$response.body#/data/id");
        }
    }
    assert!(
        doc["paths"]["/api/v1/tasks"]["post"]["responses"]["201"]["links"]["post_execute"]
            .is_object()
    );
    let mut count = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let Some(responses) = op["responses"].as_object() else {
                continue;
            };
            for link in responses
                .values()
                .filter_map(|r| r["links"].as_object())
                .flat_map(|l| l.values())
            {
                let target = link["operationRef"].as_str().unwrap();
                let pointer = target.trim_start_matches('#');
                assert!(
                    doc.pointer(pointer).is_some_and(Value::is_object),
                    "{method} {path}: {target} names no operation"
                );
                count += 1;
            }
        }
    }
    assert!(count >= 30, "only {count} links");
}
