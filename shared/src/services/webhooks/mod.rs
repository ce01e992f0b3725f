//! Webhooks (SPEC §13): org endpoints (`/webhooks`), their deliveries and
//! redelivery, the org's task-webhook secret, and task deliveries for the
//! call runner ([`enqueue_task_delivery`]). Sending happens on the webhook
//! queue ([`delivery::deliver`]), so no producer waits for an endpoint.

pub mod delivery;

use serde_json::{Value, json};

use super::caller::Caller;
use super::page::{PageOf, PageRequest, page};
use super::repository::{
    delete_counted, insert_counted, list_counted, load_resource, query_all_as,
};
use super::table_keys::*;
use super::views::{DeletedView, TaskSecretView, WebhookDeliveryView, WebhookView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::tool::Sealed;
use crate::domain::webhook::{Delivery, WebhookEndpoint, WebhookInput, WebhookSpec};
use crate::engine::signing::WebhookSecret;
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, StoreError};

pub use delivery::{Attempted, DeliveryMessage, deliver};

/// Resource kind of endpoints in sort keys.
pub const KIND: &str = "WEBHOOK";
/// Most endpoints a tenant may have (every event is fanned out to each).
pub const MAX_ENDPOINTS: i64 = 50;

fn item(tenant: &Tenant, endpoint: &WebhookEndpoint) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &endpoint.id),
        serde_json::to_value(endpoint).unwrap_or_default(),
    )
}

/// Reads an endpoint of the tenant; anything else is 404.
pub async fn load_endpoint(app: &App, tenant: &Tenant, id: &str) -> Result<(WebhookEndpoint, u64)> {
    load_resource(app, tenant, KIND, "webhook", id).await
}

/// Every endpoint of the tenant (at most [`MAX_ENDPOINTS`], one page).
pub(crate) async fn endpoints_of(app: &App, tenant: &Tenant) -> Result<Vec<WebhookEndpoint>> {
    let query = Query::partition(tenant.pk()).prefix(resource_prefix(KIND));
    query_all_as(app.table.as_ref(), query).await
}

/// `GET /webhooks` — newest first, secrets masked.
pub async fn list(app: &App, caller: &Caller, req: &PageRequest) -> Result<PageOf<WebhookView>> {
    list_counted(
        app,
        &caller.tenant,
        KIND,
        None,
        req,
        |e: WebhookEndpoint| WebhookView::from(&e),
    )
    .await
}

/// `POST /webhooks {url, events, active}` (admin): the endpoint with its
/// new `whsec_…` secret in clear, this once.
pub async fn create(app: &App, caller: &Caller, body: WebhookInput) -> Result<WebhookView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let spec = WebhookSpec::parse(body, &app.net)?;
    if app.table.counter(&tenant.pk(), &count_sk(KIND)).await? >= MAX_ENDPOINTS {
        return Err(Error::Conflict(format!(
            "an organization can have at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
        )));
    }
    let secret = WebhookSecret::generate().expose();
    let now = app.now_rfc3339();
    let endpoint = WebhookEndpoint {
        id: app.new_id(),
        url: spec.url,
        events: spec.events,
        active: spec.active,
        secret: Sealed::seal(&app.cipher, &secret),
        created_at: now.clone(),
        updated_at: now,
    };
    insert_counted(app, tenant, KIND, item(tenant, &endpoint), vec![]).await?;
    let mut view = WebhookView::from(&endpoint);
    view.secret = secret;
    Ok(view)
}

/// `GET /webhooks/{id}` — secret masked.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<WebhookView> {
    Ok(WebhookView::from(
        &load_endpoint(app, &caller.tenant, id).await?.0,
    ))
}

/// `DELETE /webhooks/{id}` (admin). Its delivery records stay readable by
/// id until they expire; queued ones end `failed`.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (_, version) = load_endpoint(app, tenant, id).await?;
    delete_counted(app, tenant, KIND, id, version, vec![]).await?;
    Ok(DeletedView::of(id))
}

/// `GET /webhooks/{id}/deliveries` — newest first.
pub async fn deliveries(
    app: &App,
    caller: &Caller,
    webhook_id: &str,
    req: &PageRequest,
) -> Result<PageOf<WebhookDeliveryView>> {
    let tenant = &caller.tenant;
    load_endpoint(app, tenant, webhook_id).await?;
    let query = Query::partition(webhook_deliveries_index(tenant, webhook_id))
        .on(Index::Gsi1)
        .prefix(resource_prefix(delivery::KIND))
        .backward();
    page(app.table.as_ref(), query, req, |_| true)
        .await?
        .parsed(|d: Delivery| WebhookDeliveryView::from(&d))
}

