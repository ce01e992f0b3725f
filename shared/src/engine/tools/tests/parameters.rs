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
