//! Flows (SPEC §4): the graph an agent follows, validated as a whole on every write.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::caller::Caller;
use super::page::{PageOf, PageRequest};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource};
use super::table_keys::*;
use super::views::{DeletedView, FlowCreate, FlowPatch, FlowSummaryView, FlowView};
use crate::App;
use crate::domain::flow::{EdgeDoc, FlowDoc, FlowGraph, NodeDoc};
use crate::domain::{Tenant, is_id};
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query};

/// Resource kind in sort keys.
pub const KIND: &str = "FLOW";

/// The index partition where agents using a flow are listed (an agent's GSI1
/// entry while its `flow_id` is set), so DELETE can refuse a flow in use.
pub fn flow_refs(tenant: &Tenant, flow_id: &str) -> String {
    format!("{}#FLOWREF#{flow_id}", tenant.pk())
}

/// A stored flow: the client's document plus identity and times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// UUIDv7.
    pub id: String,
    /// The graph as the client sent it.
    #[serde(flatten)]
    pub doc: FlowDoc,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

fn item(tenant: &Tenant, flow: &Flow) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &flow.id),
        serde_json::to_value(flow).unwrap_or_default(),
    )
}

/// Reads a flow of the tenant; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Flow, u64)> {
    load_resource(app, tenant, KIND, "flow", id).await
}

/// Checks a flow document as a whole: its size, then the graph. Tool nodes
/// must name tools of this tenant; those are looked up first because the
/// graph check itself is pure.
pub async fn check_document(
    app: &App,
    tenant: &Tenant,
    doc: FlowDoc,
) -> Result<(FlowDoc, FlowGraph)> {
    // Size first: the lookups below are one store read per distinct tool id.
    doc.check_limits()
        .map_err(|e| Error::Validation(e.fields()))?;
    let named: HashSet<&str> = doc
        .nodes
        .iter()
        .filter(|n| n.node_type == "tool")
        .filter_map(|n| n.data.get("tool_id").and_then(Value::as_str))
        .filter(|id| is_id(id))
        .collect();
    let mut known_tools = HashSet::new();
    for tool_id in named {
        if app
            .table
            .get(&tenant.pk(), &resource_sk("TOOL", tool_id))
            .await?
            .is_some()
        {
            known_tools.insert(tool_id.to_owned());
        }
    }
    let exists = |id: &str| known_tools.contains(id);
    let graph = doc
        .graph(&exists)
        .map_err(|e| Error::Validation(e.fields()))?;
    Ok((doc, graph))
}

/// `GET /flows` — newest first, without the graphs (GET one for those).
pub async fn list(
    app: &App,
    caller: &Caller,
    req: &PageRequest,
) -> Result<PageOf<FlowSummaryView>> {
    list_counted::<Flow, _>(app, &caller.tenant, KIND, None, req, FlowSummaryView::from).await
}

/// Creates a flow in a tenant (also used to seed test mode).
pub async fn insert(app: &App, tenant: &Tenant, body: FlowCreate) -> Result<Flow> {
    Ok(insert_checked(app, tenant, body).await?.0)
}

/// [`insert`], with the checked graph for its warnings.
async fn insert_checked(app: &App, tenant: &Tenant, body: FlowCreate) -> Result<(Flow, FlowGraph)> {
    let (doc, graph) = check_document(app, tenant, body.0.into_doc()?).await?;
    let now = app.now_rfc3339();
    let flow = Flow {
        id: app.new_id(),
        doc,
        created_at: now.clone(),
        updated_at: now,
    };
    insert_counted(app, tenant, KIND, item(tenant, &flow), vec![]).await?;
    Ok((flow, graph))
}

/// `POST /flows` (admin): the flow, with `warnings`.
pub async fn create(app: &App, caller: &Caller, body: FlowCreate) -> Result<FlowView> {
    caller.require_admin()?;
    let (flow, graph) = insert_checked(app, &caller.tenant, body).await?;
    Ok(FlowView::with_warnings(flow, &graph))
}

/// `GET /flows/{id}`: the whole graph.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<FlowView> {
    Ok(FlowView::of(load(app, &caller.tenant, id).await?.0))
}

/// `PATCH /flows/{id}` (admin): top-level fields sent replace the stored ones
/// (`nodes` and `edges` are replaced whole); the result is validated whole and comes back
/// with `warnings`.
pub async fn update(app: &App, caller: &Caller, id: &str, patch: FlowPatch) -> Result<FlowView> {
    caller.require_admin()?;
    let (current, version) = load(app, &caller.tenant, id).await?;
    let doc = patch.over(&current.doc).into_doc()?;
    let (doc, graph) = check_document(app, &caller.tenant, doc).await?;
    let flow = Flow {
        id: current.id,
        doc,
        created_at: current.created_at,
        updated_at: app.now_rfc3339(),
    };
    app.table
        .put(
            item(&caller.tenant, &flow),
            Condition::VersionEquals(version),
        )
        .await?;
    Ok(FlowView::with_warnings(flow, &graph))
}

/// `DELETE /flows/{id}` (admin): 409 while an agent uses it.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let (flow, version) = load(app, &caller.tenant, id).await?;
    let users = app
        .table
        .query(
            Query::partition(flow_refs(&caller.tenant, id))
                .on(Index::Gsi1)
                .limit(1),
        )
        .await?;
    if let Some(agent) = users.items.first() {
        let name = agent
            .data
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("an agent");
        return Err(Error::Conflict(format!(
            "the flow is used by agent '{name}'; point the agent elsewhere first"
        )));
    }
    delete_counted(app, &caller.tenant, KIND, &flow.id, version, vec![]).await?;
    Ok(DeletedView::of(id))
}

/// A small complete flow for the test-mode sandbox.
pub fn demo_document() -> Value {
    let node = |id: &str, kind: &str, data: Value| {
        serde_json::to_value(NodeDoc {
            id: id.into(),
            node_type: kind.into(),
            data,
            position: None,
            extra: Map::new(),
        })
        .unwrap_or_default()
    };
    let edge = |id: &str, s: &str, t: &str, c: Option<Value>| {
        serde_json::to_value(EdgeDoc {
            id: id.into(),
            source: s.into(),
            target: t.into(),
            condition: c,
            extra: Map::new(),
        })
        .unwrap_or_default()
    };
    json!({
        "name": "Demo appointment booking",
        "description": "Greets the caller, asks for their name, and books or answers questions.",
        "nodes": [
            node("start", "start", json!({})),
            node("greet", "say", json!({"text": "Hello! Thanks for calling Harbor Lane Dental."})),
            node("name", "ask", json!({"question": "May I have your name?", "variable": "caller_name"})),
            node("intent", "ask", json!({"question": "Would you like to book an appointment, {{caller_name}}?", "variable": "wants_booking", "validation": "yes_no"})),
            node("route", "condition", json!({})),
            node("book", "say", json!({"text": "Great, {{caller_name}}. Our team will call you back to confirm a time."})),
            node("faq", "llm", json!({"prompt": "Answer the caller's questions about the practice.", "exit_condition": "The caller has no more questions."})),
            node("bye", "end", json!({"text": "Thank you for calling. Goodbye!"})),
        ],
        "edges": [
            edge("e1", "start", "greet", None),
            edge("e2", "greet", "name", None),
            edge("e3", "name", "intent", None),
            edge("e4", "intent", "route", None),
            edge("e5", "route", "book", Some(json!({"variable": "wants_booking", "op": "eq", "value": true}))),
            edge("e6", "route", "faq", Some(json!("default"))),
            edge("e7", "book", "bye", None),
            edge("e8", "faq", "bye", None),
        ],
    })
}
