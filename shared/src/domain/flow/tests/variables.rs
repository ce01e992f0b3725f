//! Variables no node sets: contact fields and task `context_data` are known only when a call
//! runs (SPEC §4), so they are accepted, and reported as warnings in case of a typo.

use serde_json::json;

use super::{around, condition, e, ec, end, n, start, valid};
use crate::domain::flow::VariableOrigin;

#[test]
fn a_variable_only_the_call_supplies_is_accepted_with_a_warning() {
    let (nodes, edges) = around("say", json!({"text": "Hi {{name}}"}));
    let graph = valid(nodes, edges);
    let warnings = graph.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].path, "nodes.x");
    assert!(
        warnings[0]
            .message
            .starts_with("variable 'name' is not set by any node: the call must supply it"),
        "{}",
        warnings[0].message
    );
    let name = graph
        .variables()
        .into_iter()
        .find(|v| v.name == "name")
        .expect("the variable is listed");
    assert_eq!(name.origin, VariableOrigin::Call);
    assert_eq!(name.used_in, vec!["nodes.x".to_string()]);
}

#[test]
fn context_and_contact_paths_need_no_warning() {
    let (nodes, edges) = around(
        "say",
        json!({"text": "Hi {{contact.name}}, about {{context.order_id}} on {{today}}"}),
    );
    assert!(valid(nodes, edges).warnings().is_empty());
}

#[test]
fn unset_variables_in_tool_args_transfer_numbers_and_conditions_are_warnings() {
    let nodes = vec![
        start(),
        n(
            "t",
            "tool",
            json!({"tool_id": "crm_lookup", "args": {"q": {"deep": "{{missing}}"}}}),
        ),
        condition("c"),
        n("boss", "transfer", json!({"number": "{{supervisor}}"})),
        end("z"),
    ];
    let edges = vec![
        e("e1", "start", "t"),
        e("e2", "t", "c"),
        ec(
            "e3",
            "c",
            "boss",
            json!({"variable": "vip", "op": "eq", "value": true}),
        ),
        ec("e4", "c", "z", json!("default")),
    ];
    let graph = valid(nodes, edges);
    let at: Vec<(&str, &str)> = graph
        .warnings()
        .iter()
        .map(|w| (w.path.as_str(), w.message.split(':').next().unwrap_or("")))
        .collect();
    assert_eq!(
        at,
        vec![
            ("nodes.t", "variable 'missing' is not set by any node"),
            ("nodes.boss", "variable 'supervisor' is not set by any node"),
            ("edges.e3", "variable 'vip' is not set by any node"),
        ]
    );
}

#[test]
fn a_variable_set_by_a_node_needs_no_warning() {
    let nodes = vec![
        start(),
        n(
            "a",
            "ask",
            json!({"question": "Name?", "variable": "caller"}),
        ),
        n("s", "say", json!({"text": "Thanks {{caller}}"})),
        end("z"),
    ];
    let edges = vec![e("e1", "start", "a"), e("e2", "a", "s"), e("e3", "s", "z")];
    assert!(valid(nodes, edges).warnings().is_empty());
}
