//! SHIM — stands in for `services::webhooks::enqueue_task_delivery`, which the
//! webhooks work provides (signing with the org's task-webhook secret and
//! delivery through the webhook queue). When it lands, delete this file and
//! point `post_call`'s `use super::webhook_shim as webhooks;` at
//! `crate::services::webhooks`.

use serde_json::Value;

use crate::App;
use crate::domain::Tenant;
use crate::error::Result;

/// Records the task webhook that would be delivered (no delivery yet).
pub async fn enqueue_task_delivery(
    _app: &App,
    tenant: &Tenant,
    url: &str,
    body: Value,
) -> Result<()> {
    tracing::info!(org = %tenant.org_id, %url, event = %body["event_type"], "task webhook (delivery not wired yet)");
    Ok(())
}
