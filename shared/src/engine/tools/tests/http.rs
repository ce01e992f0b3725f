use serde_json::{Value, json};

use crate::engine::signing::WebhookSecret;
use crate::engine::tools::{
    LocalToolRunner, ToolDefinition, ToolError, ToolKind, ToolRunner, run_tool, test_tool,
};
use crate::net::test_server::{FixedResolver, TestServer, start};
use crate::net::{GuardConfig, GuardedClient};

/// The double is reached as `tools.test` (→ 127.0.0.1), the one allowed host.
fn client() -> GuardedClient {
    GuardedClient::with_resolver(
        &GuardConfig {
            allow_hosts: vec!["tools.test".into()],
            allow_private: false,
        },
        FixedResolver::new(&[
            ("tools.test", &["127.0.0.1"]),
            ("evil.example", &["127.0.0.1"]),
        ]),
    )
    .unwrap()
}

fn http_tool(server: &TestServer, config: Value) -> ToolDefinition {
    let mut config = config;
    let url = config["url"].as_str().unwrap().to_owned();
    config["url"] = Value::String(server.url_as("tools.test", &url));
    ToolDefinition::parse(&json!({
        "name": "lookup",
        "description": "Looks things up",
        "type": "http",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "note": {"type": "string"},
                "order": {"type": "object"}
            },
            "required": ["city"]
        },
        "config": config
    }))
    .unwrap()
}

#[tokio::test]
async fn an_http_tool_fills_url_query_headers_and_body() {
    let server = start().await;
    let tool = http_tool(
        &server,
        json!({
            "method": "POST",
            "url": "/echo?fixed=1&city={{city}}",
            "headers": {"x-city": "{{city}}", "x-note": "{{note}}", "x-static": "on"},
            "query": {"days": "{{days}}", "label": "for {{city}}"},
            "body": {"city": "{{city}}", "days": "{{days}}", "text": "in {{city}} for {{days}} days",
                     "order": "{{order}}", "missing": "{{note}}", "list": ["{{days}}"]}
        }),
    );
    let out = run_tool(
        &tool,
        json!({"city": "São Paulo/&x=1#", "days": 3, "order": {"id": 7}}),
        &client(),
    )
    .await
    .unwrap();
    assert_eq!(out.status, Some(200));
    let echo = &out.output;
    assert_eq!(echo["method"], "POST");
    // The argument stayed one query value: no injected parameter, no fragment.
    assert_eq!(echo["query"]["city"], "São Paulo/&x=1#");
    assert!(echo["query"].get("x").is_none());
    assert_eq!(echo["query"]["fixed"], "1");
    assert_eq!(echo["query"]["days"], "3");
    assert_eq!(echo["query"]["label"], "for São Paulo/&x=1#");
    assert_eq!(echo["headers"]["x-static"], "on");
    // A header whose whole value is a missing argument is left out.
    assert!(echo["headers"].get("x-note").is_none());
    assert_eq!(echo["headers"]["content-type"], "application/json");
    // JSON-aware body: whole placeholders keep their type, absent ones drop the key.
    assert_eq!(
        echo["json"],
        json!({"city": "São Paulo/&x=1#", "days": 3, "text": "in São Paulo/&x=1# for 3 days",
               "order": {"id": 7}, "list": [3]})
    );
}

#[tokio::test]
async fn a_path_argument_cannot_escape_its_segment() {
    let server = start().await;
    let tool = http_tool(&server, json!({"url": "/echo/{{city}}"}));
    let out = run_tool(&tool, json!({"city": "../text?x=1"}), &client())
        .await
        .unwrap();
    // /echo/<encoded> is not a route of the double: the path stayed under /echo/.
    assert_eq!(out.status, Some(404));
}

#[tokio::test]
async fn text_responses_and_error_statuses_are_results() {
    let server = start().await;
    let text = http_tool(&server, json!({"url": "/text"}));
    let out = run_tool(&text, json!({"city": "x"}), &client())
        .await
        .unwrap();
    assert_eq!(out.output, json!("hello there"));
    assert_eq!(out.status, Some(200));

    let failing = http_tool(&server, json!({"url": "/status?code=503"}));
    let out = run_tool(&failing, json!({"city": "x"}), &client())
        .await
        .unwrap();
    assert_eq!(out.status, Some(503));
    assert_eq!(out.output, json!({"code": 503}));
}

#[tokio::test]
async fn http_tools_obey_the_outbound_rules_and_limits() {
    let server = start().await;
    let port = server.addr.port();
    let mut tool = http_tool(&server, json!({"url": "/echo"}));
    if let ToolKind::Http(config) = &mut tool.kind {
        config.url = format!("http://evil.example:{port}/echo");
    }
    let err = run_tool(&tool, json!({"city": "x"}), &client())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ToolError::Blocked(ref m) if m.contains("evil.example")),
        "{err:?}"
    );

    let big = http_tool(&server, json!({"url": "/stream-big"}));
    let err = run_tool(&big, json!({"city": "x"}), &client())
        .await
        .unwrap_err();
    assert!(matches!(err, ToolError::TooLarge(_)), "{err:?}");

    let slow = http_tool(&server, json!({"url": "/slow", "timeout_ms": 200}));
    let err = run_tool(&slow, json!({"city": "x"}), &client())
        .await
        .unwrap_err();
    assert_eq!(err, ToolError::Timeout);
}

