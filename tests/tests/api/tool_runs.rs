//! Running saved tools (`POST /tools/{id}/test`) and discovering an MCP
//! server's tools (`POST /tools/mcp/servers/{id}/connect`), for real.

use axum::http::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::{TestApp, backend_tests, call};

backend_tests!(
    code_and_http_tools_run_for_real,
    mcp_servers_are_connected_and_their_tools_stored,
    a_call_gets_its_saved_tools_and_the_tools_of_reachable_mcp_servers
);

async fn spawn_allowing_loopback(backend: Backend) -> TestApp {
    let (mut config, dir) = switchboard_tests::config(backend).await;
    config.outbound_allow = "127.0.0.1".into();
    TestApp::spawn_with(config, dir).await
}

async fn create(t: &TestApp, body: Value) -> String {
    let (status, created) = call(t.api(Method::POST, "/tools").json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"]["id"].as_str().unwrap().to_owned()
}

async fn code_and_http_tools_run_for_real(backend: Backend) {
    // The API the http tool calls: echoes what it got.
    let api = axum::Router::new().route(
        "/orders/{id}",
        axum::routing::get(|axum::extract::Path(id): axum::extract::Path<String>, headers: HeaderMap| async move {
            axum::Json(json!({"order": id, "auth": headers.get("authorization").and_then(|v| v.to_str().ok()), "status": "shipped"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api).await });
    let t = spawn_allowing_loopback(backend).await;

    let code = create(&t, json!({
        "name": "quote_price", "description": "Prices a visit", "type": "code",
        "parameters": {"type": "object", "properties": {"visits": {"type": "integer"}}, "required": ["visits"]},
        "config": {"language": "javascript", "source": "function main(input) { console.log('pricing', input.visits); return {total: input.visits * 85}; }", "timeout_ms": 1000}
    })).await;
    let (status, report) = call(
        t.api(Method::POST, &format!("/tools/{code}/test"))
            .json(&json!({"input": {"visits": 3}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["data"]["output"], json!({"total": 255}));
    assert_eq!(report["data"]["error"], Value::Null);
    assert_eq!(report["data"]["logs"][0], "pricing 3");
    assert!(report["data"]["duration_ms"].is_u64());
    let (status, bad) = call(
        t.api(Method::POST, &format!("/tools/{code}/test"))
            .json(&json!({"input": {"visits": "three"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(
        bad["details"]["fields"]["input.visits"].is_string(),
        "the bad argument is named: {bad}"
    );
    let (status, bad) = call(
        t.api(Method::POST, &format!("/tools/{code}/test"))
            .json(&json!({"input": [3], "inputs": {"visits": 3}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(
        bad["details"]["fields"],
        json!({"input": "must be an object of arguments", "inputs": "is not a field of a tool test"})
    );

    // The sandbox's demo tool runs too.
    let (_, demo) = call(t.api(Method::GET, "/tools?mode=test")).await;
    let demo_id = demo["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "check_opening_hours")
        .expect("demo tool")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, report) = call(
        t.api(Method::POST, &format!("/tools/{demo_id}/test?mode=test"))
            .json(&json!({"input": {"weekday": "Monday"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["data"]["output"]["open"], true, "{report}");

    let looping = create(&t, json!({
        "name": "spin", "description": "never ends", "type": "code", "parameters": {"type": "object"},
        "config": {"language": "javascript", "source": "function main() { while (true) {} }", "timeout_ms": 200}
    })).await;
    let (status, report) = call(
        t.api(Method::POST, &format!("/tools/{looping}/test"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        report["data"]["error"].as_str().unwrap().contains("time"),
        "a runaway loop is a clear error: {report}"
    );

    let http = create(&t, json!({
        "name": "order_status", "description": "Looks an order up", "type": "http",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        "config": {"method": "GET", "url": format!("http://{addr}/orders/{{{{order_id}}}}"),
                   "headers": {"Authorization": {"value": "Bearer s3cret-token", "secret": true}}, "timeout_ms": 5000}
    })).await;
    let (status, report) = call(
        t.api(Method::POST, &format!("/tools/{http}/test"))
            .json(&json!({"input": {"order_id": "A 17"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["data"]["status"], 200);
    assert_eq!(
        report["data"]["output"]["order"], "A 17",
        "the argument is one path segment: {report}"
    );
    assert_eq!(
        report["data"]["output"]["auth"], "Bearer s3cret-token",
        "the secret header is sent"
    );
    let (_, shown) = call(t.api(Method::GET, &format!("/tools/{http}"))).await;
    assert!(
        !shown.to_string().contains("s3cret-token"),
        "and never shown"
    );

    let metadata = create(&t, json!({
        "name": "steal_credentials", "description": "tries the metadata service", "type": "http", "parameters": {"type": "object"},
        "config": {"method": "GET", "url": "http://169.254.169.254/latest/meta-data/iam/", "timeout_ms": 2000}
    })).await;
    let (status, report) = call(
        t.api(Method::POST, &format!("/tools/{metadata}/test"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(
        report["data"]["error"]
            .as_str()
            .unwrap()
            .contains("blocked")
            || report["data"]["error"]
                .as_str()
                .unwrap()
                .contains("not allowed"),
        "{report}"
    );
}

async fn mcp_servers_are_connected_and_their_tools_stored(backend: Backend) {
    let url = switchboard_tests::mcp::start().await;
    let t = spawn_allowing_loopback(backend).await;
    let (status, created) = call(t.api(Method::POST, "/tools/mcp/servers").json(
        &json!({"name": "Demo MCP", "url": url, "headers": {"Authorization": "Bearer mcp-key"}}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, connected) =
        call(t.api(Method::POST, &format!("/tools/mcp/servers/{id}/connect"))).await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    let names: Vec<&str> = connected["data"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"add") && names.contains(&"weather"),
        "{names:?}"
    );
    let (_, got) = call(t.api(Method::GET, &format!("/tools/mcp/servers/{id}"))).await;
    assert_eq!(
        got["data"]["tools"], connected["data"]["tools"],
        "the discovered tools are stored"
    );
    assert!(!got.to_string().contains("mcp-key"), "headers stay masked");

    let (_, dead) = call(
        t.api(Method::POST, "/tools/mcp/servers")
            .json(&json!({"name": "Gone", "url": "http://127.0.0.1:9/mcp"})),
    )
    .await;
    let dead_id = dead["data"]["id"].as_str().unwrap();
    let (status, body) = call(t.api(
        Method::POST,
        &format!("/tools/mcp/servers/{dead_id}/connect"),
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "an unreachable server is a clear 503: {body}"
    );
}

async fn a_call_gets_its_saved_tools_and_the_tools_of_reachable_mcp_servers(backend: Backend) {
    let url = switchboard_tests::mcp::start().await;
    let t = spawn_allowing_loopback(backend).await;
    let (_, agent) = call(t.api(Method::POST, "/agents").json(
        &json!({"name": "Tools", "system_prompt": "Use your tools.", "llm_model": "gpt-4o-mini"}),
    ))
    .await;
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let code = create(&t, json!({
        "name": "add", "description": "A saved tool of the same name as the MCP one", "type": "code",
        "parameters": {"type": "object", "properties": {}},
        "config": {"language": "javascript", "source": "function main() { return {saved: true}; }", "timeout_ms": 1000}
    })).await;
    let (status, _) = call(t.api(
        Method::POST,
        &format!("/tools/agent/{agent_id}/assign/{code}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    for (name, server_url) in [("Demo", url.as_str()), ("Gone", "http://127.0.0.1:9/mcp")] {
        let (_, server) = call(
            t.api(Method::POST, "/tools/mcp/servers")
                .json(&json!({"name": name, "url": server_url})),
        )
        .await;
        let id = server["data"]["id"].as_str().unwrap();
        let (status, _) =
            call(t.api(Method::POST, &format!("/tools/agent/{agent_id}/mcp/{id}"))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, me) = call(t.api(Method::GET, "/auth/me")).await;
    let tenant = switchboard::domain::Tenant {
        org_id: me["data"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        mode: switchboard::domain::Mode::Live,
    };

    let started = std::time::Instant::now();
    let tools =
        switchboard::services::calls::runner::call_tools(&t.app, &tenant, &agent_id, "call-1")
            .await
            .unwrap()
            .expect("tools");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "an unreachable server does not hold the call up"
    );
    let mut names: Vec<String> = tools.tools().into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, ["add", "weather"], "one `add`: the saved tool wins");
    let saved = tools.call("add", json!({})).await.unwrap();
    assert_eq!(saved.output, json!({"saved": true}));
    let weather = tools
        .call("weather", json!({"city": "Oslo"}))
        .await
        .unwrap();
    assert!(
        weather.output.to_string().contains("Oslo"),
        "{:?}",
        weather.output
    );
    assert!(tools.call("nothing", json!({})).await.is_err());
}
