//! Tool parsing, sealing, masking and keeping secrets on PATCH.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

/// The tool as the API shows it.
fn api(tool: &Tool) -> Value {
    serde_json::to_value(crate::services::views::ToolView::from(tool)).unwrap()
}
use crate::crypto::Cipher;
use crate::domain::input::from_json;
use crate::error::Error;

fn cipher() -> Cipher {
    Cipher::from_base64(&Cipher::generate_key()).unwrap()
}

fn parse(v: Value) -> Result<ToolSpec, Error> {
    ToolSpec::parse(from_json(v)?, &BTreeSet::new())
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
        "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        "config": {"url": "https://shop.example/orders/{{id}}", "headers": {
            "Authorization": {"value": "Bearer sk_live_abcdef123456", "secret": true},
            "Accept": "application/json"}}
    }))
    .unwrap();
    let tool = spec
        .into_tool("i".into(), None, &c, "t".into(), "t".into())
        .unwrap();
    let api = api(&tool);
    assert!(!api.to_string().contains("sk_live_abcdef123456"));
    assert_eq!(api["config"]["headers"]["Authorization"]["secret"], true);
    assert_eq!(api["config"]["headers"]["Accept"], "application/json");
    assert_eq!(api["config"]["method"], "GET");

    // PATCH that leaves config alone keeps the secret.
    let merged = tool.patched(from_json(json!({"description": "New"})).unwrap());
    let spec = ToolSpec::parse(merged, &tool.secret_names()).unwrap();
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
    let merged = tool.patched(from_json(json!({"config": {"url": "https://shop.example/", "headers": {"Authorization": {"value": masked, "secret": true}}}})).unwrap());
    let spec = ToolSpec::parse(merged, &tool.secret_names()).unwrap();
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
        json!({"name": "a", "description": "d", "type": "webhook", "config": {"url": "https://h.example/x", "secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZg=="}}),
        json!({"name": "b", "description": "d", "type": "code", "config": {"source": "function main() { return 1 }", "timeout_ms": 100}}),
        json!({"name": "c", "description": "d", "type": "http", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}, "config": {"method": "post", "url": "https://x.example", "body": {"q": "{{q}}"}, "query": {"a": "1"}}}),
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

#[test]
fn credential_headers_are_secret_by_default_and_masked_to_the_last_four() {
    let c = cipher();
    let tool = parse(json!({
        "name": "crm", "description": "CRM", "type": "http",
        "config": {"url": "https://crm.example/", "headers": {
            "Authorization": "Bearer sk_live_abcdef123456",
            "proxy-authorization": "Basic dXNlcjpwYXNzd29yZA==",
            "Cookie": "session=0123456789abcdef",
            "X-Api-Key": "key_0123456789",
            "X-Session-Token": "tok",
            "My-Secret": {"value": "s3cr3t-v4lu3-xyz", "secret": false},
            "Accept": "application/json"
        }}
    }))
    .unwrap()
    .into_tool("i".into(), None, &c, "t".into(), "t".into())
    .unwrap();
    // Masking reads the hint stored at write time: the view has no key at all.
    let api = api(&tool);
    let headers = &api["config"]["headers"];
    assert_eq!(
        headers["Authorization"],
        json!({"value": "••••3456", "secret": true})
    );
    assert_eq!(headers["proxy-authorization"]["value"], "••••ZA==");
    assert_eq!(headers["Cookie"]["value"], "••••cdef");
    assert_eq!(headers["X-Api-Key"]["value"], "••••6789");
    assert_eq!(
        headers["X-Session-Token"]["value"], "••••",
        "short: nothing shown"
    );
    assert_eq!(
        headers["My-Secret"]["secret"], true,
        "credentials stay secret"
    );
    assert_eq!(headers["Accept"], "application/json");
    let text = api.to_string();
    for clear in ["sk_live", "dXNlcjpw", "session=", "key_0123", "s3cr3t"] {
        assert!(!text.contains(clear), "{clear} leaked in {text}");
    }
    // At rest: ciphertext and hint, never the value.
    let stored = serde_json::to_string(&tool).unwrap();
    assert!(!stored.contains("sk_live"), "{stored}");
    // The executor gets the clear value.
    let ToolConfig::Http(h) = tool.clone().open(&c).unwrap().config else {
        panic!()
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: "Bearer sk_live_abcdef123456".to_owned()
        }
    );

    // A PATCH that resends the mask as a plain string keeps the secret.
    let merged = tool.patched(
        from_json(
            json!({"config": {"url": "https://crm.example/", "headers": {"Authorization": "••••3456"}}}),
        )
        .unwrap(),
    );
    let kept = ToolSpec::parse(merged, &tool.secret_names())
        .unwrap()
        .into_tool("i".into(), Some(&tool), &c, "t".into(), "t".into())
        .unwrap();
    let ToolConfig::Http(h) = kept.open(&c).unwrap().config else {
        panic!()
    };
    assert_eq!(
        h.headers["Authorization"],
        Header::Secret {
            secret: "Bearer sk_live_abcdef123456".to_owned()
        }
    );
    // A mask for a secret that was never stored is refused, not stored as the secret.
    let f = fields(json!({
        "name": "crm", "description": "CRM", "type": "http",
        "config": {"url": "https://crm.example/", "headers": {"Authorization": "••••3456"}}
    }));
    assert!(
        f["config.headers.Authorization"].starts_with("is a masked value"),
        "{f:?}"
    );
}

