//! Task routes (SPEC §8).

use std::sync::Arc;

use axum::extract::State;
use switchboard::domain::task::TaskStatus;
use switchboard::services::tasks;
use switchboard::services::views::{DeletedView, ExecuteView, TaskInput, TaskPatch, TaskView};
use switchboard::{App, Error};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{Created, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{ApiResult, Auth, JsonObject, NoBody, Params, created, list, ok, protected};

type S = State<Arc<App>>;

/// The task group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_tasks, create_task))
            .routes(routes!(get_task, update_task, delete_task))
            .routes(routes!(execute_task))
            .routes(routes!(reset_task)),
    )
}

/// The filters of `GET /tasks`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TaskFilter {
    /// Only this agent's tasks.
    agent_id: Option<String>,
    /// Only tasks in this status (listed highest priority first).
    #[param(inline)]
    status: Option<TaskStatus>,
}

/// List the tasks: newest first, or by priority within a status.
#[utoipa::path(get, path = "/tasks", tag = "tasks",
    params(PageParams, TaskFilter, ModeParam), responses(List<TaskView>))]
async fn list_tasks(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    let status = match params.get("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
            Error::field(
                "status",
                "must be pending, in_progress, completed or failed",
            )
        })?),
    };
    let agent_id = params.get("agent_id").filter(|s| !s.is_empty());
    Ok(list(
        tasks::list(&app, &caller, agent_id, status, &page).await?,
    ))
}

/// Create a task.
#[utoipa::path(post, path = "/tasks", tag = "tasks", params(ModeParam, IdempotencyKey),
    request_body = TaskInput, responses(Created<TaskView>))]
async fn create_task(State(app): S, Auth(caller): Auth, JsonObject(body): JsonObject) -> ApiResult {
    Ok(created(tasks::create(&app, &caller, &body).await?))
}

/// Get a task, with its agent.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path), ModeParam), responses(Item<TaskView>))]
async fn get_task(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(tasks::get(&app, &caller, &id).await?))
}

/// Update a pending task: the fields sent are changed, the others kept.
#[utoipa::path(patch, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path), ModeParam),
    request_body = TaskPatch, responses(Item<TaskView>))]
async fn update_task(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult {
    Ok(ok(tasks::update(&app, &caller, &id, &body).await?))
}

/// Delete a pending or failed task.
#[utoipa::path(delete, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_task(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(tasks::delete(&app, &caller, &id).await?))
}

/// Execute a pending task: place its call.
#[utoipa::path(post, path = "/tasks/{id}/execute", tag = "tasks",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Created<ExecuteView>))]
async fn execute_task(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(created(tasks::execute(&app, &caller, &id).await?))
}

/// Reset a task that is not pending back to pending.
#[utoipa::path(post, path = "/tasks/{id}/reset", tag = "tasks",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<TaskView>))]
async fn reset_task(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(tasks::reset(&app, &caller, &id).await?))
}