#[tokio::test]
async fn arguments_are_validated_before_anything_is_sent() {
    let server = start().await;
    let tool = http_tool(&server, json!({"url": "/echo"}));
    let runner = LocalToolRunner::new([tool], client());
    let err = runner
        .call("lookup", json!({"days": "x"}))
        .await
        .unwrap_err();
    let ToolError::InvalidArguments(fields) = err else {
        panic!("{err:?}")
    };
    assert_eq!(fields["input.city"], "is required");
    assert_eq!(fields["input.days"], "must be of type integer");
    let err = runner.call("lookup", json!([1, 2])).await.unwrap_err();
    assert!(matches!(err, ToolError::InvalidArguments(_)));
    assert_eq!(server.hits(), 0);

    assert_eq!(
        runner.call("nope", json!({})).await.unwrap_err(),
        ToolError::UnknownTool("nope".into())
    );
    assert_eq!(runner.tools().len(), 1);
    assert_eq!(runner.tools()[0].name, "lookup");
    let ok = runner
        .call("lookup", json!({"city": "Oslo"}))
        .await
        .unwrap();
    assert_eq!(ok.output["method"], "GET");
}

fn webhook_tool(url: String, secret: &WebhookSecret) -> ToolDefinition {
    ToolDefinition::parse(&json!({
        "name": "notify",
        "description": "Tells the CRM",
        "type": "webhook",
        "parameters": {"type": "object", "properties": {"caller": {"type": "string"}}},
        "config": {"url": url, "secret": secret.expose()}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_webhook_tool_posts_signed_arguments() {
    let server = start().await;
    let secret = WebhookSecret::generate();
    let tool = webhook_tool(server.url_as("tools.test", "/echo"), &secret);
    let out = run_tool(&tool, json!({"caller": "+14155550123"}), &client())
        .await
        .unwrap();
    assert_eq!(out.status, Some(200));
    let echo = &out.output;
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["json"], json!({"caller": "+14155550123"}));
    let headers = &echo["headers"];
    let id = headers["webhook-id"].as_str().unwrap();
    let timestamp: i64 = headers["webhook-timestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let signature = headers["webhook-signature"].as_str().unwrap();
    assert!(id.starts_with("msg_"));
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert!(secret.verify(
        id,
        timestamp,
        echo["body"].as_str().unwrap().as_bytes(),
        signature
    ));
}

#[tokio::test]
async fn a_webhook_must_answer_json_with_a_success_status() {
    let server = start().await;
    let secret = WebhookSecret::generate();
    let text = webhook_tool(server.url_as("tools.test", "/text"), &secret);
    let err = run_tool(&text, json!({}), &client()).await.unwrap_err();
    assert!(
        matches!(&err, ToolError::Upstream { status: Some(200), message } if message.contains("instead of JSON")),
        "{err:?}"
    );
    let failing = webhook_tool(server.url_as("tools.test", "/status?code=500"), &secret);
    let err = run_tool(&failing, json!({}), &client()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ToolError::Upstream {
                status: Some(500),
                ..
            }
        ),
        "{err:?}"
    );
    let blocked = webhook_tool("http://169.254.169.254/latest".into(), &secret);
    let err = run_tool(&blocked, json!({}), &client()).await.unwrap_err();
    assert!(matches!(err, ToolError::Blocked(_)), "{err:?}");
}

#[tokio::test]
async fn the_test_endpoint_report_carries_output_status_and_error() {
    let server = start().await;
    let tool = http_tool(&server, json!({"url": "/status?code=418"}));
    let report = test_tool(&tool, json!({"city": "x"}), &client())
        .await
        .unwrap();
    assert_eq!(report.status, Some(418));
    assert_eq!(report.error, None);
    assert_eq!(report.output, json!({"code": 418}));

    let Err(ToolError::InvalidArguments(fields)) = test_tool(&tool, json!({}), &client()).await
    else {
        panic!("bad arguments are not run")
    };
    assert_eq!(fields["input.city"], "is required");

    let secret = WebhookSecret::generate();
    let failing = webhook_tool(server.url_as("tools.test", "/status?code=502"), &secret);
    let report = test_tool(&failing, json!({}), &client()).await.unwrap();
    assert_eq!(report.status, Some(502));
    assert_eq!(report.output, Value::Null);
    assert!(report.error.unwrap().contains("502"));

    let public = failing.to_public_json();
    assert_eq!(public["config"]["secret"], "whsec_****");
    let tool = http_tool(
        &server,
        json!({"url": "/echo", "headers": {"Authorization": "Bearer s3cret"}}),
    );
    let public = tool.to_public_json();
    assert_eq!(public["config"]["headers"]["Authorization"], "****");
    assert!(!public.to_string().contains("s3cret"));
}
