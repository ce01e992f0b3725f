//! Flow routes (SPEC §4).

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::flows;
use switchboard::services::views::{DeletedView, FlowInput, FlowPatch, FlowSummaryView, FlowView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{Created, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{ApiResult, Auth, JsonObject, Params, created, list, ok, protected};

type S = State<Arc<App>>;

/// The flows group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_flows, create_flow))
            .routes(routes!(get_flow, update_flow, delete_flow)),
    )
}

/// List the flows.
#[utoipa::path(
    get,
    path = "/flows",
    tag = "flows",
    params(PageParams, ModeParam),
    responses(List<FlowSummaryView>)
)]
async fn list_flows(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    Ok(list(flows::list(&app, &caller, &params.page()?).await?))
}

/// Create a flow (its graph is checked; structural errors are 422).
#[utoipa::path(post, path = "/flows", tag = "flows", params(ModeParam, IdempotencyKey),
    request_body = FlowInput, responses(Created<FlowView>))]
async fn create_flow(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(created(flows::create(&app, &caller, &body).await?))
}

/// Get a flow.
#[utoipa::path(get, path = "/flows/{id}", tag = "flows",
    params(("id" = String, Path), ModeParam), responses(Item<FlowView>))]
async fn get_flow(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(flows::get(&app, &caller, &id).await?))
}

/// Update a flow: the fields sent are changed, the others kept.
#[utoipa::path(method(patch, put), path = "/flows/{id}", tag = "flows",
    params(("id" = String, Path), ModeParam),
    request_body = FlowPatch, responses(Item<FlowView>))]
async fn update_flow(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(flows::update(&app, &caller, &id, &body).await?))
}

/// Delete a flow.
#[utoipa::path(delete, path = "/flows/{id}", tag = "flows",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_flow(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(flows::delete(&app, &caller, &id).await?))
}
