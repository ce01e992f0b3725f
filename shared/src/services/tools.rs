//! Custom tools (SPEC §6): CRUD, unique names, assignment to agents, and
//! loading a tool with its secrets for the executors.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::assignments::{self, Assignable};
use super::caller::Caller;
use super::page::{PageOf, PageRequest};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource};
use super::table_keys::*;
use super::views::{AssignmentView, DeletedView, ToolTestInput, ToolTestView, ToolView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::input::{Checks, Field};
use crate::domain::tool::{ExecutableTool, Tool, ToolCreate, ToolPatch, ToolSpec};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, StoreError, Write};

/// Resource kind in sort keys (flows check `TOOL#<id>` for tool nodes).
pub const KIND: &str = "TOOL";

fn item(tenant: &Tenant, tool: &Tool) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &tool.id),
        serde_json::to_value(tool).unwrap_or_default(),
    )
}

fn name_claim(tenant: &Tenant, tool: &Tool) -> Item {
    Item::new(
        tenant.pk(),
        tool_name_sk(&tool.name),
        json!({"tool_id": tool.id}),
    )
}

fn name_taken(name: &str) -> Error {
    Error::Conflict(format!("a tool named '{name}' already exists"))
}

/// Reads a tool of the tenant (secrets sealed); anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Tool, u64)> {
    load_resource(app, tenant, KIND, "tool", id).await
}

/// A tool with its secrets in clear, for the executors (`POST /tools/{id}/test`,
/// calls). Never put this in a response.
pub async fn load_for_execution(app: &App, tenant: &Tenant, id: &str) -> Result<ExecutableTool> {
    load(app, tenant, id).await?.0.open(&app.cipher)
}

async fn assigned(app: &App, tenant: &Tenant, agent_id: &str) -> Result<Vec<Tool>> {
    assignments::assigned(app, tenant, Assignable::Tool, agent_id).await
}

/// The enabled tools assigned to an agent, secrets in clear: what a call
/// offers the LLM and runs.
pub async fn agent_tools(
    app: &App,
    tenant: &Tenant,
    agent_id: &str,
) -> Result<Vec<ExecutableTool>> {
    assigned(app, tenant, agent_id)
        .await?
        .into_iter()
        .filter(|t| t.enabled)
        .map(|t| t.open(&app.cipher))
        .collect()
}

/// `GET /tools?enabled=&limit=&offset=&cursor=` — newest first.
pub async fn list(
    app: &App,
    caller: &Caller,
    enabled: Option<bool>,
    req: &PageRequest,
) -> Result<PageOf<ToolView>> {
    let only = enabled.map(|e| ("enabled", Value::Bool(e)));
    list_counted(app, &caller.tenant, KIND, only, req, |t: Tool| {
        ToolView::from(&t)
    })
    .await
}

/// Parses a tool body on a blocking thread: the check runs the code tool's definitions
/// in the sandbox (bounded to a second), which must not hold an async worker.
async fn parse_spec(body: ToolPatch, keep: BTreeSet<String>) -> Result<ToolSpec> {
    tokio::task::spawn_blocking(move || ToolSpec::parse(body, &keep))
        .await
        .map_err(|e| Error::Internal(format!("the tool check failed: {e}")))?
}

/// Creates a tool in a tenant (also used to seed test mode). The name is
/// claimed in the same transaction, so two tools can never share it.
pub async fn insert(app: &App, tenant: &Tenant, body: ToolCreate) -> Result<Tool> {
    let spec = parse_spec(body.0, BTreeSet::new()).await?;
    let now = app.now_rfc3339();
    let tool = spec.into_tool(app.new_id(), None, &app.cipher, now.clone(), now)?;
    let claim = Write::Put(name_claim(tenant, &tool), Condition::MustNotExist);
    let result = insert_counted(app, tenant, KIND, item(tenant, &tool), vec![claim]).await;
    match result {
        Ok(()) => Ok(tool),
        // The id is fresh, so the name claim is what failed.
        Err(StoreError::ConditionFailed) => Err(name_taken(&tool.name)),
        Err(e) => Err(e.into()),
    }
}

/// `POST /tools` (admin).
pub async fn create(app: &App, caller: &Caller, body: ToolCreate) -> Result<ToolView> {
    caller.require_admin()?;
    Ok(ToolView::from(&insert(app, &caller.tenant, body).await?))
}

/// `GET /tools/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<ToolView> {
    Ok(ToolView::from(&load(app, &caller.tenant, id).await?.0))
}

