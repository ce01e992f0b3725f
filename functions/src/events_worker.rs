//! The events queue's worker: each domain event is fanned out to the org's
//! webhook endpoints and handed to its follow-up work
//! ([`switchboard::services::events::handle`]). An SQS-triggered function in
//! AWS (partial batch failures); locally fed from the embedded queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use switchboard::App;
use switchboard::services::events::{self, Event};

/// Handles one message body. `Err` means "retry this event"; a body that
/// is not an event is dropped (retrying cannot fix it).
pub async fn handle_message(app: &App, body: &str) -> Result<(), String> {
    let event: Event = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "dropping a malformed event");
            return Ok(());
        }
    };
    events::handle(app, &event).await.map_err(|e| {
        tracing::warn!(event = %event.id, r#type = %event.event_type, error = %e, "event will be retried");
        e.to_string()
    })
}

/// The SQS batch handler: the batch's events at once; the ids of the failed
/// ones are returned so only those are retried.
pub async fn handle(
    app: Arc<App>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let app = &app;
    crate::lambda::each_message("event", event, |body| async move {
        handle_message(app, &body).await
    })
    .await
}
