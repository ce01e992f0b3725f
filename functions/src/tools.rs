//! Tool and MCP server routes (SPEC §6): CRUD and assignment to agents.
//! Running a tool (`/tools/{id}/test`) and connecting to an MCP server
//! (`/tools/mcp/servers/{id}/connect`) belong to the executors.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use switchboard::App;
use switchboard::services::{mcp, tools};

use crate::http::Path;
use crate::http::{ApiResult, Auth, JsonObject, Params, created, list, list_slice, ok, protected};

type S = State<Arc<App>>;

/// The tools group's routes.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    protected(
        app,
        Router::new()
            .route("/tools", get(list_tools).post(create_tool))
            .route(
                "/tools/{id}",
                get(get_tool)
                    .patch(update_tool)
                    .put(update_tool)
                    .delete(delete_tool),
            )
            .route("/tools/{id}/test", post(test_tool))
            .route("/tools/agent/{agent_id}", get(agent_tools))
            .route(
                "/tools/agent/{agent_id}/assign/{tool_id}",
                post(assign_tool).delete(unassign_tool),
            )
            .route("/tools/agent/{agent_id}/mcp", get(agent_servers))
            .route(
                "/tools/agent/{agent_id}/mcp/{server_id}",
                post(assign_server).delete(unassign_server),
            )
            .route("/tools/mcp/servers", get(list_servers).post(create_server))
            .route(
                "/tools/mcp/servers/{id}",
                get(get_server).delete(delete_server),
            )
            .route("/tools/mcp/servers/{id}/connect", post(connect_server)),
    )
}

async fn list_tools(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    Ok(list(
        tools::list(&app, &caller, params.bool("enabled")?, &page).await?,
    ))
}

async fn create_tool(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(created(tools::create(&app, &caller, &body).await?))
}

async fn get_tool(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(tools::get(&app, &caller, &id).await?))
}

async fn update_tool(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(tools::update(&app, &caller, &id, &body).await?))
}

async fn delete_tool(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(tools::delete(&app, &caller, &id).await?))
}

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

async fn assign_tool(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, tool_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(tools::assign(&app, &caller, &agent_id, &tool_id).await?))
}

async fn unassign_tool(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, tool_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(
        tools::unassign(&app, &caller, &agent_id, &tool_id).await?
    ))
}

async fn agent_servers(
    State(app): S,
    Auth(caller): Auth,
    Path(agent_id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = params.page()?;
    list_slice(mcp::list_for_agent(&app, &caller, &agent_id).await?, &page)
}

async fn assign_server(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, server_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(mcp::assign(&app, &caller, &agent_id, &server_id).await?))
}

async fn unassign_server(
    State(app): S,
    Auth(caller): Auth,
    Path((agent_id, server_id)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(
        mcp::unassign(&app, &caller, &agent_id, &server_id).await?
    ))
}

async fn list_servers(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    Ok(list(mcp::list(&app, &caller, &params.page()?).await?))
}

async fn create_server(
    State(app): S,
    Auth(caller): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(created(mcp::create(&app, &caller, &body).await?))
}

async fn get_server(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(mcp::get(&app, &caller, &id).await?))
}

async fn delete_server(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(mcp::delete(&app, &caller, &id).await?))
}

async fn test_tool(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(tools::test(&app, &caller, &id, &body).await?))
}

async fn connect_server(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(mcp::connect(&app, &caller, &id).await?))
}
