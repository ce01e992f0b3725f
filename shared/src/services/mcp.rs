//! MCP servers (SPEC §6): registration, assignment to agents, and what the
//! connector needs (the server with its headers opened; a place to store the
//! tools it discovered).

use serde_json::Value;

use super::assignments::{self, Assignable};
use super::caller::Caller;
use super::page::{PageOf, PageRequest};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource};
use super::table_keys::*;
use super::views::{AssignmentView, DeletedView, McpServerView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::mcp::{ConnectableMcpServer, McpServer, McpServerInput, McpServerSpec};
use crate::error::{Error, Result};
use crate::store::{Condition, Item};

/// Resource kind in sort keys.
pub const KIND: &str = "MCPSERVER";

fn item(tenant: &Tenant, server: &McpServer) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &server.id),
        serde_json::to_value(server).unwrap_or_default(),
    )
}

/// Reads an MCP server of the tenant (headers sealed); anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(McpServer, u64)> {
    load_resource(app, tenant, KIND, "MCP server", id).await
}

/// An MCP server with its headers in clear, for the connector and the tool
/// runner. Never put this in a response.
pub async fn load_for_execution(
    app: &App,
    tenant: &Tenant,
    id: &str,
) -> Result<ConnectableMcpServer> {
    load(app, tenant, id).await?.0.open(&app.cipher)
}

async fn assigned(app: &App, tenant: &Tenant, agent_id: &str) -> Result<Vec<McpServer>> {
    assignments::assigned(app, tenant, Assignable::McpServer, agent_id).await
}

/// The MCP servers assigned to an agent, headers in clear: whose tools a
/// call offers the LLM.
pub async fn agent_mcp_servers(
    app: &App,
    tenant: &Tenant,
    agent_id: &str,
) -> Result<Vec<ConnectableMcpServer>> {
    assigned(app, tenant, agent_id)
        .await?
        .into_iter()
        .map(|s| s.open(&app.cipher))
        .collect()
}

/// Saves the tools `tools/list` returned on the server item (replacing the
/// previous list) and returns the server as the API shows it.
pub async fn store_discovered_tools(
    app: &App,
    tenant: &Tenant,
    server_id: &str,
    tools: Vec<Value>,
) -> Result<McpServerView> {
    let (mut server, version) = load(app, tenant, server_id).await?;
    let now = app.now_rfc3339();
    server.tools = tools;
    server.tools_discovered_at = Some(now.clone());
    server.updated_at = now;
    app.table
        .put(item(tenant, &server), Condition::VersionEquals(version))
        .await?;
    Ok(McpServerView::from(&server))
}

/// `GET /tools/mcp/servers` — newest first.
pub async fn list(app: &App, caller: &Caller, req: &PageRequest) -> Result<PageOf<McpServerView>> {
    let view = |s: McpServer| McpServerView::from(&s);
    list_counted(app, &caller.tenant, KIND, None, req, view).await
}

/// `POST /tools/mcp/servers {name, url, headers?}` (admin). Connecting (and
/// discovering tools) is a separate step.
pub async fn create(app: &App, caller: &Caller, body: McpServerInput) -> Result<McpServerView> {
    caller.require_admin()?;
    let spec = McpServerSpec::parse(body)?;
    let server = spec.into_server(app.new_id(), &app.cipher, app.now_rfc3339());
    let tenant = &caller.tenant;
    insert_counted(app, tenant, KIND, item(tenant, &server), vec![]).await?;
    Ok(McpServerView::from(&server))
}

/// `GET /tools/mcp/servers/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<McpServerView> {
    Ok(McpServerView::from(&load(app, &caller.tenant, id).await?.0))
}

/// `DELETE /tools/mcp/servers/{id}` (admin): the server and its assignments.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (server, version) = load(app, tenant, id).await?;
    delete_counted(app, tenant, KIND, &server.id, version, vec![]).await?;
    assignments::remove_all(app, tenant, Assignable::McpServer, &server.id).await?;
    Ok(DeletedView::of(id))
}

/// `POST /tools/agent/{agent_id}/mcp/{server_id}` (admin).
pub async fn assign(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    server_id: &str,
) -> Result<AssignmentView> {
    caller.require_admin()?;
    super::agents::load(app, &caller.tenant, agent_id).await?;
    load(app, &caller.tenant, server_id).await?;
    let what = Assignable::McpServer;
    assignments::assign(app, &caller.tenant, what, agent_id, server_id).await
}

/// `DELETE /tools/agent/{agent_id}/mcp/{server_id}` (admin).
pub async fn unassign(
    app: &App,
    caller: &Caller,
    agent_id: &str,
    server_id: &str,
) -> Result<AssignmentView> {
    caller.require_admin()?;
    super::agents::load(app, &caller.tenant, agent_id).await?;
    let what = Assignable::McpServer;
    assignments::unassign(app, &caller.tenant, what, agent_id, server_id).await
}

/// `GET /tools/agent/{agent_id}/mcp`: the MCP servers assigned to the agent,
/// headers masked.
pub async fn list_for_agent(
    app: &App,
    caller: &Caller,
    agent_id: &str,
) -> Result<Vec<McpServerView>> {
    super::agents::load(app, &caller.tenant, agent_id).await?;
    Ok(assigned(app, &caller.tenant, agent_id)
        .await?
        .iter()
        .map(McpServerView::from)
        .collect())
}

/// `POST /tools/mcp/servers/{id}/connect` (admin): runs `initialize` and
/// `tools/list` against the server (streamable HTTP, through the guarded
/// client), stores the discovered tools on the server and returns it. An
/// unreachable or non-MCP server is a clear 503; a refused address a 422.
pub async fn connect(app: &App, caller: &Caller, id: &str) -> Result<McpServerView> {
    caller.require_admin()?;
    let server = load_for_execution(app, &caller.tenant, id).await?;
    let tools =
        crate::engine::tools::mcp::connect(app.guarded_client(), &server.url, &server.headers)
            .await
            .map_err(Error::from)?;
    let tools = tools
        .into_iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
        .collect();
    store_discovered_tools(app, &caller.tenant, id, tools).await
}