/// `PATCH /tools/{id}` (admin): top-level fields sent replace the stored ones
/// (`config` whole, but secrets not resent are kept); a rename moves the
/// name claim in the same transaction.
pub async fn update(app: &App, caller: &Caller, id: &str, patch: ToolPatch) -> Result<ToolView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (current, version) = load(app, tenant, id).await?;
    let spec = parse_spec(current.patched(patch), current.secret_names()).await?;
    let updated = spec.into_tool(
        current.id.clone(),
        Some(&current),
        &app.cipher,
        current.created_at.clone(),
        app.now_rfc3339(),
    )?;
    let mut writes = vec![Write::Put(
        item(tenant, &updated),
        Condition::VersionEquals(version),
    )];
    let renamed = updated.name != current.name;
    if renamed {
        writes.push(Write::Delete {
            pk: tenant.pk(),
            sk: tool_name_sk(&current.name),
            condition: Condition::None,
        });
        writes.push(Write::Put(
            name_claim(tenant, &updated),
            Condition::MustNotExist,
        ));
    }
    match app.table.transact(writes).await {
        Ok(()) => Ok(ToolView::from(&updated)),
        Err(StoreError::ConditionFailed)
            if renamed
                && app
                    .table
                    .get(&tenant.pk(), &tool_name_sk(&updated.name))
                    .await?
                    .is_some() =>
        {
            Err(name_taken(&updated.name))
        }
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /tools/{id}` (admin): the tool, its name claim and its
/// assignments to agents.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (tool, version) = load(app, tenant, id).await?;
    let claim = Write::Delete {
        pk: tenant.pk(),
        sk: tool_name_sk(&tool.name),
        condition: Condition::None,
    };
    delete_counted(app, tenant, KIND, &tool.id, version, vec![claim]).await?;
    assignments::remove_all(app, tenant, Assignable::Tool, &tool.id).await?;
    Ok(DeletedView::of(id))
}

/// `POST /tools/agent/{agent_id}/assign/{tool_id}` (admin).
pub async fn assign(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    tool_id: &str,
) -> Result<AssignmentView> {
    caller.require_admin()?;
    super::agents::load(app, &caller.tenant, agent_id).await?;
    load(app, &caller.tenant, tool_id).await?;
    assignments::assign(app, &caller.tenant, Assignable::Tool, agent_id, tool_id).await
}

/// `DELETE /tools/agent/{agent_id}/assign/{tool_id}` (admin).
pub async fn unassign(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    tool_id: &str,
) -> Result<AssignmentView> {
    caller.require_admin()?;
    super::agents::load(app, &caller.tenant, agent_id).await?;
    assignments::unassign(app, &caller.tenant, Assignable::Tool, agent_id, tool_id).await
}

/// `GET /tools/agent/{agent_id}`: every tool assigned to the agent (enabled
/// or not), secrets masked.
pub async fn list_for_agent(app: &App, caller: &Caller, agent_id: &str) -> Result<Vec<ToolView>> {
    super::agents::load(app, &caller.tenant, agent_id).await?;
    Ok(assigned(app, &caller.tenant, agent_id)
        .await?
        .iter()
        .map(ToolView::from)
        .collect())
}

/// A small code tool for the test-mode sandbox.
pub fn demo_document() -> Value {
    json!({
        "name": "check_opening_hours",
        "description": "Tells whether the practice is open on a given weekday.",
        "type": "code",
        "parameters": {
            "type": "object",
            "properties": {"weekday": {"type": "string", "description": "Day of the week, e.g. Monday"}},
            "required": ["weekday"]
        },
        "config": {
            "language": "javascript",
            "source": "function main(input) {\n  const open = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'];\n  const day = String(input.weekday || '').toLowerCase();\n  return open.includes(day) ? { open: true, hours: '08:00-17:00' } : { open: false };\n}",
            "timeout_ms": 1000
        }
    })
}

/// The saved tool as the executors take it (mapped, not parsed again: it was checked
/// against the executor's rules when it was saved).
fn definition(tool: &ExecutableTool) -> Result<crate::engine::tools::ToolDefinition> {
    crate::engine::tools::ToolDefinition::from_saved(tool).map_err(|fields| {
        Error::Validation(
            fields
                .into_iter()
                .map(|(k, v)| (k, format!("the saved tool cannot run: {v}")))
                .collect(),
        )
    })
}

/// `POST /tools/{id}/test {input}` (admin): runs the tool for real and
/// reports `{output, status, duration_ms, error, logs}`. Arguments that do not
/// match `parameters` are a 422 naming each bad one (`input.<name>`); a tool
/// that fails is a report with `error` set.
pub async fn test(
    app: &App,
    caller: &Caller,
    id: &str,
    body: ToolTestInput,
) -> Result<ToolTestView> {
    caller.require_admin()?;
    let tool = load_for_execution(app, &caller.tenant, id).await?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a field of a tool test");
    let input = match body.input {
        Field::Absent | Field::Null => Map::new(),
        Field::Value(m) => m,
        Field::Invalid(_) => {
            f.error("input", "must be an object of arguments");
            Map::new()
        }
    };
    f.finish()?;
    let input = Value::Object(input);
    let def = definition(&tool)?;
    let report = crate::engine::tools::test_tool(&def, input, app.guarded_client())
        .await
        .map_err(Error::from)?;
    Ok(report.into())
}
