//! Conversation flows: the graph an AI phone agent follows during a call.
//!
//! A flow travels through three shapes, and each exists for a different reader:
//!
//! 1. **Wire** ([`FlowDoc`], [`NodeDoc`], [`EdgeDoc`]): exactly what the editor sent, so a
//!    GET returns the same document (positions, editor-only keys and unknown `data` keys
//!    included) even though the server only understands part of it.
//! 2. **Parsed** ([`FlowGraph`]): built only by [`FlowGraph::parse`], which checks the whole
//!    graph and reports *every* problem at once ([`FlowErrors`]) so the editor can mark all
//!    bad nodes and edges in one round trip. A `FlowGraph` is therefore trusted: the
//!    conversation engine never re-checks edges, defaults or regexes mid-call.
//! 3. **Walking** ([`FlowGraph::next`]): a pure step function, so the engine owns all I/O
//!    (speech, LLM, tools, clock) and every routing decision is unit-testable.
//!
//! The module is self-contained (it only refers to its own children through `super::`) so it
//! can live anywhere in a crate.

mod answer;
pub(crate) use answer::is_number_word;
mod date;
mod fields;
mod limits;
mod model;
mod parse;
mod template;
mod walk;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use answer::{InvalidAnswer, check as check_answer};
pub use limits::{
    MAX_DATA_DEPTH, MAX_DESCRIPTION_CHARS, MAX_EDGES, MAX_ID_CHARS, MAX_NAME_CHARS, MAX_NODES,
    MAX_TEXT_CHARS, MAX_TOTAL_TEXT_BYTES,
};
pub use model::{
    Ask, Comparison, Edge, EdgeCondition, Node, NodeKind, NodeType, Op, Pattern, Validation,
    VariableOrigin, VariableSource,
};
pub use template::{
    Variables, render, render_value, render_with, template_variables, whole_placeholder,
};
pub use walk::{Step, TurnInput, WalkError};

/// A flow as the client stores it; kept verbatim so editors get back what they saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowDoc {
    /// Human name; required because lists and agent settings show flows by name.
    pub name: String,
    /// Free text for people browsing flows; the engine never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Nodes in editor order; order matters only for error messages.
    #[serde(default)]
    pub nodes: Vec<NodeDoc>,
    /// Edges in editor order; order decides which condition edge wins when several match.
    #[serde(default)]
    pub edges: Vec<EdgeDoc>,
}

impl FlowDoc {
    /// Checks the name as well as the graph, so an HTTP handler needs a single call to get
    /// every field error of a create/update body.
    pub fn graph(&self, ctx: &dyn FlowContext) -> Result<FlowGraph, FlowErrors> {
        self.check_limits()?;
        let graph = FlowGraph::parse(&self.nodes, &self.edges, ctx);
        if !self.name.trim().is_empty() {
            return graph;
        }
        let mut errors = graph.err().unwrap_or_default();
        errors.insert_first("name", "name is required");
        Err(errors)
    }

    /// Checks only the size of the document (counts, text lengths, nesting; see
    /// [`MAX_NODES`] and its siblings) in one linear pass, so a caller can refuse a huge
    /// flow before doing any per-node work of its own (such as looking tools up).
    pub fn check_limits(&self) -> Result<(), FlowErrors> {
        let mut errors = limits::check(&self.nodes, &self.edges)
            .err()
            .unwrap_or_default();
        limits::check_text(&mut errors, &self.name, self.description.as_deref());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One node as sent by the editor.
///
/// `type` stays a string and `data` stays raw JSON so that an unknown type or a bad field
/// becomes a named 422 problem instead of an anonymous deserialisation error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDoc {
    /// Editor-chosen id; edges and error paths (`nodes.<id>`) refer to it.
    #[serde(default)]
    pub id: String,
    /// Node type name (`start`, `say`, `ask`, ...), checked by [`FlowGraph::parse`].
    #[serde(rename = "type", default)]
    pub node_type: String,
    /// Type-specific settings; unknown keys are kept for the editor's own use.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// Canvas position, kept as raw JSON so numbers round-trip exactly (`100` stays `100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Value>,
    /// Any other editor keys (`width`, `selected`, ...), returned untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One edge as sent by the editor; see [`EdgeCondition`] for the accepted `condition` shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeDoc {
    /// Editor-chosen id; error paths (`edges.<id>`) refer to it.
    #[serde(default)]
    pub id: String,
    /// Id of the node the edge leaves.
    #[serde(default)]
    pub source: String,
    /// Id of the node the edge enters.
    #[serde(default)]
    pub target: String,
    /// Raw condition, parsed by [`FlowGraph::parse`] so a malformed one is reported per edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    /// Any other editor keys (`label`, `sourceHandle`, ...), returned untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What the flow checker needs to know about the rest of the organisation.
///
/// It is a trait rather than a list so the caller can answer from whatever it has at hand
/// (a store lookup, a cached set, a test closure) without this module knowing.
pub trait FlowContext {
    /// Whether a tool node may refer to this tool id (it exists in the flow's organisation).
    fn tool_exists(&self, tool_id: &str) -> bool;
}

/// Lets tests and simple callers pass a closure such as `&|id: &str| id == "crm"`.
impl<F: Fn(&str) -> bool> FlowContext for F {
    fn tool_exists(&self, tool_id: &str) -> bool {
        self(tool_id)
    }
}

/// One problem found in a flow, addressed the way the editor addresses things.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowProblem {
    /// `nodes.<id>`, `edges.<id>`, `nodes`, `edges` or `name`: stable keys the editor can map
    /// back to a node or edge.
    pub path: String,
    /// Sentence for a person, naming the node or edge involved.
    pub message: String,
}

/// Every problem of a rejected flow, so one 422 can mark them all. Also the list of
/// warnings of an accepted one ([`FlowGraph::warnings`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct FlowErrors {
    problems: Vec<FlowProblem>,
    /// `(path, message)` already reported, so deduplication stays linear.
    seen: HashSet<(String, String)>,
}

