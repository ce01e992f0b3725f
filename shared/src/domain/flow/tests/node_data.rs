//! Per-node `data` checks: every bad field is named on its node, and good data passes.

use serde_json::Value;

use super::{around, invalid, valid};

/// One node's `data` and the message expected on `nodes.x` (a substring of it).
const BAD_DATA: &[(&str, &str, &str)] = &[
    ("say", r#"{}"#, "text is required"),
    ("say", r#"{"text": "  "}"#, "text is required"),
    ("say", r#"{"text": 5}"#, "text must be a string"),
    ("say", r#""hello""#, "data must be an object"),
    (
        "say",
        r#"{"text": "Hi {{first name}}"}"#,
        "malformed placeholder '{{first name}}'",
    ),
    (
        "say",
        r#"{"text": "Hi {{name"}"#,
        "malformed placeholder '{{name'",
    ),
    ("ask", r#"{"variable": "v"}"#, "question is required"),
    ("ask", r#"{"question": "Name?"}"#, "variable is required"),
    (
        "ask",
        r#"{"question": "Name?", "variable": "first name"}"#,
        "variable 'first name' is not a valid variable name",
    ),
    (
        "ask",
        r#"{"question": "Day?", "variable": "today"}"#,
        "variable 'today' is built in",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "validation": "email"}"#,
        "validation 'email' is not one of regex, number, date, yes_no, choice",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "validation": "choice"}"#,
        "options is required for choice validation",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "validation": "choice", "options": []}"#,
        "options must list at least one choice",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "validation": "choice", "options": ["a", "A"]}"#,
        "option 'A' is listed twice",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "validation": "choice", "options": ["a", 3]}"#,
        "options must be non-empty strings",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "validation": "regex"}"#,
        "pattern is required",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "validation": "regex", "pattern": "([0-9]"}"#,
        "pattern is not a valid regex: unclosed group",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "retries": 11}"#,
        "retries must be a whole number from 0 to 10",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "retries": -1}"#,
        "retries must be a whole number from 0 to 10",
    ),
    (
        "ask",
        r#"{"question": "Q?", "variable": "v", "retries": 1.5}"#,
        "retries must be a whole number from 0 to 10",
    ),
    ("llm", r#"{"prompt": "Chat"}"#, "exit_condition is required"),
    ("llm", r#"{"exit_condition": "done"}"#, "prompt is required"),
    ("tool", r#"{}"#, "tool_id is required"),
    (
        "tool",
        r#"{"tool_id": "nope"}"#,
        "tool 'nope' does not exist",
    ),
    (
        "tool",
        r#"{"tool_id": "crm_lookup", "args": [1]}"#,
        "args must be an object",
    ),
    (
        "tool",
        r#"{"tool_id": "crm_lookup", "save_as": "a b"}"#,
        "save_as 'a b' is not a valid variable name",
    ),
    ("knowledge", r#"{}"#, "query_template is required"),
    (
        "knowledge",
        r#"{"query_template": "q", "save_as": "now"}"#,
        "save_as 'now' is built in",
    ),
    ("send_dtmf", r#"{}"#, "digits is required"),
    (
        "send_dtmf",
        r#"{"digits": "12a"}"#,
        "digits '12a' may hold only 0-9, *, # and w",
    ),
    ("transfer", r#"{}"#, "number is required"),
    (
        "transfer",
        r#"{"number": "555-1234"}"#,
        "number '555-1234' is not an E.164 phone number",
    ),
    (
        "transfer",
        r#"{"number": "+0123456789"}"#,
        "is not an E.164 phone number",
    ),
    ("end", r#"{"text": 1}"#, "text must be a string"),
    (
        "sms",
        r#"{"text": "hi"}"#,
        "unknown node type 'sms' (expected one of start, say, ask, llm, condition, tool, knowledge, send_dtmf, transfer, end)",
    ),
    ("", r#"{}"#, "node 'x' has no type"),
];

#[test]
fn every_bad_node_field_is_reported_on_its_node() {
    for (node_type, data, expected) in BAD_DATA {
        let data: Value = serde_json::from_str(data).expect("test data");
        let (nodes, edges) = around(node_type, data.clone());
        let errors = invalid(nodes, edges);
        let messages = errors.messages_for("nodes.x");
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{node_type} {data}: expected '{expected}' on nodes.x, got {:#?}",
            errors.fields()
        );
    }
}

/// Node data that must be accepted.
const GOOD_DATA: &[(&str, &str)] = &[
    (
        "say",
        r#"{"text": "Hi {{contact.first_name}}, calling about {{ context.order_id }} on {{today}} at {{now}} for {{agent.name}} ({{call.id}})"}"#,
    ),
    (
        "ask",
        r#"{"question": "Age?", "variable": "age", "validation": "number", "retries": 0}"#,
    ),
    (
        "ask",
        r#"{"question": "When?", "variable": "when", "validation": "date", "retries": 10}"#,
    ),
    (
        "ask",
        r#"{"question": "OK?", "variable": "ok", "validation": "yes_no"}"#,
    ),
    (
        "ask",
        r#"{"question": "Color?", "variable": "color", "validation": "choice", "options": ["red", "blue"]}"#,
    ),
    (
        "ask",
        r#"{"question": "Zip?", "variable": "zip", "validation": "regex", "pattern": "[0-9]{5}"}"#,
    ),
    (
        "ask",
        r#"{"question": "Email?", "variable": "contact.email", "validation": null, "editor_color": "red"}"#,
    ),
    (
        "llm",
        r#"{"prompt": "Help {{contact.name}}", "exit_condition": "the caller is done"}"#,
    ),
    (
        "tool",
        r#"{"tool_id": "crm_lookup", "args": {"id": "{{context.order_id}}", "limit": 3}, "save_as": "order"}"#,
    ),
    ("tool", r#"{"tool_id": "create_ticket"}"#),
    (
        "knowledge",
        r#"{"query_template": "refund policy for {{context.plan}}"}"#,
    ),
    ("transfer", r#"{"number": "+14155550100"}"#),
    ("transfer", r#"{"number": "{{context.escalation_number}}"}"#),
    ("knowledge", r#"{"query_template": "hours", "save_as": ""}"#),
    (
        "knowledge",
        r#"{"query_template": "hours", "save_as": "hours_info"}"#,
    ),
    ("end", r#"{}"#),
    ("end", r#"{"text": "Goodbye {{contact.name}}"}"#),
];

#[test]
fn well_formed_nodes_of_every_type_are_accepted() {
    for (node_type, data) in GOOD_DATA {
        let data: Value = serde_json::from_str(data).expect("test data");
        let (nodes, edges) = around(node_type, data);
        valid(nodes, edges);
    }
}