#[test]
fn secrets_stored_before_hints_read_as_a_bare_mask() {
    let c = cipher();
    let old = Sealed {
        ciphertext: c.seal("Bearer sk_live_abcdef123456"),
        hint: None,
    };
    let back: Sealed = serde_json::from_value(json!(old.ciphertext.clone())).unwrap();
    assert_eq!(back, old);
    assert_eq!(back.masked(), "••••");
    assert_eq!(back.open(&c).unwrap(), "Bearer sk_live_abcdef123456");
}

#[test]
fn credential_header_names_are_recognised() {
    for name in [
        "Authorization",
        "PROXY-AUTHORIZATION",
        "cookie",
        "X-API-KEY",
        "X-Auth-User",
        "X-Access-Token",
        "Client-Secret",
        "Apikey",
    ] {
        assert!(is_credential_header(name), "{name}");
    }
    for name in ["Accept", "Content-Type", "X-Request-Id", "User-Agent"] {
        assert!(!is_credential_header(name), "{name}");
    }
}

/// What the executor would refuse is refused at save, with the executor's limits.
#[test]
fn a_tool_that_saves_can_run() {
    let code = |config: Value| {
        fields(json!({"name": "js", "description": "d", "type": "code", "config": config}))
    };
    let f = code(json!({"source": "const x = 1;"}));
    assert_eq!(
        f["config.source"],
        "the code must define function main(input)"
    );
    let f = code(json!({"source": "function main( {"}));
    assert!(f["config.source"].contains("SyntaxError"), "{f:?}");
    let f = code(json!({"source": "for (;;) {}\nfunction main() {}"}));
    assert!(
        f["config.source"].starts_with("the code's top level ran longer than 1 s"),
        "{f:?}"
    );
    let f = code(json!({"source": "function main() {}", "timeout_ms": 30000}));
    assert!(f.contains_key("config.timeout_ms"), "{f:?}");
    let big = format!("function main() {{}}\n//{}", "x".repeat(70 * 1024));
    assert!(code(json!({ "source": big })).contains_key("config.source"));
    // `main` as a const arrow function is found too; it is never called at save.
    parse(json!({"name": "js", "description": "d", "type": "code",
        "config": {"source": "const main = () => { throw new Error('not at save') };"}}))
    .unwrap();

    let f = fields(
        json!({"name": "hook", "description": "d", "type": "webhook",
        "config": {"url": "https://h.example/x", "secret": "my secret"}}),
    );
    assert!(f.contains_key("config.secret"), "{f:?}");
    let f = fields(json!({"name": "get", "description": "d", "type": "http",
        "config": {"url": "https://h.example/{{order}}"}}));
    assert!(
        f["config.url"].contains("not one of the parameters"),
        "{f:?}"
    );
}
