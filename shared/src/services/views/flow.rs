//! Flows (SPEC §4) as the API shows them and as it accepts them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::flow::{EdgeDoc, FlowGraph, FlowProblem, NodeDoc};
use crate::services::flows::Flow;

/// A flow as `GET /flows/{id}` returns it (create and update add `warnings`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlowView {
    /// UUIDv7.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Free text for people browsing flows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Nodes in editor order, as saved (`{id, type, data, position, …}`).
    #[schema(value_type = Vec<Object>)]
    pub nodes: Vec<NodeDoc>,
    /// Edges in editor order, as saved (`{id, source, target, condition, …}`).
    #[schema(value_type = Vec<Object>)]
    pub edges: Vec<EdgeDoc>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// On create and update only: what the checker accepted but the author
    /// may not mean, such as a variable no node sets (empty when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<FlowWarning>>,
}

/// A warning about an accepted flow, addressed as the editor addresses things.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlowWarning {
    /// `nodes.<id>`, `edges.<id>`, `nodes`, `edges` or `name`.
    pub path: String,
    /// Sentence for a person, naming the node or edge involved.
    pub message: String,
}

impl From<&FlowProblem> for FlowWarning {
    fn from(p: &FlowProblem) -> Self {
        Self {
            path: p.path.clone(),
            message: p.message.clone(),
        }
    }
}

impl FlowView {
    /// The whole flow, without `warnings` (GET).
    pub fn of(flow: Flow) -> Self {
        Self {
            id: flow.id,
            name: flow.doc.name,
            description: flow.doc.description,
            nodes: flow.doc.nodes,
            edges: flow.doc.edges,
            created_at: flow.created_at,
            updated_at: flow.updated_at,
            warnings: None,
        }
    }

    /// The create/update answer: the flow with the checked graph's warnings.
    pub fn with_warnings(flow: Flow, graph: &FlowGraph) -> Self {
        Self {
            warnings: Some(graph.warnings().iter().map(FlowWarning::from).collect()),
            ..Self::of(flow)
        }
    }
}

/// A flow in `GET /flows`: without the graph (GET one for it).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FlowSummaryView {
    /// UUIDv7.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Free text for people browsing flows.
    pub description: Option<String>,
    /// How many nodes the graph has.
    pub node_count: usize,
    /// How many edges the graph has.
    pub edge_count: usize,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<Flow> for FlowSummaryView {
    fn from(f: Flow) -> Self {
        Self {
            id: f.id,
            name: f.doc.name,
            description: f.doc.description,
            node_count: f.doc.nodes.len(),
            edge_count: f.doc.edges.len(),
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// The body of `POST /flows` (and, every field optional, of `PATCH`/`PUT
/// /flows/{id}`, where `nodes` and `edges` replace the stored ones whole).
/// Documentation only: the domain's parser reads the body and checks the
/// graph as a whole, so every problem gets its own 422 reason.
#[derive(Debug, ToSchema)]
pub struct FlowInput {
    /// Human name (required on create).
    #[schema(min_length = 1)]
    pub name: String,
    /// Free text for people browsing flows.
    #[schema(required = false)]
    pub description: String,
    /// The nodes: `{id, type, data, position}`, `type` one of `start`, `say`,
    /// `ask`, `llm`, `condition`, `tool`, `knowledge`, `send_dtmf {digits}`, `transfer`,
    /// `end`; exactly one `start`.
    #[schema(required = false, value_type = Vec<Object>)]
    pub nodes: serde_json::Value,
    /// The edges: `{id, source, target, condition}`.
    #[schema(required = false, value_type = Vec<Object>)]
    pub edges: serde_json::Value,
}
