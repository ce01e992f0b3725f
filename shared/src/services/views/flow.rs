//! Flows (SPEC §4) as the API shows them and as it accepts them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::flow::{EdgeDoc, FlowDoc, FlowGraph, FlowProblem, NodeDoc};
use crate::domain::input::{Checks, Field, create_body, overlay};
use crate::error::Error;
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

/// The body of `PATCH`/`PUT /flows/{id}`, and every field a flow body may
/// hold: the fields sent replace the stored ones (`nodes` and `edges`
/// whole). The graph is checked as a whole by the domain
/// ([`crate::domain::flow::FlowGraph::parse`]), so every problem gets its
/// own 422 reason.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct FlowPatch {
    /// Human name (required on create).
    #[schema(value_type = Option<String>, min_length = 1)]
    #[serde(default)]
    pub name: Field<String>,
    /// Free text for people browsing flows.
    #[schema(value_type = Option<String>)]
    #[serde(default)]
    pub description: Field<String>,
    /// The nodes: `{id, type, data, position}`, `type` one of `start`, `say`,
    /// `ask`, `llm`, `condition`, `tool`, `knowledge`, `send_dtmf {digits}`, `transfer`,
    /// `end`; exactly one `start`.
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(default)]
    pub nodes: Field<Vec<NodeDoc>>,
    /// The edges: `{id, source, target, condition}`.
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(default)]
    pub edges: Field<Vec<EdgeDoc>>,
    /// Keys a flow does not have (each one is a 422: a typo must not be
    /// silently lost), apart from [`FLOW_ECHOED`], which a read or a write
    /// returns and a body may send back.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// Keys a flow body may echo back from a read (or a create's answer)
/// without a 422. They are not changed by a body.
pub const FLOW_ECHOED: [&str; 4] = ["id", "created_at", "updated_at", "warnings"];

create_body! {
    /// The body of `POST /flows`: the fields of [`FlowPatch`], with `name` required.
    FlowCreate = FlowPatch requiring ["name"]
}

impl FlowPatch {
    /// This patch laid over the stored document `current` (a create lays
    /// it over nothing).
    pub fn over(self, current: &FlowDoc) -> FlowPatch {
        let stored = FlowPatch {
            name: Field::Value(current.name.clone()),
            description: current.description.clone().into(),
            nodes: Field::Value(current.nodes.clone()),
            edges: Field::Value(current.edges.clone()),
            unknown: BTreeMap::new(),
        };
        overlay!(
            FlowPatch {
                name,
                description,
                nodes,
                edges;
                own unknown
            },
            stored,
            self
        )
    }

    /// The document, as the editor sent it (kept verbatim); every field
    /// of the wrong shape is reported. The graph is checked afterwards.
    pub fn into_doc(self) -> Result<FlowDoc, Error> {
        let mut c = Checks::new();
        c.unknown_except(self.unknown.keys(), &FLOW_ECHOED, "is not a flow field");
        let name = match self.name {
            Field::Value(name) => Some(name),
            Field::Absent | Field::Null => {
                c.error("name", "name is required");
                None
            }
            Field::Invalid(_) => {
                c.error("name", "must be a string");
                None
            }
        };
        let description = match self.description {
            Field::Invalid(_) => {
                c.error("description", "must be a string");
                None
            }
            Field::Value(d) => Some(d),
            Field::Absent | Field::Null => None,
        };
        let nodes = c.opt_json("nodes", self.nodes).unwrap_or_default();
        let edges = c.opt_json("edges", self.edges).unwrap_or_default();
        c.finish()?;
        Ok(FlowDoc {
            name: name.unwrap_or_default(),
            description,
            nodes,
            edges,
        })
    }
}
