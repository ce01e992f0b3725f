//! The wire document and what a parsed flow tells about its variables.

use serde_json::json;

use super::super::{FlowDoc, VariableOrigin};
use super::{e, n, start, valid};

#[test]
fn variables_explain_where_each_value_comes_from() {
    let graph = valid(
        vec![
            start(),
            n(
                "q",
                "ask",
                json!({"question": "Name, {{contact.first_name}}?", "variable": "caller"}),
            ),
            n(
                "t",
                "tool",
                json!({"tool_id": "crm_lookup", "args": {"id": "{{context.order_id}}"}, "save_as": "order"}),
            ),
            n(
                "kb",
                "knowledge",
                json!({"query_template": "{{order.product}} returns"}),
            ),
            n(
                "bye",
                "end",
                json!({"text": "Bye {{caller}}, {{knowledge}} ({{today}})"}),
            ),
        ],
        vec![
            e("e1", "start", "q"),
            e("e2", "q", "t"),
            e("e3", "t", "kb"),
            e("e4", "kb", "bye"),
        ],
    );
    let described: Vec<String> = graph
        .variables()
        .iter()
        .map(|v| format!("{} <- {} in {:?}", v.name, v.origin, v.used_in))
        .collect();
    assert_eq!(
        described,
        [
            "caller <- set by node 'q' in [\"nodes.bye\"]",
            "contact.first_name <- external: contact in [\"nodes.q\"]",
            "context.order_id <- external: context in [\"nodes.t\"]",
            "knowledge <- set by node 'kb' in [\"nodes.bye\"]",
            "order <- set by node 't' in []",
            "order.product <- set by node 't' in [\"nodes.kb\"]",
            "today <- built-in in [\"nodes.bye\"]",
        ]
    );
    let today = graph.variables().into_iter().find(|v| v.name == "today");
    assert_eq!(today.map(|v| v.origin), Some(VariableOrigin::BuiltIn));
}

#[test]
fn the_wire_document_round_trips_exactly() {
    let sent = json!({
        "name": "Support",
        "description": "Inbound support line",
        "nodes": [
            {"id": "start", "type": "start", "data": {}, "position": {"x": 0, "y": 12.5}},
            {"id": "bye", "type": "end", "data": {"text": "Bye", "color": "#0af", "notes": ["x"]},
             "position": {"x": 100, "y": 0}, "width": 180, "selected": false}
        ],
        "edges": [
            {"id": "e1", "source": "start", "target": "bye", "label": "go", "animated": true}
        ]
    });
    let doc: FlowDoc = serde_json::from_value(sent.clone()).expect("flow doc");
    assert_eq!(serde_json::to_value(&doc).expect("serialize"), sent);
    assert!(doc.graph(&super::tools).is_ok());
}

#[test]
fn a_blank_name_is_reported_with_the_graph_problems() {
    let doc: FlowDoc =
        serde_json::from_value(json!({"name": " ", "nodes": [], "edges": []})).expect("flow doc");
    let fields = doc.graph(&super::tools).expect_err("invalid").fields();
    assert_eq!(fields["name"], "name is required");
    assert_eq!(
        fields["nodes"],
        "flow has no start node: add one where the call begins"
    );
}
