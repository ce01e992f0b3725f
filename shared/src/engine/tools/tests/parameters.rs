use serde_json::json;

use crate::engine::tools::ToolParameters;

fn weather() -> ToolParameters {
    ToolParameters::parse(&json!({
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1},
            "days": {"type": "integer", "minimum": 1, "maximum": 14},
            "units": {"enum": ["metric", "imperial"]},
            "address": {
                "type": "object",
                "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                "required": ["zip"]
            },
            "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["city"],
        "additionalProperties": false
    }))
    .unwrap()
}

#[test]
fn valid_arguments_pass() {
    let p = weather();
    p.validate(&json!({"city": "Paris"})).unwrap();
    p.validate(&json!({"city": "Paris", "days": 3, "units": "metric", "address": {"zip": "75001"}, "tags": ["a"]}))
        .unwrap();
    assert_eq!(p.property_names().len(), 5);
}

#[test]
fn each_problem_is_keyed_by_its_argument_path() {
    let errors = weather()
        .validate(&json!({
            "days": "three",
            "units": "kelvin",
            "address": {"zip": "abc"},
            "tags": ["ok", 7],
            "extra": true
        }))
        .unwrap_err();
    assert_eq!(errors["input.city"], "is required");
    assert_eq!(errors["input.days"], "must be of type integer");
    assert!(
        errors["input.units"].starts_with("must be one of"),
        "{errors:?}"
    );
    assert!(errors.contains_key("input.address.zip"), "{errors:?}");
    assert_eq!(errors["input.tags.1"], "must be of type string");
    assert_eq!(errors["input.extra"], "is not an argument of this tool");

    let nested = weather()
        .validate(&json!({"city": "x", "address": {}}))
        .unwrap_err();
    assert_eq!(nested["input.address.zip"], "is required");

    let range = weather()
        .validate(&json!({"city": "x", "days": 30}))
        .unwrap_err();
    assert!(range.contains_key("input.days"));
}

#[test]
fn null_arguments_count_as_an_empty_object() {
    ToolParameters::none()
        .validate(&serde_json::Value::Null)
        .unwrap();
    let errors = weather().validate(&serde_json::Value::Null).unwrap_err();
    assert_eq!(errors["input.city"], "is required");
}

#[test]
fn invalid_schemas_name_what_is_wrong() {
    let cases = [
        (json!("string"), "parameters"),
        (json!({"properties": {}}), "parameters.type"),
        (json!({"type": "array"}), "parameters.type"),
        (
            json!({"type": "object", "properties": []}),
            "parameters.properties",
        ),
        (
            json!({"type": "object", "properties": {"city": {"type": "strin"}}}),
            "parameters.properties.city.type",
        ),
        (
            json!({"type": "object", "properties": {"n": {"minimum": "one"}}}),
            "parameters.properties.n.minimum",
        ),
    ];
    for (schema, key) in cases {
        let errors = ToolParameters::parse(&schema).unwrap_err();
        assert!(errors.contains_key(key), "{schema}: {errors:?}");
    }
}

#[test]
fn remote_references_are_not_fetched() {
    let result = ToolParameters::parse(&json!({
        "type": "object",
        "properties": {"x": {"$ref": "http://169.254.169.254/schema.json"}}
    }));
    assert!(result.is_err());
}

#[test]
fn parameters_serialize_as_the_schema() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "number"}}});
    let p = ToolParameters::parse(&schema).unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap(), schema);
    let back: ToolParameters = serde_json::from_value(schema).unwrap();
    assert_eq!(back, p);
}

/// `{"type":"object","properties":{"a":{...}}}` nested `depth` levels, built without
/// recursion.
fn deep_schema(depth: usize) -> serde_json::Value {
    // Built by moving values into maps: `json!` would serialize (recurse into) `schema`.
    let object = |properties: Option<serde_json::Value>| {
        let mut map = serde_json::Map::new();
        map.insert("type".into(), json!("object"));
        if let Some(p) = properties {
            let mut props = serde_json::Map::new();
            props.insert("a".into(), p);
            map.insert("properties".into(), serde_json::Value::Object(props));
        }
        serde_json::Value::Object(map)
    };
    let mut schema = object(None);
    for _ in 1..depth {
        schema = object(Some(schema));
    }
    schema
}

/// Runs `f` on a thread with a 256 KiB stack: a recursion whose depth the schema controls
/// would overflow it (and abort the test binary), a bounded walk does not.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no panic or overflow")
}

#[test]
fn deeply_nested_schemas_are_refused_before_the_compiler_sees_them() {
    let message = on_small_stack(|| {
        let schema = deep_schema(100_000);
        let result = ToolParameters::parse(&schema).map(|_| ());
        // Dropping the value recurses in serde_json; only parsing is under test here.
        std::mem::forget(schema);
        result.unwrap_err()
    });
    assert_eq!(
        message.get("parameters").map(String::as_str),
        Some("is nested too deeply (at most 32 levels)")
    );
}

#[test]
fn schemas_within_the_depth_limit_still_compile() {
    // 15 object levels: 30 JSON levels with `properties` in between.
    ToolParameters::parse(&deep_schema(15)).unwrap();
}

#[test]
fn schemas_with_too_many_values_are_refused() {
    let properties: serde_json::Map<String, serde_json::Value> =
        (0..5_000).map(|i| (format!("p{i}"), json!(true))).collect();
    let err =
        ToolParameters::parse(&json!({"type": "object", "properties": properties})).unwrap_err();
    assert!(
        err["parameters"].starts_with("has too many values"),
        "{err:?}"
    );
}
