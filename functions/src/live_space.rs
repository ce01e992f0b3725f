//! Live-space routes (SPEC §11): supervisors list and read live calls and
//! steer them (whisper, barge, takeover, end) on whichever relay holds them.

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::calls;
use switchboard::services::live::space;
use switchboard::services::views::{
    CallView, LiveCallView, LiveControlView, LiveMessageInput, SupervisorJoinView, TakeoverInput,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{IdempotencyKey, Item, List, ModeParam};
use crate::http::{ApiResult, Auth, Json, NoBody, all, ok, protected};

type S = State<Arc<App>>;

/// The live-space group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_live_calls))
            .routes(routes!(get_live_call))
            .routes(routes!(whisper))
            .routes(routes!(barge))
            .routes(routes!(takeover))
            .routes(routes!(end_live_call))
            .routes(routes!(join_as_supervisor)),
    )
}

/// List the live calls (placed and not ended), newest first.
#[utoipa::path(get, path = "/live-space/live-calls", tag = "live-space",
    params(ModeParam), responses(List<LiveCallView>))]
async fn list_live_calls(State(app): S, Auth(caller): Auth) -> ApiResult {
    Ok(all(space::live_calls(&app, &caller).await?))
}

/// Get a call with its transcript so far, supervisors' whispers included.
#[utoipa::path(get, path = "/live-space/live-calls/{id}", tag = "live-space",
    params(("id" = String, Path), ModeParam), responses(Item<CallView>))]
async fn get_live_call(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(space::live_call(&app, &caller, &id).await?))
}

/// Whisper to the agent: a hidden instruction for its next turns, noted in
/// the transcript for supervisors only.
#[utoipa::path(post, path = "/live-space/live-calls/{id}/whisper", tag = "live-space",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = LiveMessageInput, responses(Item<LiveControlView>))]
async fn whisper(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<LiveMessageInput>,
) -> ApiResult {
    Ok(ok(space::whisper(&app, &caller, &id, body).await?))
}

/// Barge in: the agent says the message now, cutting itself off.
#[utoipa::path(post, path = "/live-space/live-calls/{id}/barge", tag = "live-space",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = LiveMessageInput, responses(Item<LiveControlView>))]
async fn barge(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<LiveMessageInput>,
) -> ApiResult {
    Ok(ok(space::barge(&app, &caller, &id, body).await?))
}

/// Take the call over (`active: true`: the agent pauses and a supervisor
/// speaks through the supervisor socket) or hand it back (`false`).
#[utoipa::path(post, path = "/live-space/live-calls/{id}/takeover", tag = "live-space",
    params(("id" = String, Path), ModeParam, IdempotencyKey),
    request_body = TakeoverInput, responses(Item<LiveControlView>))]
async fn takeover(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Json(body): Json<TakeoverInput>,
) -> ApiResult {
    Ok(ok(space::takeover(&app, &caller, &id, body).await?))
}

/// End the call (hang up).
#[utoipa::path(post, path = "/live-space/live-calls/{id}/end", tag = "live-space",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<CallView>))]
async fn end_live_call(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(calls::stop(&app, &caller, &id, false).await?))
}

/// A token for the call's supervisor socket (`/ws/supervisor/{id}?token=`).
#[utoipa::path(post, path = "/live-space/live-calls/{id}/supervisor/join", tag = "live-space",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<SupervisorJoinView>))]
async fn join_as_supervisor(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(space::join(&app, &caller, &id).await?))
}