impl FlowErrors {
    /// Problems in the order they were found (nodes, then edges, then whole-graph checks).
    pub fn problems(&self) -> &[FlowProblem] {
        &self.problems
    }

    /// Number of problems, for logs and tests.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// True when nothing was reported; a returned `FlowErrors` is never empty.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The 422 `details.fields` map: one entry per path, several messages joined with "; ".
    pub fn fields(&self) -> BTreeMap<String, String> {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        for p in &self.problems {
            fields
                .entry(p.path.clone())
                .and_modify(|m| {
                    m.push_str("; ");
                    m.push_str(&p.message);
                })
                .or_insert_with(|| p.message.clone());
        }
        fields
    }

    /// Messages reported for one path, so callers and tests need not parse the joined text.
    pub fn messages_for(&self, path: &str) -> Vec<&str> {
        self.problems
            .iter()
            .filter(|p| p.path == path)
            .map(|p| p.message.as_str())
            .collect()
    }

    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let (path, message) = (path.into(), message.into());
        if self.seen.insert((path.clone(), message.clone())) {
            self.problems.push(FlowProblem { path, message });
        }
    }

    fn insert_first(&mut self, path: &str, message: &str) {
        self.seen.insert((path.to_string(), message.to_string()));
        let problem = FlowProblem {
            path: path.to_string(),
            message: message.to_string(),
        };
        self.problems.insert(0, problem);
    }

    fn summary(&self) -> String {
        let list: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        format!(
            "invalid flow ({} problems): {}",
            list.len(),
            list.join("; ")
        )
    }
}

/// A checked flow, ready to be walked. Only [`FlowGraph::parse`] builds one, so holding a
/// `FlowGraph` proves the graph has one start, no dangling or ambiguous edges and no dead ends.
#[derive(Debug, Clone)]
pub struct FlowGraph {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    start: usize,
    edges: Vec<Edge>,
    routes: Vec<model::Route>,
    variables: Vec<VariableSource>,
    warnings: FlowErrors,
}

impl FlowGraph {
    /// Checks nodes and edges together and either returns a trusted graph or every problem.
    pub fn parse(
        nodes: &[NodeDoc],
        edges: &[EdgeDoc],
        ctx: &dyn FlowContext,
    ) -> Result<FlowGraph, FlowErrors> {
        limits::check(nodes, edges)?;
        parse::parse(nodes, edges, ctx)
    }

    /// What is allowed but probably not meant, addressed like errors: variables that no
    /// node sets (they must come from the call: contact fields, task `context_data`), and
    /// parts of the flow from which only the caller or an llm node can end the call.
    pub fn warnings(&self) -> &[FlowProblem] {
        self.warnings.problems()
    }

    /// Where every call begins.
    pub fn start(&self) -> &Node {
        // `parse` only builds a graph once it has found the start node's index.
        &self.nodes[self.start]
    }

    /// Looks a node up by id, e.g. to run the node the last [`Step::Goto`] named.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.index.get(id).and_then(|&i| self.nodes.get(i))
    }

    /// All nodes in editor order, for previews and analytics.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// All edges in editor order, with parsed conditions.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Edges leaving a node in editor order (the order condition nodes try them in).
    pub fn outgoing<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.source == id)
    }

    /// Where each variable the flow reads or writes comes from, sorted by name, so the editor
    /// can show "set by node ask_name" or "external: context" next to a placeholder.
    pub fn variables(&self) -> Vec<VariableSource> {
        self.variables.clone()
    }
}

impl fmt::Display for FlowGraph {
    /// A one-line summary for logs; the graph itself is too big to print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "flow ({} nodes, {} edges, starts at '{}')",
            self.nodes.len(),
            self.edges.len(),
            self.start().id
        )
    }
}
