//! AI agents (SPEC §3).

use serde_json::Value;

use super::caller::Caller;
use super::page::{PageOf, PageRequest};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource};
use super::table_keys::*;
use super::views::{AgentView, DeletedView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::agent::{Agent, AgentCreate, AgentPatch, AgentSpec};
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query};

/// Resource kind in sort keys.
pub const KIND: &str = "AGENT";

/// The index partition where every resource that references an agent (tasks,
/// campaigns, calls) keeps a `<KIND>#<status>#<id>` entry, so "is this agent
/// in use" is a few key lookups rather than a scan.
pub fn agent_refs(tenant: &Tenant, agent_id: &str) -> String {
    format!("{}#AGENTREF#{agent_id}", tenant.pk())
}

/// States of referencing resources that keep an agent from being deleted.
const BLOCKING: [(&str, &str); 5] = [
    ("TASK#pending#", "it has pending tasks"),
    ("TASK#in_progress#", "it has tasks in progress"),
    ("CAMPAIGN#running#", "it has running campaigns"),
    ("CALL#initiated#", "it has live calls"),
    ("CALL#in_progress#", "it has live calls"),
];

fn item(tenant: &Tenant, agent: &Agent) -> Item {
    let item = Item::new(
        tenant.pk(),
        resource_sk(KIND, &agent.id),
        serde_json::to_value(agent).unwrap_or_default(),
    );
    // While the agent follows a flow it is listed under that flow, so the
    // flow cannot be deleted from under it (`flows::delete`).
    match &agent.flow_id {
        Some(flow_id) => item.with_gsi1(
            super::flows::flow_refs(tenant, flow_id),
            resource_sk(KIND, &agent.id),
        ),
        None => item,
    }
}

/// Reads an agent of the caller's tenant; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Agent, u64)> {
    load_resource(app, tenant, KIND, "agent", id).await
}

async fn check_references(app: &App, tenant: &Tenant, spec: &AgentSpec) -> Result<()> {
    if let Some(flow_id) = spec.flow_id()
        && app
            .table
            .get(&tenant.pk(), &resource_sk("FLOW", flow_id))
            .await?
            .is_none()
    {
        return Err(Error::field("flow_id", "no flow with this id exists"));
    }
    Ok(())
}

/// `GET /agents?enabled=&limit=&offset=&cursor=` — newest first.
pub async fn list(
    app: &App,
    caller: &Caller,
    enabled: Option<bool>,
    req: &PageRequest,
) -> Result<PageOf<AgentView>> {
    let only = enabled.map(|e| ("enabled", Value::Bool(e)));
    list_counted::<Agent, _>(app, &caller.tenant, KIND, only, req, AgentView::from).await
}

/// Creates an agent in a tenant (also used to seed test mode).
pub async fn insert(app: &App, tenant: &Tenant, body: AgentCreate) -> Result<Agent> {
    let spec = AgentSpec::parse(body.0)?;
    check_references(app, tenant, &spec).await?;
    let now = app.now_rfc3339();
    let agent = spec.into_agent(app.new_id(), now.clone(), now);
    insert_counted(app, tenant, KIND, item(tenant, &agent), vec![]).await?;
    Ok(agent)
}

/// `POST /agents` (admin).
pub async fn create(app: &App, caller: &Caller, body: AgentCreate) -> Result<AgentView> {
    caller.require_admin()?;
    Ok(insert(app, &caller.tenant, body).await?.into())
}

/// `GET /agents/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<AgentView> {
    Ok(load(app, &caller.tenant, id).await?.0.into())
}

/// `PATCH /agents/{id}` (admin): only the fields sent change; the result is
/// validated as a whole.
pub async fn update(app: &App, caller: &Caller, id: &str, patch: AgentPatch) -> Result<AgentView> {
    caller.require_admin()?;
    let (current, version) = load(app, &caller.tenant, id).await?;
    let spec = AgentSpec::parse(current.patched(patch))?;
    check_references(app, &caller.tenant, &spec).await?;
    let updated = spec.into_agent(
        current.id.clone(),
        current.created_at.clone(),
        app.now_rfc3339(),
    );
    app.table
        .put(
            item(&caller.tenant, &updated),
            Condition::VersionEquals(version),
        )
        .await?;
    Ok(updated.into())
}

/// Why an agent cannot be deleted now, if it cannot.
pub async fn in_use(app: &App, tenant: &Tenant, agent_id: &str) -> Result<Option<&'static str>> {
    for (prefix, reason) in BLOCKING {
        let q = Query::partition(agent_refs(tenant, agent_id))
            .on(Index::Gsi2)
            .prefix(prefix)
            .limit(1);
        if !app.table.query(q).await?.items.is_empty() {
            return Ok(Some(reason));
        }
    }
    Ok(None)
}

/// `DELETE /agents/{id}` (admin): 409 while tasks, campaigns or calls use it.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let (agent, version) = load(app, &caller.tenant, id).await?;
    if let Some(reason) = in_use(app, &caller.tenant, id).await? {
        return Err(Error::Conflict(format!(
            "the agent cannot be deleted while {reason}"
        )));
    }
    delete_counted(app, &caller.tenant, KIND, &agent.id, version, vec![]).await?;
    super::assignments::forget_agent(app, &caller.tenant, id).await?;
    Ok(DeletedView::of(id))
}
