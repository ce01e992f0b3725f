//! Domain events (`knowledge.ready`, `call.completed`, …) on the events queue.
//! Webhook delivery and automations consume them; a producer never waits for
//! a consumer, so a slow endpoint can never slow the work that emitted it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::App;
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};

/// One event as queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// UUIDv7, stable across redeliveries (consumers de-duplicate on it).
    pub id: String,
    /// `knowledge.ready`, `knowledge.failed`, ….
    #[serde(rename = "type")]
    pub event_type: String,
    /// The org.
    pub org_id: String,
    /// Live or test partition.
    pub mode: Mode,
    /// RFC 3339.
    pub created_at: String,
    /// The resource the event is about, in its API shape.
    pub data: Value,
    /// How many automation actions led to this event (0: a person, a call
    /// or the API caused it). An automation's actions emit their events one
    /// deeper, and at [`MAX_DEPTH`] no automation runs, so automations that
    /// trigger each other cannot loop.
    #[serde(default)]
    pub depth: u32,
}

impl Event {
    /// The tenant the event is about.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }

    /// The id of the resource the event is about (`data.id`).
    pub fn subject_id(&self) -> Option<&str> {
        self.data.get("id").and_then(Value::as_str)
    }
}

/// The chain depth at which automations stop running (see [`Event::depth`]).
pub const MAX_DEPTH: u32 = 3;

pub use crate::domain::automation::TAG_ADDED;

/// Queues an event for `tenant`.
pub async fn emit(app: &App, tenant: &Tenant, event_type: &str, data: Value) -> Result<()> {
    emit_at_depth(app, tenant, event_type, data, 0).await
}

/// Queues an event caused by an automation at chain depth `depth`.
pub async fn emit_at_depth(
    app: &App,
    tenant: &Tenant,
    event_type: &str,
    data: Value,
    depth: u32,
) -> Result<()> {
    let event = Event {
        id: app.new_id(),
        event_type: event_type.to_owned(),
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        created_at: app.now_rfc3339(),
        data,
        depth,
    };
    let body = serde_json::to_string(&event).map_err(|e| Error::Internal(e.to_string()))?;
    app.queue("events")?.send(&body, Duration::ZERO).await?;
    Ok(())
}

/// Consumes one event from the events queue: fans it out to the org's
/// webhook endpoints subscribed to its type (at most once per endpoint
/// however often the queue redelivers it), then runs the event's own
/// follow-up work, then the org's automations. `Err` means "retry the
/// event"; every step is idempotent per event id, so a retry repeats
/// nothing that already happened.
pub async fn handle(app: &App, event: &Event) -> Result<()> {
    let endpoints = crate::services::webhooks::delivery::fan_out(app, event).await?;
    tracing::debug!(event = %event.id, r#type = %event.event_type, endpoints, "event fanned out");
    // Follow-up work per event type, after the fan-out: one arm per consumer,
    // each idempotent per event id too (the queue may deliver an event twice).
    match event.event_type.as_str() {
        "call.started" => {
            crate::services::calls::post_call(app, event).await?;
            crate::services::conversations::call_started(app, event).await?;
        }
        "call.completed" | "call.failed" => {
            // The conversation takes the transcript and report the
            // post-call job has just written onto the call.
            crate::services::calls::post_call(app, event).await?;
            crate::services::conversations::after_call(app, event).await?;
            crate::services::analytics::count_event(app, event).await?;
        }
        "campaign.completed" => crate::services::analytics::count_event(app, event).await?,
        _ => {}
    }
    // Last: a `call_completed` automation finds the call's conversation.
    crate::services::automations::on_event(app, event).await
}
