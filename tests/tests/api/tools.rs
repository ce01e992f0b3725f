//! Tools and MCP servers (SPEC §6): CRUD with sealed secrets, unique names,
//! assignment to agents, and what the executors load.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::tool::{Header, ToolConfig};
use switchboard::domain::{Mode, Tenant};
use switchboard::services::{mcp, tools};
use switchboard_tests::{TestApp, assert_error_body, backend_tests, call};

backend_tests!(
    tool_crud_with_every_field,
    secrets_are_sealed_masked_and_kept,
    validation_names_every_bad_field,
    names_are_unique_per_tenant,
    tools_are_assigned_to_agents,
    mcp_servers_are_registered_and_assigned,
    other_orgs_and_test_mode_cannot_see_tools,
    credential_headers_are_secret_by_default,
    a_tool_that_saves_can_run,
);

const SECRET: &str = "Bearer sk_live_0123456789abcdef";
const HOOK_SECRET: &str = "whsec_c2VjcmV0LXNpZ25pbmcta2V5";

async fn tenant(t: &TestApp) -> Tenant {
    let org_id = call(t.api(Method::GET, "/auth/me")).await.1["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Tenant {
        org_id,
        mode: Mode::Live,
    }
}

fn http_tool(name: &str) -> Value {
    json!({
        "name": name, "description": "Looks up an order by its number.", "type": "http",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        "config": {
            "method": "POST", "url": "https://shop.example/api/orders/{{order_id}}",
            "headers": {"Authorization": {"value": SECRET, "secret": true}, "Accept": "application/json"},
            "query": {"expand": "items"}, "body": {"id": "{{order_id}}"}, "timeout_ms": 8000
        },
        "enabled": false
    })
}

