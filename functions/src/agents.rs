//! Agent routes (SPEC §3).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use switchboard::App;
use switchboard::services::agents;

use crate::http::Path;
use crate::http::{ApiResult, Auth, JsonObject, Params, created, list, ok, protected};

type S = State<Arc<App>>;

/// The agents group's routes.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    protected(
        app,
        Router::new()
            .route("/agents", get(list_agents).post(create_agent))
            .route(
                "/agents/{id}",
                get(get_agent)
                    .patch(update_agent)
                    .put(update_agent)
                    .delete(delete_agent),
            ),
    )
}

async fn list_agents(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    Ok(list(
        agents::list(&app, &caller, params.bool("enabled")?, &page).await?,
    ))
}

async fn create_agent(
    State(app): S,
    Auth(caller): Auth,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(created(agents::create(&app, &caller, &body).await?))
}

async fn get_agent(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(agents::get(&app, &caller, &id).await?))
}

async fn update_agent(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(agents::update(&app, &caller, &id, &body).await?))
}

async fn delete_agent(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(agents::delete(&app, &caller, &id).await?))
}
