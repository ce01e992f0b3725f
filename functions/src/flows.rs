//! Flow routes (SPEC §4).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use switchboard::App;
use switchboard::services::flows;

use crate::http::Path;
use crate::http::{ApiResult, Auth, JsonObject, Params, created, list, ok, protected};

type S = State<Arc<App>>;

/// The flows group's routes.
pub fn router(app: &Arc<App>) -> Router<Arc<App>> {
    protected(
        app,
        Router::new()
            .route("/flows", get(list_flows).post(create_flow))
            .route(
                "/flows/{id}",
                get(get_flow)
                    .patch(update_flow)
                    .put(update_flow)
                    .delete(delete_flow),
            ),
    )
}

async fn list_flows(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    Ok(list(flows::list(&app, &caller, &params.page()?).await?))
}

async fn create_flow(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(created(flows::create(&app, &caller, &body).await?))
}

async fn get_flow(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(flows::get(&app, &caller, &id).await?))
}

async fn update_flow(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(flows::update(&app, &caller, &id, &body).await?))
}

async fn delete_flow(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(flows::delete(&app, &caller, &id).await?))
}
