//! Automation routes (SPEC §12, admin only): automations, their on/off
//! switch and their run log. Running them is the events worker's. Served by
//! the webhooks function (both are about what events set off).

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::automations;
use switchboard::services::views::{
    AutomationInput, AutomationPatch, AutomationRunView, AutomationView, DeletedView,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::openapi::{Created, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{ApiResult, Auth, Json, NoBody, Params, Path, created, list, ok, protected};

type S = State<Arc<App>>;

/// The automations group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_automations, create_automation))
            .routes(routes!(
                get_automation,
                update_automation,
                delete_automation
            ))
            .routes(routes!(toggle_automation))
            .routes(routes!(list_runs)),
    )
}

/// List the automations, newest first (admin).
#[utoipa::path(get, path = "/automations", tag = "automations",
    params(PageParams, ModeParam), responses(List<AutomationView>))]
async fn list_automations(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    Ok(list(automations::list(&app, &caller, &page).await?))
}

/// Create an automation (admin).
#[utoipa::path(post, path = "/automations", tag = "automations", params(ModeParam, IdempotencyKey),
    request_body = AutomationInput, responses(Created<AutomationView>))]
async fn create_automation(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<AutomationInput>,
) -> ApiResult {
    Ok(created(automations::create(&app, &caller, body).await?))
}

/// Get an automation (admin).
#[utoipa::path(get, path = "/automations/{id}", tag = "automations",
    params(("id" = String, Path), ModeParam), responses(Item<AutomationView>))]
async fn get_automation(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(automations::get(&app, &caller, &id).await?))
}

/// Change an automation (admin): the fields sent replace the stored ones
/// (`trigger` and `actions` as a whole).
#[utoipa::path(patch, path = "/automations/{id}", tag = "automations",
    params(("id" = String, Path), ModeParam),
    request_body = AutomationPatch, responses(Item<AutomationView>))]
async fn update_automation(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<AutomationPatch>,
) -> ApiResult {
    Ok(ok(automations::update(&app, &caller, &id, body).await?))
}

/// Delete an automation (admin).
#[utoipa::path(delete, path = "/automations/{id}", tag = "automations",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_automation(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(automations::delete(&app, &caller, &id).await?))
}

/// Switch an automation on or off (admin).
#[utoipa::path(post, path = "/automations/{id}/toggle", tag = "automations",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<AutomationView>))]
async fn toggle_automation(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(automations::toggle(&app, &caller, &id).await?))
}

/// An automation's runs, newest first (admin): the event, the status
/// (`succeeded`, `failed`, `skipped`), what each action did, and why not.
#[utoipa::path(get, path = "/automations/{id}/runs", tag = "automations",
    params(("id" = String, Path), PageParams, ModeParam), responses(List<AutomationRunView>))]
async fn list_runs(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = params.page()?;
    Ok(list(automations::runs(&app, &caller, &id, &page).await?))
}
