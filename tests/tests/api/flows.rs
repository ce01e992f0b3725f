//! Flows (SPEC §4).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    flow_crud_keeps_the_whole_graph,
    invalid_graphs_name_every_bad_node_and_edge,
    delete_is_refused_while_an_agent_uses_it,
    call_variables_are_warnings_and_hostile_flows_are_refused
);

fn booking_flow() -> Value {
    json!({
        "name": "Booking", "description": "Books a table",
        "nodes": [
            {"id": "start", "type": "start", "data": {}, "position": {"x": 0, "y": 0}},
            {"id": "ask", "type": "ask", "data": {"question": "How many guests, {{contact.name}}?", "variable": "guests", "validation": "number", "retries": 2}, "position": {"x": 100, "y": 0}, "width": 180},
            {"id": "route", "type": "condition", "data": {}},
            {"id": "big", "type": "transfer", "data": {"number": "+14155550123"}},
            {"id": "ok", "type": "end", "data": {"text": "See you soon!"}}
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "ask"},
            {"id": "e2", "source": "ask", "target": "route"},
            {"id": "e3", "source": "route", "target": "big", "condition": {"variable": "guests", "op": "gt", "value": 8}, "label": "large party"},
            {"id": "e4", "source": "route", "target": "ok", "condition": "default"}
        ]
    })
}

