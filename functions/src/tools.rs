//! Tool and MCP server routes (SPEC §6): CRUD and assignment to agents.
//! Running a tool (`/tools/{id}/test`) and connecting to an MCP server
//! (`/tools/mcp/servers/{id}/connect`) belong to the executors.

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::views::{
    AssignmentView, DeletedView, McpServerInput, McpServerView, ToolCreate, ToolPatch,
    ToolTestInput, ToolTestView, ToolView,
};
use switchboard::services::{mcp, tools};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{
    Created, EnabledFilter, IdempotencyKey, Item, List, ModeParam, PageParams, Reaching,
};
use crate::http::resource::resource_routes;
use crate::http::{ApiResult, Auth, Json, Params, created, list, list_slice, ok, protected};

type S = State<Arc<App>>;

/// The tools group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        resource_router()
            .routes(routes!(test_tool))
            .routes(routes!(agent_tools))
            .routes(routes!(assign_tool, unassign_tool))
            .routes(routes!(agent_servers))
            .routes(routes!(assign_server, unassign_server))
            .routes(routes!(list_servers, create_server))
            .routes(routes!(get_server, delete_server))
            .routes(routes!(connect_server)),
    )
}

resource_routes! {
    service: tools, tag: "tools",
    collection: "/tools", item: "/tools/{id}",
    view: ToolView, input: ToolCreate, patch: ToolPatch, body: typed,
    list: list_tools(PageParams, EnabledFilter, ModeParam) -> ToolView
        "List the tools."
        |app, caller, params, page| tools::list(&app, &caller, params.bool("enabled")?, &page),
    create: create_tool "Create a tool (HTTP, webhook or code).",
    get: get_tool "Get a tool (secrets masked).",
    update: update_tool(patch, put) "Update a tool: the fields sent are changed, the others kept.",
    delete: delete_tool "Delete a tool.",
}

/// The tools assigned to an agent.
#[utoipa::path(get, path = "/tools/agent/{agent_id}", tag = "tools",
    params(("agent_id" = String, Path), ModeParam, PageParams), responses(List<ToolView>))]
async fn agent_tools(
    State(app): S,
    Auth(caller): Auth,
    Path(agent_id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = params.page()?;
    list_slice(
        tools::list_for_agent(&app, &caller, &agent_id).await?,
        &page,
    )
}

/// Assign a tool to an agent.
#[utoipa::path(post, path = "/tools/agent/{agent_id}/assign/{tool_id}", tag = "tools",
    params(("agent_id" = String, Path), ("tool_id" = String, Path), ModeParam, IdempotencyKey),
    responses(Item<AssignmentView>))]
async fn assign_tool(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, tool_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(tools::assign(&app, &caller, &agent_id, &tool_id).await?))
}

/// Unassign a tool from an agent.
#[utoipa::path(delete, path = "/tools/agent/{agent_id}/assign/{tool_id}", tag = "tools",
    params(("agent_id" = String, Path), ("tool_id" = String, Path), ModeParam),
    responses(Item<AssignmentView>))]
async fn unassign_tool(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, tool_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(
        tools::unassign(&app, &caller, &agent_id, &tool_id).await?
    ))
}

/// The MCP servers assigned to an agent.
#[utoipa::path(get, path = "/tools/agent/{agent_id}/mcp", tag = "tools",
    params(("agent_id" = String, Path), ModeParam, PageParams), responses(List<McpServerView>))]
async fn agent_servers(
    State(app): S,
    Auth(caller): Auth,
    Path(agent_id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = params.page()?;
    list_slice(mcp::list_for_agent(&app, &caller, &agent_id).await?, &page)
}

/// Assign an MCP server to an agent.
#[utoipa::path(post, path = "/tools/agent/{agent_id}/mcp/{server_id}", tag = "tools",
    params(("agent_id" = String, Path), ("server_id" = String, Path), ModeParam, IdempotencyKey),
    responses(Item<AssignmentView>))]
async fn assign_server(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, server_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(mcp::assign(&app, &caller, &agent_id, &server_id).await?))
}

/// Unassign an MCP server from an agent.
#[utoipa::path(delete, path = "/tools/agent/{agent_id}/mcp/{server_id}", tag = "tools",
    params(("agent_id" = String, Path), ("server_id" = String, Path), ModeParam),
    responses(Item<AssignmentView>))]
async fn unassign_server(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, server_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(
        mcp::unassign(&app, &caller, &agent_id, &server_id).await?
    ))
}

/// List the MCP servers.
#[utoipa::path(
    get,
    path = "/tools/mcp/servers",
    tag = "tools",
    params(PageParams, ModeParam),
    responses(List<McpServerView>)
)]
async fn list_servers(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    Ok(list(mcp::list(&app, &caller, &params.page()?).await?))
}

/// Register an MCP server.
#[utoipa::path(post, path = "/tools/mcp/servers", tag = "tools",
    params(ModeParam, IdempotencyKey),
    request_body = McpServerInput, responses(Created<McpServerView>))]
async fn create_server(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<McpServerInput>,
) -> ApiResult {
    Ok(created(mcp::create(&app, &caller, body).await?))
}

/// Get an MCP server.
#[utoipa::path(get, path = "/tools/mcp/servers/{id}", tag = "tools",
    params(("id" = String, Path), ModeParam), responses(Item<McpServerView>))]
async fn get_server(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(mcp::get(&app, &caller, &id).await?))
}

/// Delete an MCP server.
#[utoipa::path(delete, path = "/tools/mcp/servers/{id}", tag = "tools",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_server(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(mcp::delete(&app, &caller, &id).await?))
}

/// Run a tool once with the given arguments.
#[utoipa::path(post, path = "/tools/{id}/test", tag = "tools",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = ToolTestInput, responses(Item<ToolTestView>))]
async fn test_tool(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<ToolTestInput>,
) -> ApiResult {
    Ok(ok(tools::test(&app, &caller, &id, body).await?))
}

/// Connect to an MCP server and list its tools.
#[utoipa::path(post, path = "/tools/mcp/servers/{id}/connect", tag = "tools",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Reaching<McpServerView>))]
async fn connect_server(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(mcp::connect(&app, &caller, &id).await?))
}