async fn create(t: &TestApp, body: &Value) -> Value {
    let (status, created) = call(t.api(Method::POST, "/tools").json(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"].clone()
}

async fn stored(t: &TestApp, tenant: &Tenant, id: &str) -> Value {
    t.app
        .table
        .get(&tenant.pk(), &format!("TOOL#{id}"))
        .await
        .unwrap()
        .expect("stored tool")
        .data
}

async fn tool_crud_with_every_field(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let full = http_tool("get_order");
    let tool = create(&t, &full).await;
    let id = tool["id"].as_str().unwrap().to_owned();
    for k in ["name", "description", "type", "parameters", "enabled"] {
        assert_eq!(tool[k], full[k], "field {k}");
    }
    let config = &tool["config"];
    for k in ["method", "url", "query", "body", "timeout_ms"] {
        assert_eq!(config[k], full["config"][k], "config.{k}");
    }
    assert_eq!(config["headers"]["Accept"], "application/json");
    assert_eq!(
        config["headers"]["Authorization"],
        json!({"value": "••••cdef", "secret": true})
    );

    let (_, got) = call(t.api(Method::GET, &format!("/tools/{id}"))).await;
    assert_eq!(got["data"], tool);
    let (_, listed) = call(t.api(Method::GET, "/tools")).await;
    assert_eq!(listed["meta"]["pagination"]["total"], 1);
    assert_eq!(listed["data"][0], tool);
    let (_, enabled) = call(t.api(Method::GET, "/tools?enabled=true")).await;
    assert_eq!(enabled["data"].as_array().unwrap().len(), 0);

    let (status, patched) = call(
        t.api(Method::PATCH, &format!("/tools/{id}"))
            .json(&json!({"description": "Finds an order.", "enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["description"], "Finds an order.");
    assert_eq!(patched["data"]["enabled"], true);
    assert_eq!(
        patched["data"]["config"], tool["config"],
        "config untouched"
    );
    assert_eq!(patched["data"]["created_at"], tool["created_at"]);

    for (body, kind) in [
        (
            json!({"name": "notify_crm", "description": "Tells the CRM.", "type": "webhook",
                   "config": {"url": "https://crm.example/hooks/switchboard", "secret": HOOK_SECRET}}),
            "webhook",
        ),
        (
            json!({"name": "add_numbers", "description": "Adds two numbers.", "type": "code",
                   "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
                   "config": {"language": "javascript", "source": "function main(args) { return args.a + args.b; }", "timeout_ms": 250}}),
            "code",
        ),
    ] {
        let made = create(&t, &body).await;
        assert_eq!(made["type"], kind);
        assert_eq!(made["enabled"], true, "enabled by default");
        if kind == "code" {
            assert_eq!(made["config"], body["config"]);
        } else {
            assert_eq!(made["config"]["url"], body["config"]["url"]);
            assert_eq!(made["config"]["secret"], "••••a2V5");
        }
    }

    let (status, _) = call(t.api(Method::DELETE, &format!("/tools/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(t.api(Method::GET, &format!("/tools/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_body(&body);
    let (_, listed) = call(t.api(Method::GET, "/tools")).await;
    assert_eq!(listed["meta"]["pagination"]["total"], 2);
}

async fn secrets_are_sealed_masked_and_kept(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let live = tenant(&t).await;
    let tool = create(&t, &http_tool("get_order")).await;
    let id = tool["id"].as_str().unwrap().to_owned();
    let hook = create(
        &t,
        &json!({"name": "notify", "description": "d", "type": "webhook",
        "config": {"url": "https://crm.example/h", "secret": HOOK_SECRET}}),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();

    for (tid, secret) in [(&id, SECRET), (&hook_id, HOOK_SECRET)] {
        let (_, got) = call(t.api(Method::GET, &format!("/tools/{tid}"))).await;
        assert!(!got.to_string().contains(secret), "masked on read");
        let data = stored(&t, &live, tid).await;
        assert!(!data.to_string().contains(secret), "no plaintext at rest");
    }
    let data = stored(&t, &live, &id).await;
    let sealed = data["config"]["headers"]["Authorization"]["secret"]["sealed"]
        .as_str()
        .unwrap();
    assert_eq!(
        data["config"]["headers"]["Authorization"]["secret"]["hint"], "cdef",
        "the hint a read shows is stored beside the ciphertext"
    );
    assert!(sealed.starts_with("v1:"));
    assert_eq!(t.app.cipher.open(sealed).unwrap(), SECRET);

    // The executors get the clear values.
    let exec = tools::load_for_execution(&t.app, &live, &id).await.unwrap();
    let ToolConfig::Http(h) = &exec.config else {
        panic!("an http tool")
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: SECRET.to_owned()
        }
    );
    let exec = tools::load_for_execution(&t.app, &live, &hook_id)
        .await
        .unwrap();
    let ToolConfig::Webhook(w) = &exec.config else {
        panic!("a webhook tool")
    };
    assert_eq!(w.secret, HOOK_SECRET);

    // Resending the config as read (masked values) keeps the secrets; a new
    // value replaces one; leaving the secret out of a webhook keeps it.
    let (status, p) = call(
        t.api(Method::PUT, &format!("/tools/{id}"))
            .json(&json!({"config": tool["config"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let exec = tools::load_for_execution(&t.app, &live, &id).await.unwrap();
    let ToolConfig::Http(h) = &exec.config else {
        panic!()
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: SECRET.to_owned()
        }
    );
    let (_, p) = call(
        t.api(Method::PATCH, &format!("/tools/{id}")).json(&json!({"config": {
            "url": "https://shop.example/v2", "headers": {"Authorization": {"value": "Bearer rotated_key_999", "secret": true}}
        }})),
    )
    .await;
    assert!(!p.to_string().contains("rotated_key_999"));
    assert_eq!(
        p["data"]["config"]["method"], "GET",
        "config is replaced whole"
    );
    let exec = tools::load_for_execution(&t.app, &live, &id).await.unwrap();
    let ToolConfig::Http(h) = &exec.config else {
        panic!()
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: "Bearer rotated_key_999".to_owned()
        }
    );
    let (status, _) = call(
        t.api(Method::PATCH, &format!("/tools/{hook_id}"))
            .json(&json!({"config": {"url": "https://crm.example/new"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let exec = tools::load_for_execution(&t.app, &live, &hook_id)
        .await
        .unwrap();
    let ToolConfig::Webhook(w) = &exec.config else {
        panic!()
    };
    assert_eq!(
        (w.url.as_str(), w.secret.as_str()),
        ("https://crm.example/new", HOOK_SECRET)
    );
}

async fn validation_names_every_bad_field(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let cases = [
        (json!({"type": "sql"}), vec!["name", "description", "type"]),
        (
            json!({"name": "Get Order", "description": "d", "type": "http", "parameters": {"type": "array"},
                   "config": {"method": "FETCH", "url": "file:///etc/passwd", "timeout_ms": 30001,
                              "headers": {"X-Key": {"secret": true}}, "query": {"n": 1}, "verbose": true},
                   "enabled": "yes"}),
            vec![
                "name",
                "parameters",
                "config.method",
                "config.url",
                "config.timeout_ms",
                "config.headers.X-Key.value",
                "config.query.n",
                "config.verbose",
                "enabled",
            ],
        ),
        (
            json!({"name": "h", "description": "d", "type": "http", "config": {}}),
            vec!["config.url"],
        ),
        (
            json!({"name": "w", "description": "d", "type": "webhook", "config": {"url": "nope"}}),
            vec!["config.url", "config.secret"],
        ),
        (
            json!({"name": "c", "description": "d", "type": "code", "config": {"language": "python", "timeout_ms": 0}}),
            vec!["config.language", "config.source", "config.timeout_ms"],
        ),
        (
            json!({"name": "p", "description": "d", "type": "code", "parameters": "object", "config": {"source": "1"}}),
            vec!["parameters"],
        ),
    ];
    for (body, fields) in cases {
        let (status, err) = call(t.api(Method::POST, "/tools").json(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {err}");
        assert_error_body(&err);
        for f in fields {
            assert!(
                err["details"]["fields"][f].is_string(),
                "{f} missing for {body}: {err}"
            );
        }
    }
    let (status, err) = call(
        t.api(Method::POST, "/tools/mcp/servers")
            .json(&json!({"url": "ws://x", "headers": {"X-Key": 1}, "timeout": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_error_body(&err);
    let fields = err["details"]["fields"].as_object().unwrap();
    assert_eq!(fields["name"], "is required");
    assert!(fields["url"].is_string(), "{fields:?}");
    assert!(fields["headers.X-Key"].is_string(), "{fields:?}");
    assert_eq!(fields["timeout"], "is not a field of an MCP server");
    assert_eq!(fields.len(), 4, "{fields:?}");
}

async fn names_are_unique_per_tenant(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let first = create(&t, &http_tool("get_order")).await;
    let (status, err) = call(t.api(Method::POST, "/tools").json(&http_tool("get_order"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(assert_error_body(&err).contains("get_order"));
    let second = create(&t, &http_tool("get_invoice")).await;
    let second_id = second["id"].as_str().unwrap();
    let (status, _) = call(
        t.api(Method::PATCH, &format!("/tools/{second_id}"))
            .json(&json!({"name": "get_order"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a rename cannot take a used name"
    );

    // A rename frees the old name; a delete frees the name too.
    let (status, _) = call(
        t.api(Method::PATCH, &format!("/tools/{second_id}"))
            .json(&json!({"name": "get_bill"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    create(&t, &http_tool("get_invoice")).await;
    let first_id = first["id"].as_str().unwrap();
    call(t.api(Method::DELETE, &format!("/tools/{first_id}"))).await;
    create(&t, &http_tool("get_order")).await;
    let (_, listed) = call(t.api(Method::GET, "/tools")).await;
    let mut names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["get_bill", "get_invoice", "get_order"]);

    // Another org (and the sandbox) may use the same name.
    let (cookie, _) = t.signup("other@example.com").await;
    let (status, _) = call(
        t.session(Method::POST, "/tools", &cookie)
            .json(&http_tool("get_order")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        t.api(Method::POST, "/tools?mode=test")
            .json(&http_tool("get_order")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn tools_are_assigned_to_agents(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let live = tenant(&t).await;
    let (_, agent) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "Shop bot", "system_prompt": "p"})),
    )
    .await;
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let a = create(&t, &http_tool("get_order")).await;
    let mut enabled = http_tool("get_invoice");
    enabled["enabled"] = json!(true);
    let b = create(&t, &enabled).await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    for tool_id in [a_id, b_id, b_id] {
        let (status, body) = call(t.api(
            Method::POST,
            &format!("/tools/agent/{agent_id}/assign/{tool_id}"),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["data"]["assigned"], true);
    }
    let (_, mine) = call(t.api(Method::GET, &format!("/tools/agent/{agent_id}"))).await;
    let ids: Vec<&str> = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a_id, b_id], "assigning twice is harmless");
    assert!(!mine.to_string().contains(SECRET));
    let for_call = tools::agent_tools(&t.app, &live, &agent_id).await.unwrap();
    assert_eq!(for_call.len(), 1, "only enabled tools go to a call");
    assert_eq!(for_call[0].id, b_id);

    let (status, _) = call(t.api(
        Method::DELETE,
        &format!("/tools/agent/{agent_id}/assign/{a_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.api(
        Method::DELETE,
        &format!("/tools/agent/{agent_id}/assign/{a_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not assigned any more");
    let nobody = uuid::Uuid::now_v7();
    let (status, _) = call(t.api(
        Method::POST,
        &format!("/tools/agent/{nobody}/assign/{a_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(t.api(
        Method::POST,
        &format!("/tools/agent/{agent_id}/assign/{nobody}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting a tool removes it from its agents.
    call(t.api(Method::DELETE, &format!("/tools/{b_id}"))).await;
    let (_, mine) = call(t.api(Method::GET, &format!("/tools/agent/{agent_id}"))).await;
    assert_eq!(mine["data"], json!([]));
    let left = t
        .app
        .table
        .get(&live.pk(), &format!("AGENTTOOL#{agent_id}#{b_id}"))
        .await
        .unwrap();
    assert!(left.is_none(), "the assignment item is gone");

    // Deleting an agent removes its assignments.
    call(t.api(
        Method::POST,
        &format!("/tools/agent/{agent_id}/assign/{a_id}"),
    ))
    .await;
    call(t.api(Method::DELETE, &format!("/agents/{agent_id}"))).await;
    let left = t
        .app
        .table
        .get(&live.pk(), &format!("AGENTTOOL#{agent_id}#{a_id}"))
        .await
        .unwrap();
    assert!(left.is_none());
}

async fn mcp_servers_are_registered_and_assigned(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let live = tenant(&t).await;
    let body = json!({"name": "Calendar", "url": "https://mcp.example/mcp", "headers": {"Authorization": SECRET}});
    let (status, created) = call(t.api(Method::POST, "/tools/mcp/servers").json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let s = &created["data"];
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["name"], "Calendar");
    assert_eq!(s["url"], "https://mcp.example/mcp");
    assert_eq!(s["headers"]["Authorization"], "••••cdef");
    assert_eq!(s["tools"], json!([]));
    let item = t
        .app
        .table
        .get(&live.pk(), &format!("MCPSERVER#{id}"))
        .await
        .unwrap()
        .unwrap();
    assert!(!item.data.to_string().contains(SECRET));
    assert!(
        item.data["headers"]["Authorization"]["sealed"]
            .as_str()
            .unwrap()
            .starts_with("v1:")
    );

    let open = mcp::load_for_execution(&t.app, &live, &id).await.unwrap();
    assert_eq!(open.headers["Authorization"], SECRET);
    let discovered = vec![
        json!({"name": "list_events", "description": "Lists events", "inputSchema": {"type": "object"}}),
    ];
    mcp::store_discovered_tools(&t.app, &live, &id, discovered.clone())
        .await
        .unwrap();
    let (_, got) = call(t.api(Method::GET, &format!("/tools/mcp/servers/{id}"))).await;
    assert_eq!(got["data"]["tools"], json!(discovered));
    assert!(got["data"]["tools_discovered_at"].is_string());
    assert!(!got.to_string().contains(SECRET));
    let (_, listed) = call(t.api(Method::GET, "/tools/mcp/servers")).await;
    assert_eq!(listed["meta"]["pagination"]["total"], 1);
    assert_eq!(listed["data"][0]["id"], json!(id));
    let (_, tools_list) = call(t.api(Method::GET, "/tools")).await;
    assert_eq!(tools_list["data"], json!([]), "servers are not tools");

    let (_, agent) = call(
        t.api(Method::POST, "/agents")
            .json(&json!({"name": "Scheduler", "system_prompt": "p"})),
    )
    .await;
    let agent_id = agent["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = call(t.api(Method::POST, &format!("/tools/agent/{agent_id}/mcp/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = call(t.api(Method::GET, &format!("/tools/agent/{agent_id}/mcp"))).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    let for_call = mcp::agent_mcp_servers(&t.app, &live, &agent_id)
        .await
        .unwrap();
    assert_eq!(for_call[0].headers["Authorization"], SECRET);
    let (status, _) =
        call(t.api(Method::DELETE, &format!("/tools/agent/{agent_id}/mcp/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = call(t.api(Method::GET, &format!("/tools/agent/{agent_id}/mcp"))).await;
    assert_eq!(mine["data"], json!([]));

    call(t.api(Method::POST, &format!("/tools/agent/{agent_id}/mcp/{id}"))).await;
    let (status, _) = call(t.api(Method::DELETE, &format!("/tools/mcp/servers/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(t.api(Method::GET, &format!("/tools/mcp/servers/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        mcp::agent_mcp_servers(&t.app, &live, &agent_id)
            .await
            .unwrap()
            .is_empty()
    );
    let (_, listed) = call(t.api(Method::GET, "/tools/mcp/servers")).await;
    assert_eq!(listed["meta"]["pagination"]["total"], 0);
}

async fn other_orgs_and_test_mode_cannot_see_tools(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let tool = create(&t, &http_tool("get_order")).await;
    let id = tool["id"].as_str().unwrap().to_owned();
    let (_, server) = call(
        t.api(Method::POST, "/tools/mcp/servers")
            .json(&json!({"name": "S", "url": "https://mcp.example/"})),
    )
    .await;
    let server_id = server["data"]["id"].as_str().unwrap().to_owned();
    let (cookie, _) = t.signup("other@example.com").await;
    for path in [
        format!("/tools/{id}"),
        format!("/tools/mcp/servers/{server_id}"),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let (status, _) = call(t.session(method.clone(), &path, &cookie)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        }
    }
    let (status, _) = call(
        t.session(Method::PATCH, &format!("/tools/{id}"), &cookie)
            .json(&json!({"description": "mine"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, agent) = call(
        t.session(Method::POST, "/agents", &cookie)
            .json(&json!({"name": "Theirs", "system_prompt": "p"})),
    )
    .await;
    let their_agent = agent["data"]["id"].as_str().unwrap();
    let (status, _) = call(t.session(
        Method::POST,
        &format!("/tools/agent/{their_agent}/assign/{id}"),
        &cookie,
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not their tool");

    // The sandbox has its demo code tool, assigned to the demo agent, and
    // nothing from live.
    let (_, sandbox) = call(t.api(Method::GET, "/tools?mode=test")).await;
    let list = sandbox["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{sandbox}");
    assert_eq!(list[0]["type"], "code");
    let (status, _) = call(t.api(Method::GET, &format!("/tools/{id}?mode=test"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, agents) = call(t.api(Method::GET, "/agents?mode=test")).await;
    let demo_agent = agents["data"][0]["id"].as_str().unwrap();
    let (_, demo_tools) =
        call(t.api(Method::GET, &format!("/tools/agent/{demo_agent}?mode=test"))).await;
    assert_eq!(demo_tools["data"][0]["id"], list[0]["id"]);
    let (_, live) = call(t.api(Method::GET, "/tools")).await;
    assert_eq!(live["data"].as_array().unwrap().len(), 1);
}

/// Issue 10 §3: credentials sent as plain header strings are sealed and masked anyway.
async fn credential_headers_are_secret_by_default(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let live = tenant(&t).await;
    let body = json!({
        "name": "crm", "description": "CRM lookup", "type": "http",
        "config": {"url": "https://crm.example/", "headers": {
            "Authorization": SECRET, "Cookie": "sid=0123456789abcdef", "X-Crm-Token": "tok_0123456789xyz",
            "Accept": "application/json"
        }}
    });
    let tool = create(&t, &body).await;
    let id = tool["id"].as_str().unwrap().to_owned();
    let headers = &tool["config"]["headers"];
    assert_eq!(
        headers["Authorization"],
        json!({"value": "••••cdef", "secret": true})
    );
    assert_eq!(
        headers["Cookie"],
        json!({"value": "••••cdef", "secret": true})
    );
    assert_eq!(
        headers["X-Crm-Token"],
        json!({"value": "••••9xyz", "secret": true})
    );
    assert_eq!(headers["Accept"], "application/json");
    let (_, got) = call(t.api(Method::GET, &format!("/tools/{id}"))).await;
    let (_, listed) = call(t.api(Method::GET, "/tools")).await;
    for (what, shown) in [
        ("create", &tool),
        ("get", &got["data"]),
        ("list", &listed["data"][0]),
    ] {
        let text = shown.to_string();
        for clear in ["sk_live", "sid=", "tok_0123"] {
            assert!(!text.contains(clear), "{what} shows {clear}: {text}");
        }
    }
    assert!(!stored(&t, &live, &id).await.to_string().contains("sk_live"));

    // A PATCH that sends the masked value back as a plain string keeps the secret.
    let (status, p) = call(t.api(Method::PATCH, &format!("/tools/{id}")).json(&json!({
        "config": {"url": "https://crm.example/v2", "headers": {"Authorization": "••••cdef"}}
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let exec = tools::load_for_execution(&t.app, &live, &id).await.unwrap();
    let ToolConfig::Http(h) = &exec.config else {
        panic!("an http tool")
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: SECRET.to_owned()
        }
    );
}

/// Issue 10 §4: one tool model. What could never run is refused at save, with the
/// executor's limits.
async fn a_tool_that_saves_can_run(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let code = |source: &str, timeout_ms: u64| {
        json!({"name": "js", "description": "d", "type": "code",
               "config": {"language": "javascript", "source": source, "timeout_ms": timeout_ms}})
    };
    let cases = [
        (
            code("const x = 1;", 1000),
            "config.source",
            "the code must define function main(input)",
        ),
        (
            code("function main( {", 1000),
            "config.source",
            "SyntaxError",
        ),
        (code("function main() {}", 30_000), "config.timeout_ms", ""),
        (
            code(
                &format!("function main() {{}}\n//{}", "x".repeat(70 * 1024)),
                1000,
            ),
            "config.source",
            "",
        ),
        (
            json!({"name": "hook", "description": "d", "type": "webhook",
                   "config": {"url": "https://crm.example/h", "secret": "not a signing key"}}),
            "config.secret",
            "whsec_",
        ),
    ];
    for (body, field, says) in cases {
        let (status, err) = call(t.api(Method::POST, "/tools").json(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_error_body(&err);
        let message = err["details"]["fields"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {err}"));
        assert!(message.contains(says), "{field}: {message}");
    }
    let (_, listed) = call(t.api(Method::GET, "/tools")).await;
    assert_eq!(
        listed["meta"]["pagination"]["total"], 0,
        "nothing was stored"
    );
}
