//! AI agents (SPEC §3).

use serde_json::{Map, Value, json};

use super::caller::Caller;
use super::page::{PageOf, PageRequest, page};
use super::repository::load_resource;
use super::table_keys::*;
use super::views::AgentView;
use crate::App;
use crate::domain::Tenant;
use crate::domain::agent::{Agent, AgentSpec};
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, Write};

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
    let query = Query::partition(caller.tenant.pk())
        .prefix(resource_prefix(KIND))
        .backward();
    let keep = |i: &Item| {
        enabled.is_none_or(|e| i.data.get("enabled").and_then(Value::as_bool) == Some(e))
    };
    let mut out = page(app.table.as_ref(), query, req, keep).await?;
    if enabled.is_none() {
        // Kept in step with creates and deletes, so the total costs one read.
        out.total = Some(
            app.table
                .counter(&caller.tenant.pk(), &count_sk(KIND))
                .await?
                .max(0) as u64,
        );
    }
    let mut agents = Vec::with_capacity(out.items.len());
    for i in &out.items {
        agents.push(AgentView::from(i.parse::<Agent>()?));
    }
    Ok(PageOf {
        items: agents,
        next_cursor: out.next_cursor,
        total: out.total,
        limit: out.limit,
        offset: out.offset,
    })
}

/// Creates an agent in a tenant (also used to seed test mode).
pub async fn insert(app: &App, tenant: &Tenant, body: &Map<String, Value>) -> Result<Agent> {
    let spec = AgentSpec::parse(body)?;
    check_references(app, tenant, &spec).await?;
    let now = app.now_rfc3339();
    let agent = spec.into_agent(app.new_id(), now.clone(), now);
    app.table
        .transact(vec![
            Write::Put(item(tenant, &agent), Condition::MustNotExist),
            Write::Add {
                pk: tenant.pk(),
                sk: count_sk(KIND),
                delta: 1,
            },
        ])
        .await?;
    Ok(agent)
}

/// `POST /agents` (admin).
pub async fn create(app: &App, caller: &Caller, body: &Map<String, Value>) -> Result<AgentView> {
    caller.require_admin()?;
    Ok(insert(app, &caller.tenant, body).await?.into())
}

/// `GET /agents/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<AgentView> {
    Ok(load(app, &caller.tenant, id).await?.0.into())
}

/// `PATCH /agents/{id}` (admin): only the fields sent change; the result is
/// validated as a whole.
pub async fn update(
    app: &App,
    caller: &Caller,
    id: &str,
    patch: &Map<String, Value>,
) -> Result<AgentView> {
    caller.require_admin()?;
    let (current, version) = load(app, &caller.tenant, id).await?;
    let spec = AgentSpec::parse(&current.merged_with(patch))?;
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
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<Value> {
    caller.require_admin()?;
    let (agent, version) = load(app, &caller.tenant, id).await?;
    if let Some(reason) = in_use(app, &caller.tenant, id).await? {
        return Err(Error::Conflict(format!(
            "the agent cannot be deleted while {reason}"
        )));
    }
    app.table
        .transact(vec![
            Write::Delete {
                pk: caller.tenant.pk(),
                sk: resource_sk(KIND, &agent.id),
                condition: Condition::VersionEquals(version),
            },
            Write::Add {
                pk: caller.tenant.pk(),
                sk: count_sk(KIND),
                delta: -1,
            },
        ])
        .await?;
    super::assignments::forget_agent(app, &caller.tenant, id).await?;
    Ok(json!({"deleted": true, "id": id}))
}
