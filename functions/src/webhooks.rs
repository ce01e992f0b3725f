//! Webhook routes (SPEC §13): org endpoints, their deliveries, redelivery,
//! and the task-webhook secret. Delivery itself is the webhook worker's.

use std::sync::Arc;

use axum::extract::State;
use switchboard::App;
use switchboard::services::views::{
    DeletedView, TaskSecretView, WebhookDeliveryView, WebhookInput, WebhookView,
};
use switchboard::services::webhooks;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::idempotency::secret_once;
use crate::http::openapi::{Created, IdempotencyKey, Item, List, ModeParam, PageParams};
use crate::http::{ApiResult, Auth, Json, NoBody, Params, Path, created, list, ok, protected};

type S = State<Arc<App>>;

/// The webhooks group's routes.
pub fn router(app: &Arc<App>) -> OpenApiRouter<Arc<App>> {
    protected(
        app,
        OpenApiRouter::new()
            .routes(routes!(list_webhooks, create_webhook))
            .routes(routes!(get_webhook, delete_webhook))
            .routes(routes!(list_deliveries))
            .routes(routes!(redeliver))
            .routes(routes!(task_secret))
            .routes(routes!(rotate_task_secret)),
    )
}

/// List the webhook endpoints (secrets masked).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    params(PageParams, ModeParam), responses(List<WebhookView>))]
async fn list_webhooks(State(app): S, Auth(caller): Auth, params: Params) -> ApiResult {
    let page = params.page()?;
    Ok(list(webhooks::list(&app, &caller, &page).await?))
}

/// Create a webhook endpoint; its `secret` is shown in clear here, once.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", params(ModeParam, IdempotencyKey),
    request_body = WebhookInput, responses(Created<WebhookView>))]
async fn create_webhook(
    State(app): S,
    Auth(caller): Auth,
    Json(body): Json<WebhookInput>,
) -> ApiResult {
    Ok(secret_once(created(
        webhooks::create(&app, &caller, body).await?,
    )))
}

/// Get a webhook endpoint (secret masked).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path), ModeParam), responses(Item<WebhookView>))]
async fn get_webhook(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(webhooks::get(&app, &caller, &id).await?))
}

/// Delete a webhook endpoint.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path), ModeParam), responses(Item<DeletedView>))]
async fn delete_webhook(State(app): S, Auth(caller): Auth, Path(id): Path<String>) -> ApiResult {
    Ok(ok(webhooks::delete(&app, &caller, &id).await?))
}

/// The deliveries to a webhook endpoint, newest first, with their attempts.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), PageParams, ModeParam), responses(List<WebhookDeliveryView>))]
async fn list_deliveries(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult {
    let page = params.page()?;
    Ok(list(webhooks::deliveries(&app, &caller, &id, &page).await?))
}

/// Send a finished delivery again (same id; attempts start over).
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ModeParam, IdempotencyKey), responses(Item<WebhookDeliveryView>))]
async fn redeliver(
    State(app): S,
    Auth(caller): Auth,
    Path(id): Path<String>,
    _: NoBody,
) -> ApiResult {
    Ok(ok(webhooks::redeliver(&app, &caller, &id).await?))
}

/// The secret that signs deliveries to tasks' `webhook_url`s (created on first use).
#[utoipa::path(get, path = "/webhooks/task-secret", tag = "webhooks",
    params(ModeParam), responses(Item<TaskSecretView>))]
async fn task_secret(State(app): S, Auth(caller): Auth) -> ApiResult {
    Ok(ok(webhooks::task_secret(&app, &caller).await?))
}

/// Replace the task-webhook secret; the new one is shown here.
#[utoipa::path(post, path = "/webhooks/task-secret/rotate", tag = "webhooks",
    params(ModeParam, IdempotencyKey), responses(Item<TaskSecretView>))]
async fn rotate_task_secret(State(app): S, Auth(caller): Auth, _: NoBody) -> ApiResult {
    Ok(secret_once(ok(
        webhooks::rotate_task_secret(&app, &caller).await?
    )))
}
