//! Which tools, MCP servers and knowledge documents an agent may use. Each assignment is one item
//! in the tenant partition, `AGENTTOOL#<agent>#<tool>` or
//! `AGENTMCP#<agent>#<server>` or `AGENTKB#<agent>#<doc>`, so an agent's set is one query; its GSI1
//! entry (`<tenant>#TOOLREF#<tool>` / `<tenant>#MCPREF#<server>`) lists the
//! agents of one tool, so deleting the tool removes its assignments.

use serde_json::{Value, json};

use super::repository::{load_resource, query_all};
use super::table_keys::*;
use super::views::AssignmentView;
use crate::App;
use crate::domain::Tenant;
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query};

/// What can be assigned to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignable {
    /// A custom tool.
    Tool,
    /// An MCP server.
    McpServer,
    /// A knowledge document.
    Document,
}

impl Assignable {
    fn sk(self, agent_id: &str, id: &str) -> String {
        match self {
            Self::Tool => agent_tool_sk(agent_id, id),
            Self::McpServer => agent_mcp_sk(agent_id, id),
            Self::Document => format!("AGENTKB#{agent_id}#{id}"),
        }
    }

    fn prefix(self, agent_id: &str) -> String {
        match self {
            Self::Tool => agent_tools_prefix(agent_id),
            Self::McpServer => agent_mcp_prefix(agent_id),
            Self::Document => format!("AGENTKB#{agent_id}#"),
        }
    }

    fn refs(self, tenant: &Tenant, id: &str) -> String {
        match self {
            Self::Tool => assignment_refs(tenant, "TOOL", id),
            Self::McpServer => assignment_refs(tenant, "MCP", id),
            Self::Document => assignment_refs(tenant, "KB", id),
        }
    }

    /// The resource kind in sort keys.
    fn kind(self) -> &'static str {
        match self {
            Self::Tool => super::tools::KIND,
            Self::McpServer => super::mcp::KIND,
            Self::Document => super::knowledge::KIND,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Tool => "tool assignment",
            Self::McpServer => "MCP server assignment",
            Self::Document => "document assignment",
        }
    }
}

/// Records that `agent_id` may use `id` (both already checked to exist).
/// Assigning twice is harmless.
pub async fn assign(
    app: &App,
    tenant: &Tenant,
    what: Assignable,
    agent_id: &str,
    id: &str,
) -> Result<AssignmentView> {
    let assigned_at = app.now_rfc3339();
    let item = Item::new(
        tenant.pk(),
        what.sk(agent_id, id),
        json!({"agent_id": agent_id, "id": id, "assigned_at": assigned_at}),
    )
    .with_gsi1(
        what.refs(tenant, id),
        resource_sk(super::agents::KIND, agent_id),
    );
    app.table.put(item, Condition::None).await?;
    Ok(AssignmentView::of(agent_id, id, true))
}

/// Removes an assignment; 404 when there was none.
pub async fn unassign(
    app: &App,
    tenant: &Tenant,
    what: Assignable,
    agent_id: &str,
    id: &str,
) -> Result<AssignmentView> {
    let gone = app
        .table
        .delete(&tenant.pk(), &what.sk(agent_id, id), Condition::None)
        .await?;
    if gone.is_none() {
        return Err(Error::NotFound(what.noun()));
    }
    Ok(AssignmentView::of(agent_id, id, false))
}

/// The ids assigned to an agent, in id (creation) order.
pub async fn assigned_ids(
    app: &App,
    tenant: &Tenant,
    what: Assignable,
    agent_id: &str,
) -> Result<Vec<String>> {
    let query = Query::partition(tenant.pk()).prefix(what.prefix(agent_id));
    Ok(query_all(app.table.as_ref(), query)
        .await?
        .iter()
        .filter_map(|item| item.data.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect())
}

/// The resources assigned to an agent, in id (creation) order. One deleted
/// between the two reads is no longer the agent's and is left out.
pub async fn assigned<T: serde::de::DeserializeOwned>(
    app: &App,
    tenant: &Tenant,
    what: Assignable,
    agent_id: &str,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for id in assigned_ids(app, tenant, what, agent_id).await? {
        match load_resource(app, tenant, what.kind(), what.noun(), &id).await {
            Ok((resource, _)) => out.push(resource),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Removes every assignment of `id` (when it is deleted).
pub async fn remove_all(app: &App, tenant: &Tenant, what: Assignable, id: &str) -> Result<()> {
    let query = Query::partition(what.refs(tenant, id)).on(Index::Gsi1);
    for item in query_all(app.table.as_ref(), query).await? {
        app.table
            .delete(&item.pk, &item.sk, Condition::None)
            .await?;
    }
    Ok(())
}

/// Removes an agent's tool, MCP server and document assignments (when it is deleted).
pub async fn forget_agent(app: &App, tenant: &Tenant, agent_id: &str) -> Result<()> {
    for what in [
        Assignable::Tool,
        Assignable::McpServer,
        Assignable::Document,
    ] {
        for id in assigned_ids(app, tenant, what, agent_id).await? {
            app.table
                .delete(&tenant.pk(), &what.sk(agent_id, &id), Condition::None)
                .await?;
        }
    }
    Ok(())
}
