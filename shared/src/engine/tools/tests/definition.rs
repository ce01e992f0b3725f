use serde_json::{Value, json};

use crate::engine::tools::{CodeLanguage, HttpMethod, ToolDefinition, ToolKind};

fn http_tool() -> Value {
    json!({
        "name": "get_weather",
        "description": "Current weather for a city",
        "type": "http",
        "enabled": true,
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"]
        },
        "config": {
            "method": "get",
            "url": "https://api.example.com/v1/{{city}}/forecast",
            "headers": {"Authorization": "Bearer secret-token"},
            "query": {"days": "{{days}}"},
            "timeout_ms": 5000
        }
    })
}

#[test]
fn an_http_tool_parses_and_round_trips() {
    let tool = ToolDefinition::parse(&http_tool()).unwrap();
    assert_eq!(tool.name, "get_weather");
    let ToolKind::Http(config) = &tool.kind else {
        panic!("not http")
    };
    assert_eq!(config.method, HttpMethod::Get);
    assert_eq!(config.timeout_ms, 5000);
    assert_eq!(config.masked().headers["Authorization"], "****");
    let json = tool.to_json();
    assert_eq!(json["type"], "http");
    assert_eq!(json["config"]["method"], "GET");
    assert_eq!(ToolDefinition::parse(&json).unwrap(), tool);
    let spec = tool.spec();
    assert_eq!(spec.name, "get_weather");
    assert_eq!(spec.parameters["required"], json!(["city"]));
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let errors = ToolDefinition::parse(&json!({
        "name": "Get Weather",
        "type": "http",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "config": {
            "method": "TRACE",
            "url": "ftp://example.com/{{town}}",
            "headers": {"bad header": "x", "X-Ok": {"nested": 1}},
            "timeout_ms": 60000
        }
    }))
    .unwrap_err();
    assert!(errors["name"].contains("snake_case"), "{errors:?}");
    assert_eq!(errors["description"], "is required");
    assert!(errors.contains_key("config.method"));
    assert!(
        errors["config.url"].contains("not one of the parameters"),
        "{errors:?}"
    );
    assert!(errors.contains_key("config.headers.bad header"));
    assert_eq!(errors["config.headers.X-Ok"], "must be a string");
    assert!(errors["config.timeout_ms"].contains("30000"));

    let errors = ToolDefinition::parse(&json!({
        "name": "x", "description": "d", "type": "http",
        "config": {"url": "not a url"}
    }))
    .unwrap_err();
    assert_eq!(errors["config.url"], "must be an http or https URL");

    let long = "a".repeat(65);
    let errors = ToolDefinition::parse(&json!({
        "name": long, "description": "d", "type": "smtp", "config": []
    }))
    .unwrap_err();
    assert!(errors.contains_key("name"));
    assert!(errors.contains_key("config"));

    let errors = ToolDefinition::parse(&json!({
        "name": "x", "description": "d", "type": "smtp", "config": {}
    }))
    .unwrap_err();
    assert_eq!(errors["type"], "must be one of http, webhook, code");
}

