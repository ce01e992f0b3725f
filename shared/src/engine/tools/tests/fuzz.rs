//! Property tests over tool bodies a client can send: random shapes for the save-time
//! parser (domain and executor rules together) and random `parameters` schemas never
//! panic and are checked in bounded time.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::domain::tool::ToolSpec;
use crate::engine::tools::{ToolDefinition, ToolParameters};

const KEYS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "minimum",
    "maxLength",
    "pattern",
    "additionalProperties",
    "$ref",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "format",
    "const",
    "method",
    "url",
    "headers",
    "query",
    "body",
    "timeout_ms",
    "secret",
    "value",
    "source",
    "language",
    "Authorization",
    "X-Api-Key",
    "city",
];
const WORDS: &[&str] = &[
    "object",
    "string",
    "integer",
    "array",
    "boolean",
    "null",
    "GET",
    "post",
    "https://api.example/{{city}}",
    "http://[::1]/",
    "ftp://x",
    "{{",
    "}}",
    "{{city}}",
    "whsec_MDEyMzQ1Njc4OWFiY2RlZg==",
    "••••1234",
    "#/definitions/x",
    "^[a-z]+$",
    "(",
    "javascript",
    "function main(input) { return input }",
    "",
    "é",
    "city",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 0..4).prop_map(|w| w.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                Value::Object(
                    kv.into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// A tool body: known types with random `parameters` and `config`.
fn tool_body() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(&["http", "webhook", "code", "sql"][..]),
        prop::option::of(json_value()),
        json_value(),
    )
        .prop_map(|(kind, parameters, config)| {
            let mut body = json!({"name": "t", "description": "d", "type": kind, "config": config});
            if let Some(p) = parameters {
                body["parameters"] = p;
            }
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn tool_bodies_are_parsed_without_panicking(body in tool_body()) {
        let started = Instant::now();
        if let Ok(input) = crate::domain::input::from_json(body.clone()) {
            let _ = ToolSpec::parse(input, &BTreeSet::new());
        }
        let _ = ToolDefinition::parse(&body);
        prop_assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn random_schemas_compile_or_are_refused_without_panicking(
        schema in json_value(),
        args in json_value(),
    ) {
        let mut object = json!({"type": "object"});
        if let Value::Object(map) = &schema {
            for (k, v) in map {
                if k != "type" {
                    object[k] = v.clone();
                }
            }
        }
        for candidate in [schema, object] {
            if let Ok(parameters) = ToolParameters::parse(&candidate) {
                let _ = parameters.validate(&args);
            }
        }
    }
}