/// `POST /webhooks/deliveries/{id}/redeliver` (admin): a finished delivery
/// (failed, or delivered and wanted again) goes back on the queue with the
/// same id, so the receiver can tell it is the same message.
pub async fn redeliver(app: &App, caller: &Caller, id: &str) -> Result<WebhookDeliveryView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (d, _) = delivery::load(app, tenant, id).await?;
    if let Some(w) = &d.webhook_id
        && let Err(Error::NotFound(_)) = load_endpoint(app, tenant, w).await
    {
        return Err(Error::Conflict(
            "the webhook endpoint of this delivery was deleted".into(),
        ));
    }
    let d = delivery::requeue(app, tenant, id).await?;
    Ok(WebhookDeliveryView::from(&d))
}

fn secret_item(tenant: &Tenant, sealed: &Sealed, now: &str) -> Item {
    Item::new(
        tenant.pk(),
        TASK_WEBHOOK_SECRET_SK,
        json!({"secret": sealed, "created_at": now}),
    )
}

fn parse_sealed(item: &Item) -> Result<Sealed> {
    serde_json::from_value(item.data["secret"].clone())
        .map_err(|e| Error::Internal(format!("corrupt task-webhook secret: {e}")))
}

/// The tenant's task-webhook secret (sealed), created on first use.
pub(crate) async fn task_secret_of(app: &App, tenant: &Tenant) -> Result<Sealed> {
    if let Some(existing) = app.table.get(&tenant.pk(), TASK_WEBHOOK_SECRET_SK).await? {
        return parse_sealed(&existing);
    }
    let sealed = Sealed::seal(&app.cipher, &WebhookSecret::generate().expose());
    let fresh = secret_item(tenant, &sealed, &app.now_rfc3339());
    match app.table.put(fresh, Condition::MustNotExist).await {
        Ok(_) => Ok(sealed),
        // Created concurrently: everyone uses the one that was stored.
        Err(StoreError::ConditionFailed) => {
            match app.table.get(&tenant.pk(), TASK_WEBHOOK_SECRET_SK).await? {
                Some(stored) => parse_sealed(&stored),
                None => Err(Error::Internal("the task-webhook secret vanished".into())),
            }
        }
        Err(e) => Err(e.into()),
    }
}

fn open_secret(app: &App, sealed: &Sealed) -> Result<TaskSecretView> {
    let secret = sealed
        .open(&app.cipher)
        .map_err(|e| Error::Internal(format!("opening the task-webhook secret: {e}")))?;
    Ok(TaskSecretView { secret })
}

/// `GET /webhooks/task-secret` (admin): the secret task deliveries are
/// signed with, in clear (receivers need it to verify).
pub async fn task_secret(app: &App, caller: &Caller) -> Result<TaskSecretView> {
    caller.require_admin()?;
    open_secret(app, &task_secret_of(app, &caller.tenant).await?)
}

/// `POST /webhooks/task-secret/rotate` (admin): a new secret replaces the
/// old one at once; deliveries not yet sent are signed with the new one.
pub async fn rotate_task_secret(app: &App, caller: &Caller) -> Result<TaskSecretView> {
    caller.require_admin()?;
    let sealed = Sealed::seal(&app.cipher, &WebhookSecret::generate().expose());
    app.table
        .put(
            secret_item(&caller.tenant, &sealed, &app.now_rfc3339()),
            Condition::None,
        )
        .await?;
    open_secret(app, &sealed)
}

/// Queues a delivery of `body` to a task's `webhook_url`, signed with the
/// org's task-webhook secret (created on first use) and sent by the webhook
/// worker with the same retries as org endpoints. Returns once it is queued:
/// a slow or dead endpoint never holds the caller (the call runner).
pub async fn enqueue_task_delivery(
    app: &App,
    tenant: &Tenant,
    url: &str,
    body: Value,
) -> Result<()> {
    let event_type = body
        .get("event_type")
        .and_then(Value::as_str)
        .unwrap_or("task")
        .to_owned();
    enqueue_org_signed(app, tenant, app.new_id(), None, event_type, url, body).await
}

/// Queues delivery `id` of `body` to `url`, signed with the org's
/// task-webhook secret (created on first use), as [`enqueue_task_delivery`]
/// does; an id that was queued already is not queued again, so a caller
/// that derives `id` from what caused it never sends twice.
pub(crate) async fn enqueue_org_signed(
    app: &App,
    tenant: &Tenant,
    id: String,
    event_id: Option<String>,
    event_type: String,
    url: &str,
    body: Value,
) -> Result<()> {
    task_secret_of(app, tenant).await?;
    let d = Delivery::new(
        id,
        None,
        event_id,
        event_type,
        url.to_owned(),
        body,
        app.now_rfc3339(),
    );
    delivery::enqueue(app, tenant, d).await
}
