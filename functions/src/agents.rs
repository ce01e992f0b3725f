//! Agent routes (SPEC §3).

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::agents;
use switchboard::services::views::{AgentInput, AgentPatch, AgentView, DeletedView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{
    Created, EnabledFilter, IdempotencyKey, Item, List, ModeParam, PageParams,
};
use crate::http::{ApiResult, Auth, JsonObject, Params, created, list, ok, protected};

type S = State<Arc<App>>;

/// The agents group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_agents, create_agent))
            .routes(routes!(get_agent, update_agent, delete_agent)),
    )
}

/// List the agents.
#[utoipa::path(
    get,
    path = "/agents",
    tag = "agents",
    params(PageParams, EnabledFilter, ModeParam),
    responses(List<AgentView>)
)]
async fn list_agents(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    Ok(list(
        agents::list(&app, &caller, params.bool("enabled")?, &page).await?,
    ))
}

/// Create an agent.
#[utoipa::path(post, path = "/agents", tag = "agents", params(ModeParam, IdempotencyKey),
    request_body = AgentInput, responses(Created<AgentView>))]
async fn create_agent(
    State(app): S,
    Auth(caller): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(created(agents::create(&app, &caller, &body).await?))
}

/// Get an agent.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents",
    params(("id" = String, Path), ModeParam), responses(Item<AgentView>))]
async fn get_agent(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(agents::get(&app, &caller, &id).await?))
}

/// Update an agent: the fields sent are changed, the others kept.
#[utoipa::path(method(patch, put), path = "/agents/{id}", tag = "agents",
    params(("id" = String, Path), ModeParam),
    request_body = AgentPatch, responses(Item<AgentView>))]
async fn update_agent(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(agents::update(&app, &caller, &id, &body).await?))
}

/// Delete an agent.
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_agent(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(agents::delete(&app, &caller, &id).await?))
}
