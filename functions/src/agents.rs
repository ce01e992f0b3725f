//! Agent routes (SPEC §3).

use std::sync::Arc;

use switchboard::App;
use switchboard::services::agents;
use switchboard::services::views::{AgentCreate, AgentPatch, AgentView};
use utoipa_axum::router::OpenApiRouter;

use crate::http::openapi::{EnabledFilter, ModeParam, PageParams};
use crate::http::protected;
use crate::http::resource::resource_routes;

/// The agents group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(app, resource_router())
}

resource_routes! {
    service: agents, tag: "agents",
    collection: "/agents", item: "/agents/{id}",
    view: AgentView, input: AgentCreate, patch: AgentPatch, body: typed,
    list: list_agents(PageParams, EnabledFilter, ModeParam) -> AgentView
        "List the agents."
        |app, caller, params, page| agents::list(&app, &caller, params.bool("enabled")?, &page),
    create: create_agent "Create an agent.",
    get: get_agent "Get an agent.",
    update: update_agent(patch, put) "Update an agent: the fields sent are changed, the others kept.",
    delete: delete_agent "Delete an agent.",
}