#[test]
fn a_webhook_tool_gets_a_secret_when_none_is_given() {
    let tool = ToolDefinition::parse(&json!({
        "name": "notify_crm", "description": "Tell the CRM", "type": "webhook",
        "config": {"url": "https://crm.example.com/hooks/switchboard"}
    }))
    .unwrap();
    let ToolKind::Webhook(config) = &tool.kind else {
        panic!("not webhook")
    };
    assert_eq!(config.timeout_ms, 10_000);
    let json = tool.to_json();
    assert!(
        json["config"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(ToolDefinition::parse(&json).unwrap(), tool);

    let errors = ToolDefinition::parse(&json!({
        "name": "notify_crm", "description": "d", "type": "webhook",
        "config": {"url": "https://crm.example.com/{{x}}", "secret": "plain"}
    }))
    .unwrap_err();
    assert!(errors.contains_key("config.secret"), "{errors:?}");
}

#[test]
fn a_code_tool_is_checked_for_syntax_and_bounds() {
    let tool = ToolDefinition::parse(&json!({
        "name": "add", "description": "Adds", "type": "code",
        "config": {"language": "javascript", "source": "function main(input) { return input.a + input.b }"}
    }))
    .unwrap();
    let ToolKind::Code(config) = &tool.kind else {
        panic!("not code")
    };
    assert_eq!(config.language, CodeLanguage::Javascript);
    assert_eq!(config.timeout_ms, 2000);

    let errors = ToolDefinition::parse(&json!({
        "name": "add", "description": "Adds", "type": "code",
        "config": {"language": "python", "source": "function main( {", "timeout_ms": 0}
    }))
    .unwrap_err();
    assert_eq!(errors["config.language"], "must be javascript");
    assert!(
        errors["config.source"].contains("SyntaxError"),
        "{errors:?}"
    );
    assert!(errors.contains_key("config.timeout_ms"));

    let errors = ToolDefinition::parse(&json!({
        "name": "add", "description": "Adds", "type": "code",
        "config": {"source": "x".repeat(70 * 1024)}
    }))
    .unwrap_err();
    assert!(errors["config.source"].contains("bytes"));

    // The top level runs at save, under a 1 s deadline: one that never ends could never
    // reach `main` at run time either, so the tool is refused instead of saved.
    let errors = ToolDefinition::parse(&json!({
        "name": "spin", "description": "d", "type": "code",
        "config": {"source": "while (true) {}\nfunction main() {}"}
    }))
    .unwrap_err();
    assert!(
        errors["config.source"].starts_with("the code's top level ran longer than 1 s"),
        "{errors:?}"
    );
    // `main` is defined but never called at save.
    ToolDefinition::parse(&json!({
        "name": "lazy", "description": "d", "type": "code",
        "config": {"source": "function main() { while (true) {} }"}
    }))
    .unwrap();
}

/// The executor takes the saved tool as saved: mapped, with secrets in clear, and never
/// with a longer deadline than the one set of limits allows.
#[test]
fn a_saved_tool_is_mapped_for_the_executor() {
    use crate::domain::tool::{
        CodeConfig as SavedCode, CodeLanguage as SavedLanguage, ExecutableTool, Header,
        HttpConfig as SavedHttp, HttpMethod as SavedMethod, ToolConfig, ToolType,
    };
    let saved = |kind, config| ExecutableTool {
        id: "i".into(),
        name: "t".into(),
        description: "d".into(),
        kind,
        parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
        config,
        enabled: true,
        created_at: "t".into(),
        updated_at: "t".into(),
    };
    let http = saved(
        ToolType::Http,
        ToolConfig::Http(SavedHttp {
            method: SavedMethod::Post,
            url: "https://api.example/{{q}}".into(),
            headers: [
                (
                    "Authorization".to_owned(),
                    Header::Secret {
                        secret: "Bearer x".to_owned(),
                    },
                ),
                (
                    "Accept".to_owned(),
                    Header::Plain("application/json".to_owned()),
                ),
            ]
            .into(),
            query: Default::default(),
            body: None,
            timeout_ms: 8_000,
        }),
    );
    let def = ToolDefinition::from_saved(&http).unwrap();
    let ToolKind::Http(h) = &def.kind else {
        panic!("http")
    };
    assert_eq!(h.method, HttpMethod::Post);
    assert_eq!(h.headers["Authorization"], "Bearer x");
    assert_eq!(h.headers["Accept"], "application/json");
    assert_eq!(h.timeout_ms, 8_000);
    assert_eq!(def.parameters.property_names(), vec!["q".to_owned()]);

    let old_code = saved(
        ToolType::Code,
        ToolConfig::Code(SavedCode {
            language: SavedLanguage::Javascript,
            source: "function main() {}".into(),
            timeout_ms: 30_000,
        }),
    );
    let ToolKind::Code(c) = ToolDefinition::from_saved(&old_code).unwrap().kind else {
        panic!("code")
    };
    assert_eq!(c.timeout_ms, crate::engine::tools::MAX_CODE_TIMEOUT_MS);

    let bad_hook = saved(
        ToolType::Webhook,
        ToolConfig::Webhook(crate::domain::tool::WebhookConfig {
            url: "https://h.example/".into(),
            secret: "not a key".into(),
        }),
    );
    let errors = ToolDefinition::from_saved(&bad_hook).unwrap_err();
    assert!(errors.contains_key("config.secret"), "{errors:?}");
}
