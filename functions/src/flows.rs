//! Flow routes (SPEC §4).

use std::sync::Arc;

use switchboard::App;
use switchboard::services::flows;
use switchboard::services::views::{FlowCreate, FlowPatch, FlowSummaryView, FlowView};
use utoipa_axum::router::OpenApiRouter;

use crate::http::openapi::{ModeParam, PageParams};
use crate::http::protected;
use crate::http::resource::resource_routes;

/// The flows group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(app, resource_router())
}

resource_routes! {
    service: flows, tag: "flows",
    collection: "/flows", item: "/flows/{id}",
    view: FlowView, input: FlowCreate, patch: FlowPatch, body: typed,
    list: list_flows(PageParams, ModeParam) -> FlowSummaryView
        "List the flows."
        |app, caller, params, page| flows::list(&app, &caller, &page),
    create: create_flow "Create a flow (its graph is checked; structural errors are 422).",
    get: get_flow "Get a flow.",
    update: update_flow(patch, put) "Update a flow: the fields sent are changed, the others kept.",
    delete: delete_flow "Delete a flow.",
}
