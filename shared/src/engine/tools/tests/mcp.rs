//! The MCP client against a real MCP server (rmcp's own server side, streamable HTTP).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::json;

use crate::engine::tools::mcp::{McpError, McpTool, McpToolRunner, connect, connect_within};
use crate::engine::tools::{ToolError, ToolRunner};
use crate::net::test_server::{FixedResolver, start};
use crate::net::{GuardConfig, GuardedClient};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct AddRequest {
    /// The first number.
    a: i64,
    /// The second number.
    b: i64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct WeatherRequest {
    /// The city.
    city: String,
}

#[derive(Debug, Clone)]
struct Demo {
    // Read by the code `#[tool_handler]` generates.
    #[allow(dead_code)]
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Demo {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Adds two numbers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "The weather in a city")]
    fn weather(
        &self,
        Parameters(WeatherRequest { city }): Parameters<WeatherRequest>,
    ) -> CallToolResult {
        CallToolResult::structured(json!({"city": city, "temp_c": 21, "sky": "clear"}))
    }

    #[tool(description = "Always fails")]
    fn broken(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text("the backend is down")])
    }
}

#[tool_handler]
impl ServerHandler for Demo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Starts the MCP server on 127.0.0.1:0; returns its URL.
async fn start_mcp_server() -> String {
    start_recording_mcp_server().await.0
}

/// Headers each request to the server carried: (authorization, x-tenant).
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

/// The MCP server, recording the headers each request carried.
async fn start_recording_mcp_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let service: StreamableHttpService<Demo, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Demo::new()),
        Default::default(),
        StreamableHttpServerConfig::default(),
    );
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let header = |name: &str| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    record
                        .lock()
                        .unwrap()
                        .push((header("authorization"), header("x-tenant")));
                    next.run(request)
                },
            ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}/mcp"), seen)
}

fn client() -> GuardedClient {
    GuardedClient::with_resolver(
        &GuardConfig {
            allow_hosts: vec!["127.0.0.1".into()],
            allow_private: false,
        },
        FixedResolver::new(&[("evil.example", &["127.0.0.1"])]),
    )
    .unwrap()
}

fn no_headers() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[tokio::test]
async fn connect_lists_the_servers_tools() {
    let (url, seen) = start_recording_mcp_server().await;
    let headers = BTreeMap::from([
        ("Authorization".to_owned(), "Bearer token-123".to_owned()),
        ("X-Tenant".to_owned(), "acme".to_owned()),
    ]);
    let mut tools = connect(&client(), &url, &headers).await.unwrap();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["add", "broken", "weather"]);
    let add = &tools[0];
    assert_eq!(add.description, "Adds two numbers");
    assert_eq!(add.input_schema["type"], "object");
    assert!(
        add.input_schema["properties"]["a"].is_object(),
        "{}",
        add.input_schema
    );
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (authorization, tenant) in seen {
        assert_eq!(authorization.as_deref(), Some("Bearer token-123"));
        assert_eq!(tenant.as_deref(), Some("acme"));
    }
}

#[tokio::test]
async fn discovered_tools_are_called_through_the_tool_runner() {
    let url = start_mcp_server().await;
    let runner = McpToolRunner::connect(&client(), &url, &no_headers())
        .await
        .unwrap();
    let specs = runner.tools();
    assert_eq!(specs.len(), 3);
    let runner: &dyn ToolRunner = &runner;

    let sum = runner.call("add", json!({"a": 2, "b": 40})).await.unwrap();
    assert_eq!(sum.output, json!("42"));

    let weather = runner
        .call("weather", json!({"city": "Lisbon"}))
        .await
        .unwrap();
    assert_eq!(
        weather.output,
        json!({"city": "Lisbon", "temp_c": 21, "sky": "clear"})
    );

    let err = runner.call("add", json!({"a": 2})).await.unwrap_err();
    let ToolError::InvalidArguments(fields) = err else {
        panic!("{err:?}")
    };
    assert_eq!(fields["input.b"], "is required");

    let err = runner.call("broken", json!({})).await.unwrap_err();
    assert!(
        matches!(&err, ToolError::Upstream { message, .. } if message.contains("the backend is down")),
        "{err:?}"
    );

    assert_eq!(
        runner.call("missing", json!({})).await.unwrap_err(),
        ToolError::UnknownTool("missing".into())
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = connect(
        &client(),
        &format!("http://127.0.0.1:{port}/mcp"),
        &no_headers(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, McpError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn an_endpoint_that_is_not_mcp_is_named_so() {
    let server = start().await;
    for path in ["/text", "/status?code=404", "/status?code=500", "/echo"] {
        let err = connect(&client(), &server.url(path), &no_headers())
            .await
            .unwrap_err();
        assert!(
            matches!(err, McpError::NotMcp(_) | McpError::Protocol(_)),
            "{path}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = start().await;
    let err = connect_within(
        &client(),
        &server.url("/slow"),
        &no_headers(),
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, McpError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn mcp_servers_obey_the_outbound_rules() {
    let strict = GuardedClient::with_resolver(
        &GuardConfig::default(),
        FixedResolver::new(&[("evil.example", &["127.0.0.1"])]),
    )
    .unwrap();
    let local = start_mcp_server().await;
    for url in [
        local.as_str(),
        "http://169.254.169.254/mcp",
        "http://10.0.0.1/mcp",
        "file:///etc/passwd",
        "http://evil.example/mcp",
        "http://localhost/mcp",
    ] {
        let err = connect(&strict, url, &no_headers()).await.unwrap_err();
        assert!(matches!(err, McpError::Blocked(_)), "{url}: {err:?}");
    }
}

#[test]
fn connect_failures_map_to_use_case_errors() {
    use crate::error::Error;
    assert!(matches!(
        Error::from(McpError::Blocked("10.0.0.1 is a private address".into())),
        Error::Validation(f) if f.contains_key("url")
    ));
    assert!(matches!(
        Error::from(McpError::Unreachable("refused".into())),
        Error::Unavailable(_)
    ));
}

#[test]
fn a_discovered_tool_whose_schema_is_too_deep_is_refused_by_name() {
    let mut schema = json!({"type": "object"});
    for _ in 0..40 {
        schema = json!({"type": "object", "properties": {"a": schema}});
    }
    let deep = McpTool::discovered("deep".into(), String::new(), schema);
    assert_eq!(
        deep.error.as_deref(),
        Some(
            "the MCP tool 'deep' cannot be used: its input schema is nested too deeply (at most 32 levels)"
        )
    );
    let fine = McpTool::discovered("fine".into(), String::new(), json!({"type": "object"}));
    assert_eq!(fine.error, None);
}
