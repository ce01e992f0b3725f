//! How big a flow may be. Checked before anything else reads the graph, so the cost of
//! refusing a hostile flow is one linear pass, and every later check (templates, regexes,
//! graph walks, the tool lookups of the service) works on bounded input.

use serde_json::Value;

use super::{EdgeDoc, FlowErrors, NodeDoc};
use crate::domain::shape::JsonShape;

/// Most nodes in a flow; real call scripts use tens.
pub const MAX_NODES: usize = 1_000;
/// Most edges in a flow (condition nodes fan out, so a few per node).
pub const MAX_EDGES: usize = 3_000;
/// Longest text in one field (a prompt, a question, a template, an option), in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest node or edge id, node type, or edge end, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest flow name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest flow description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;
/// Deepest nesting inside a node's `data`, an edge's `condition` or editor keys.
pub const MAX_DATA_DEPTH: usize = 16;
/// Most text (strings and keys) in all nodes and edges together, in bytes.
pub const MAX_TOTAL_TEXT_BYTES: usize = 1024 * 1024;

/// Error key of an element whose id is usable in a key; long or empty ids use the list.
fn key(list: &str, id: &str) -> String {
    if id.trim().is_empty() || id.chars().count() > MAX_ID_CHARS {
        list.to_string()
    } else {
        format!("{list}.{id}")
    }
}

/// Adds up the shapes of one element's JSON parts and reports what breaks a limit.
struct Meter<'a> {
    errors: &'a mut FlowErrors,
    total_text: usize,
}

impl Meter<'_> {
    fn name(&mut self, at: &str, what: &str, value: &str) {
        self.total_text += value.len();
        if value.len() > MAX_ID_CHARS && value.chars().count() > MAX_ID_CHARS {
            self.errors.push(
                at,
                format!("{what} is longer than {MAX_ID_CHARS} characters"),
            );
        }
    }

    fn json(&mut self, at: &str, what: &str, value: &Value) {
        let shape = JsonShape::measure(value, MAX_DATA_DEPTH);
        self.total_text += shape.text_bytes;
        if shape.depth > MAX_DATA_DEPTH {
            self.errors.push(
                at,
                format!("{what} is nested too deeply (at most {MAX_DATA_DEPTH} levels)"),
            );
        } else if shape.longest_string > MAX_TEXT_CHARS {
            self.errors.push(
                at,
                format!(
                    "{what} holds a text of {} characters; at most {MAX_TEXT_CHARS} per field",
                    shape.longest_string
                ),
            );
        }
    }
}

/// Checks the size of every part of a flow; on failure only size problems are reported,
/// since reading further is what the limits protect.
pub(super) fn check(nodes: &[NodeDoc], edges: &[EdgeDoc]) -> Result<(), FlowErrors> {
    let mut errors = FlowErrors::default();
    if nodes.len() > MAX_NODES {
        errors.push(
            "nodes",
            format!(
                "a flow has at most {MAX_NODES} nodes; this one has {}",
                nodes.len()
            ),
        );
    }
    if edges.len() > MAX_EDGES {
        errors.push(
            "edges",
            format!(
                "a flow has at most {MAX_EDGES} edges; this one has {}",
                edges.len()
            ),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut meter = Meter {
        errors: &mut errors,
        total_text: 0,
    };
    for (i, node) in nodes.iter().enumerate() {
        let at = key("nodes", &node.id);
        meter.name(&at, &format!("the id of node #{}", i + 1), &node.id);
        meter.name(&at, "the node type", &node.node_type);
        meter.json(&at, "data", &node.data);
        if let Some(position) = &node.position {
            meter.json(&at, "position", position);
        }
        for (k, v) in &node.extra {
            meter.name(&at, "an editor key", k);
            meter.json(&at, k, v);
        }
    }
    for (j, edge) in edges.iter().enumerate() {
        let at = key("edges", &edge.id);
        meter.name(&at, &format!("the id of edge #{}", j + 1), &edge.id);
        meter.name(&at, "the source", &edge.source);
        meter.name(&at, "the target", &edge.target);
        if let Some(condition) = &edge.condition {
            meter.json(&at, "condition", condition);
        }
        for (k, v) in &edge.extra {
            meter.name(&at, "an editor key", k);
            meter.json(&at, k, v);
        }
    }
    if meter.total_text > MAX_TOTAL_TEXT_BYTES {
        let total = meter.total_text;
        errors.push(
            "nodes",
            format!(
                "the flow holds {total} bytes of text; at most {MAX_TOTAL_TEXT_BYTES} in all nodes and edges"
            ),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Checks the flow's own name and description.
pub(super) fn check_text(errors: &mut FlowErrors, name: &str, description: Option<&str>) {
    if name.chars().count() > MAX_NAME_CHARS {
        errors.push(
            "name",
            format!("name is longer than {MAX_NAME_CHARS} characters"),
        );
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        errors.push(
            "description",
            format!("description is longer than {MAX_DESCRIPTION_CHARS} characters"),
        );
    }
}
