//! Tests for the flow module. Flows are written as JSON, the way the editor sends them.

mod answers;
mod document;
mod fuzz;
mod graph;
mod hostile;
mod node_data;
mod template;
mod variables;
mod walk;

use serde_json::{Value, json};

use super::{EdgeDoc, FlowErrors, FlowGraph, NodeDoc};

/// Tools that exist in the test organisation.
fn tools(id: &str) -> bool {
    ["crm_lookup", "create_ticket"].contains(&id)
}

/// A node as the editor sends it.
fn n(id: &str, node_type: &str, data: Value) -> Value {
    json!({"id": id, "type": node_type, "data": data})
}

/// A plain edge.
fn e(id: &str, source: &str, target: &str) -> Value {
    json!({"id": id, "source": source, "target": target})
}

/// An edge with a condition.
fn ec(id: &str, source: &str, target: &str, condition: Value) -> Value {
    json!({"id": id, "source": source, "target": target, "condition": condition})
}

/// Parses nodes and edges given as JSON.
fn flow(nodes: Vec<Value>, edges: Vec<Value>) -> Result<FlowGraph, FlowErrors> {
    let nodes: Vec<NodeDoc> = serde_json::from_value(Value::Array(nodes)).expect("test nodes");
    let edges: Vec<EdgeDoc> = serde_json::from_value(Value::Array(edges)).expect("test edges");
    FlowGraph::parse(&nodes, &edges, &tools)
}

/// Parses a flow that must be valid, showing every problem if it is not.
fn valid(nodes: Vec<Value>, edges: Vec<Value>) -> FlowGraph {
    match flow(nodes, edges) {
        Ok(graph) => graph,
        Err(errors) => panic!("expected a valid flow, got {:#?}", errors.fields()),
    }
}

/// Parses a flow that must be invalid.
fn invalid(nodes: Vec<Value>, edges: Vec<Value>) -> FlowErrors {
    match flow(nodes, edges) {
        Ok(graph) => panic!("expected problems, got a valid {graph}"),
        Err(errors) => errors,
    }
}

/// The smallest flow that puts one node of interest in context: start → node → end, or
/// start → node when the node itself ends the call.
fn around(node_type: &str, data: Value) -> (Vec<Value>, Vec<Value>) {
    let mut nodes = vec![n("start", "start", json!({})), n("x", node_type, data)];
    let mut edges = vec![e("e1", "start", "x")];
    if !["end", "transfer"].contains(&node_type) {
        nodes.push(n("end", "end", json!({})));
        edges.push(e("e2", "x", "end"));
    }
    (nodes, edges)
}

/// A say node with fixed text.
fn say(id: &str) -> Value {
    n(id, "say", json!({"text": "hello"}))
}

/// A start node without `data`, which is allowed.
fn start() -> Value {
    json!({"id": "start", "type": "start"})
}

/// An end node without text.
fn end(id: &str) -> Value {
    n(id, "end", json!({}))
}

/// An ask node storing a number in `age`.
fn ask(id: &str) -> Value {
    n(
        id,
        "ask",
        json!({"question": "Age?", "variable": "age", "validation": "number"}),
    )
}

/// A condition node (its data is empty).
fn condition(id: &str) -> Value {
    n(id, "condition", json!({}))
}