async fn flow_crud_keeps_the_whole_graph(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let doc = booking_flow();
    let (status, created) = call(t.api(Method::POST, "/flows").json(&doc)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, got) = call(t.api(Method::GET, &format!("/flows/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    for k in ["name", "description", "nodes", "edges"] {
        assert_eq!(
            got["data"][k], doc[k],
            "{k} comes back as the editor sent it"
        );
    }
    let (_, listed) = call(t.api(Method::GET, "/flows")).await;
    assert_eq!(listed["meta"]["pagination"]["total"], 1);
    assert_eq!(listed["data"][0]["node_count"], 5);

    let (status, patched) = call(
        t.api(Method::PATCH, &format!("/flows/{id}"))
            .json(&json!({"name": "Booking v2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["name"], "Booking v2");
    assert_eq!(
        patched["data"]["nodes"], doc["nodes"],
        "a partial update keeps the graph"
    );
    // What a write or a read returns (`id`, `warnings`, … included) is a valid PATCH.
    let (status, echoed) = call(
        t.api(Method::PATCH, &format!("/flows/{id}"))
            .json(&patched["data"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed["data"]["name"], "Booking v2");

    let other = t.signup("flow-other@example.com").await.0;
    let (status, _) = call(t.session(Method::GET, &format!("/flows/{id}"), &other)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another org's flow is not found"
    );
    let (status, _) = call(t.api(Method::GET, &format!("/flows/{id}?mode=test"))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "live flows are not in the sandbox"
    );
    let (_, sandbox) = call(t.api(Method::GET, "/flows?mode=test")).await;
    assert_eq!(
        sandbox["data"].as_array().unwrap().len(),
        1,
        "the sandbox has its demo flow"
    );

    let (status, _) = call(t.api(Method::DELETE, &format!("/flows/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.api(Method::GET, &format!("/flows/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn invalid_graphs_name_every_bad_node_and_edge(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let bad = json!({
        "name": "Broken",
        "nodes": [
            {"id": "s", "type": "say", "data": {"text": "hi"}},
            {"id": "c", "type": "condition", "data": {}},
            {"id": "x", "type": "end", "data": {}},
            {"id": "lonely", "type": "end", "data": {}},
            {"id": "t", "type": "tool", "data": {"tool_id": "0190b0a0-0000-7000-8000-000000000000", "args": {}}}
        ],
        "edges": [
            {"id": "e1", "source": "s", "target": "c"},
            {"id": "e2", "source": "c", "target": "x", "condition": {"variable": "v", "op": "eq", "value": 1}},
            {"id": "e3", "source": "c", "target": "nowhere"},
            {"id": "e4", "source": "t", "target": "x"}
        ]
    });
    let (status, body) = call(t.api(Method::POST, "/flows").json(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_body(&body);
    let fields = body["details"]["fields"].as_object().unwrap();
    let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    for want in ["edges.e3", "nodes.c", "nodes.t"] {
        assert!(keys.contains(&want), "{want} missing in {keys:?}");
    }
    assert!(
        keys.iter().any(|k| *k == "nodes" || k.contains("start")),
        "the missing start is named: {keys:?}"
    );
    let unreachable = json!({
        "name": "Island",
        "nodes": [
            {"id": "start", "type": "start", "data": {}},
            {"id": "bye", "type": "end", "data": {}},
            {"id": "lonely", "type": "say", "data": {"text": "nobody hears me"}}
        ],
        "edges": [{"id": "e1", "source": "start", "target": "bye"}, {"id": "e2", "source": "lonely", "target": "bye"}]
    });
    let (status, body) = call(t.api(Method::POST, "/flows").json(&unreachable)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["details"]["fields"]["nodes.lonely"].is_string(),
        "the unreachable node is named: {body}"
    );
    let (status, body) = call(
        t.api(Method::POST, "/flows")
            .json(&json!({"nodes": "not a list", "nmae": "a typo"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = body["details"]["fields"].as_object().unwrap();
    assert_eq!(fields["nmae"], "is not a flow field", "{body}");
    assert!(fields.contains_key("nodes") && fields.contains_key("name"));
    let (_, listed) = call(t.api(Method::GET, "/flows")).await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        0,
        "nothing was stored"
    );
}

async fn delete_is_refused_while_an_agent_uses_it(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (_, created) = call(t.api(Method::POST, "/flows").json(&booking_flow())).await;
    let flow_id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, agent) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "A", "system_prompt": "p", "flow_id": flow_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let (status, body) = call(t.api(Method::DELETE, &format!("/flows/{flow_id}"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(assert_error_body(&body).contains("used by agent"));
    let (status, _) = call(
        t.api(Method::PATCH, &format!("/agents/{agent_id}"))
            .json(&json!({"flow_id": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.api(Method::DELETE, &format!("/flows/{flow_id}"))).await;
    assert_eq!(status, StatusCode::OK, "free once no agent follows it");
}

async fn call_variables_are_warnings_and_hostile_flows_are_refused(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (status, created) = call(t.api(Method::POST, "/flows").json(&booking_flow())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["warnings"], json!([]));

    // SPEC §4: contact fields and task context_data are variables only a call knows.
    let greeting = json!({
        "name": "Greeting",
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "hi", "type": "say", "data": {"text": "Hi {{name}}, about {{context.order_id}}"}},
            {"id": "bye", "type": "end", "data": {"text": "Bye {{contact.name}}"}}
        ],
        "edges": [{"id": "e1", "source": "start", "target": "hi"}, {"id": "e2", "source": "hi", "target": "bye"}]
    });
    let (status, created) = call(t.api(Method::POST, "/flows").json(&greeting)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let warnings = created["data"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["path"], "nodes.hi");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("variable 'name' is not set by any node"),
        "{warnings:?}"
    );
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, patched) = call(
        t.api(Method::PATCH, &format!("/flows/{id}"))
            .json(&json!({"name": "Greeting v2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["warnings"][0]["path"], "nodes.hi");

    // A flow that can never finish: its only way on is a self-loop.
    let looping = json!({
        "name": "Loop",
        "nodes": [{"id": "start", "type": "start"}, {"id": "a", "type": "say", "data": {"text": "again"}}],
        "edges": [{"id": "e1", "source": "start", "target": "a"}, {"id": "e2", "source": "a", "target": "a"}]
    });
    let (status, body) = call(t.api(Method::POST, "/flows").json(&looping)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_error_body(&body);
    assert!(
        body["details"]["fields"]["nodes"]
            .as_str()
            .unwrap()
            .starts_with("no end or transfer node can be reached from the start node 'start'"),
        "{body}"
    );

    // Too many nodes: refused quickly, with the limit, before any tool lookup.
    let nodes: Vec<Value> = (0..5_000)
        .map(|i| json!({"id": format!("n{i}"), "type": "tool", "data": {"tool_id": format!("0190b0a0-0000-7000-8000-{i:012}")}}))
        .collect();
    let started = std::time::Instant::now();
    let (status, body) = call(
        t.api(Method::POST, "/flows")
            .json(&json!({"name": "Huge", "nodes": nodes})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["details"]["fields"]["nodes"],
        "a flow has at most 1000 nodes; this one has 5000"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let (_, listed) = call(t.api(Method::GET, "/flows")).await;
    assert_eq!(
        listed["meta"]["pagination"]["total"], 2,
        "only the good flows"
    );
}
