//! Tool parsing, sealing, masking and keeping secrets on PATCH.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::crypto::Cipher;
use crate::error::Error;

fn cipher() -> Cipher {
    Cipher::from_base64(&Cipher::generate_key()).unwrap()
}

fn parse(v: Value) -> Result<ToolSpec, Error> {
    ToolSpec::parse(v.as_object().unwrap(), &BTreeSet::new())
}

fn fields(v: Value) -> crate::error::FieldErrors {
    match parse(v) {
        Err(Error::Validation(f)) => f,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn every_bad_field_is_reported() {
    let f = fields(json!({
        "name": "Get Order", "type": "http", "parameters": {"type": "string"},
        "config": {"method": "FETCH", "url": "ftp://x", "timeout_ms": 60000, "headers": {"Bad Name": "x"}, "extra": 1},
        "enabled": "yes"
    }));
    for k in [
        "name",
        "description",
        "parameters",
        "config.method",
        "config.url",
        "config.timeout_ms",
        "config.headers.Bad Name",
        "config.extra",
        "enabled",
    ] {
        assert!(f.contains_key(k), "{k} in {f:?}");
    }
    let f = fields(
        json!({"name": "hook", "description": "d", "type": "webhook", "config": {"url": "https://x.io"}}),
    );
    assert!(f.contains_key("config.secret"), "{f:?}");
    let f = fields(
        json!({"name": "js", "description": "d", "type": "code", "config": {"language": "python"}}),
    );
    assert!(
        f.contains_key("config.language") && f.contains_key("config.source"),
        "{f:?}"
    );
    assert!(fields(json!({"name": "x", "description": "d", "type": "sql"})).contains_key("type"));
}

#[test]
fn secrets_are_sealed_masked_and_kept_on_patch() {
    let c = cipher();
    let spec = parse(json!({
        "name": "get_order", "description": "Looks up an order", "type": "http",
        "config": {"url": "https://shop.example/orders/{{id}}", "headers": {
            "Authorization": {"value": "Bearer sk_live_abcdef123456", "secret": true},
            "Accept": "application/json"}}
    }))
    .unwrap();
    let tool = spec
        .into_tool("i".into(), None, &c, "t".into(), "t".into())
        .unwrap();
    let api = tool.to_api(&c);
    assert!(!api.to_string().contains("sk_live_abcdef123456"));
    assert_eq!(api["config"]["headers"]["Authorization"]["secret"], true);
    assert_eq!(api["config"]["headers"]["Accept"], "application/json");
    assert_eq!(api["config"]["method"], "GET");

    // PATCH that leaves config alone keeps the secret.
    let merged = tool.merged_with(json!({"description": "New"}).as_object().unwrap());
    let spec = ToolSpec::parse(&merged, &tool.secret_names()).unwrap();
    let updated = spec
        .into_tool("i".into(), Some(&tool), &c, "t".into(), "t".into())
        .unwrap();
    let ToolConfig::Http(h) = &updated.clone().open(&c).unwrap().config else {
        panic!()
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: "Bearer sk_live_abcdef123456".to_owned()
        }
    );
    // Sending back the masked value read also keeps it.
    let masked = api["config"]["headers"]["Authorization"]["value"].clone();
    let merged = tool.merged_with(json!({"config": {"url": "https://shop.example/", "headers": {"Authorization": {"value": masked, "secret": true}}}}).as_object().unwrap());
    let spec = ToolSpec::parse(&merged, &tool.secret_names()).unwrap();
    let again = spec
        .into_tool("i".into(), Some(&tool), &c, "t".into(), "t".into())
        .unwrap();
    let ToolConfig::Http(h) = again.open(&c).unwrap().config else {
        panic!()
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: "Bearer sk_live_abcdef123456".to_owned()
        }
    );
    assert!(
        !h.headers.contains_key("Accept"),
        "config is replaced whole"
    );
}

#[test]
fn stored_tools_read_back() {
    let c = cipher();
    for body in [
        json!({"name": "a", "description": "d", "type": "webhook", "config": {"url": "https://h.example/x", "secret": "whsec_abc123456789"}}),
        json!({"name": "b", "description": "d", "type": "code", "config": {"source": "return 1", "timeout_ms": 100}}),
        json!({"name": "c", "description": "d", "type": "http", "config": {"method": "post", "url": "https://x.example", "body": {"q": "{{q}}"}, "query": {"a": "1"}}}),
    ] {
        let tool = parse(body)
            .unwrap()
            .into_tool("i".into(), None, &c, "t".into(), "t".into())
            .unwrap();
        let text = serde_json::to_value(&tool).unwrap();
        let back: Tool = serde_json::from_value(text).unwrap();
        assert_eq!(back, tool);
    }
}
