//! Automation routes (SPEC §12, admin only): automations, their on/off
//! switch and their run log. Running them is the events worker's. Served by
//! the webhooks function (both are about what events set off).

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::automations;
use switchboard::services::views::{
    AutomationInput, AutomationPatch, AutomationRunView, AutomationView,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::openapi::{IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::resource::resource_routes;
use crate::http::{ApiResult, Auth, NoBody, Params, Path, list, ok, protected};

type S = State<Arc<App>>;

/// The automations group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        resource_router()
            .routes(routes!(toggle_automation))
            .routes(routes!(list_runs)),
    )
}

resource_routes! {
    service: automations, tag: "automations",
    collection: "/automations", item: "/automations/{id}",
    view: AutomationView, input: AutomationInput, patch: AutomationPatch, body: typed,
    list: list_automations(PageParams, ModeParam) -> AutomationView
        "List the automations, newest first (admin)."
        |app, caller, _params, page| automations::list(&app, &caller, &page),
    create: create_automation "Create an automation (admin).",
    get: get_automation "Get an automation (admin).",
    update: update_automation(patch) "Change an automation (admin): the fields sent replace the stored ones (`trigger` and `actions` as a whole).",
    delete: delete_automation "Delete an automation (admin).",
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
