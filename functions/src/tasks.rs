//! Task routes (SPEC §8).

use std::sync::Arc;

use axum::extract::State;
use switchboard::domain::task::TaskStatus;
use switchboard::services::tasks;
use switchboard::services::views::{ExecuteView, TaskCreate, TaskPatch, TaskView};
use switchboard::{App, Error};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::Path;
use crate::http::openapi::{Created, IdempotencyKey, Item, ModeParam, PageParams};
use crate::http::resource::resource_routes;
use crate::http::{ApiResult, Auth, NoBody, created, ok, protected};

type S = State<Arc<App>>;

/// The task group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        resource_router()
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

resource_routes! {
    service: tasks, tag: "tasks",
    collection: "/tasks", item: "/tasks/{id}",
    view: TaskView, input: TaskCreate, patch: TaskPatch, body: typed,
    list: list_tasks(PageParams, TaskFilter, ModeParam) -> TaskView
        "List the tasks: newest first, or by priority within a status."
        |app, caller, params, page| {
            let status = match params.get("status").filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(TaskStatus::parse(s).ok_or_else(|| {
                    Error::field("status", "must be pending, in_progress, completed or failed")
                })?),
            };
            let agent_id = params.get("agent_id").filter(|s| !s.is_empty());
            tasks::list(&app, &caller, agent_id, status, &page)
        },
    create: create_task "Create a task.",
    get: get_task "Get a task, with its agent.",
    update: update_task(patch) "Update a pending task: the fields sent are changed, the others kept.",
    delete: delete_task "Delete a pending or failed task.",
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
