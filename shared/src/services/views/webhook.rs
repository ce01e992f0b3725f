//! Webhooks (SPEC §13) as the API shows them: endpoints with their secret
//! masked from the stored hint (in clear only in the create response), and
//! delivery records with their attempts.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::webhook::{Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint};

/// A webhook endpoint as returned by every `/webhooks` route.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookView {
    /// UUIDv7.
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Subscribed event types.
    pub events: Vec<String>,
    /// Inactive endpoints receive nothing new.
    pub active: bool,
    /// The `whsec_…` signing secret: in clear in the create response only,
    /// `••••abcd` on every read.
    pub secret: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(e: &WebhookEndpoint) -> Self {
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            active: e.active,
            secret: e.secret.masked(),
            created_at: e.created_at.clone(),
            updated_at: e.updated_at.clone(),
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookAttemptView {
    /// RFC 3339.
    pub at: String,
    /// The response's status code, when one came.
    pub status_code: Option<u16>,
    /// How long the exchange took.
    pub latency_ms: u64,
    /// Why it did not succeed.
    pub error: Option<String>,
}

impl From<&DeliveryAttempt> for WebhookAttemptView {
    fn from(a: &DeliveryAttempt) -> Self {
        Self {
            at: a.at.clone(),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error.clone(),
        }
    }
}

/// A delivery record.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookDeliveryView {
    /// UUIDv7; the `webhook-id` header of every attempt.
    pub id: String,
    /// The org endpoint; null for a task's webhook.
    pub webhook_id: Option<String>,
    /// The event delivered (org endpoints).
    pub event_id: Option<String>,
    /// `knowledge.ready`, …, or a task event (`call_completed`, …).
    pub event_type: String,
    /// The destination.
    pub url: String,
    /// `pending`, `delivered` or `failed`.
    #[schema(value_type = String)]
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The latest attempts, oldest first.
    pub attempt_log: Vec<WebhookAttemptView>,
    /// Status code of the last response.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The first KiB of the last response body.
    pub response_excerpt: Option<String>,
    /// When the next attempt is due (RFC 3339), while retrying.
    pub next_attempt_at: Option<String>,
    /// When it was delivered (RFC 3339).
    pub delivered_at: Option<String>,
    /// The JSON body sent.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Delivery> for WebhookDeliveryView {
    fn from(d: &Delivery) -> Self {
        Self {
            id: d.id.clone(),
            webhook_id: d.webhook_id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            url: d.url.clone(),
            status: d.status,
            attempts: d.attempts,
            attempt_log: d.attempt_log.iter().map(WebhookAttemptView::from).collect(),
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            response_excerpt: d.response_excerpt.clone(),
            next_attempt_at: d.next_attempt_at.clone(),
            delivered_at: d.delivered_at.clone(),
            payload: d.payload.clone(),
            created_at: d.created_at.clone(),
            updated_at: d.updated_at.clone(),
        }
    }
}

/// The org's task-webhook secret (`whsec_…`), which signs every delivery to
/// a task's `webhook_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TaskSecretView {
    /// `whsec_<base64>`.
    pub secret: String,
}
