//! The webhook queue's worker: one delivery attempt per message (a webhook
//! delivery, or an outgoing SMS handed to Twilio). In AWS it
//! is an SQS-triggered function reporting partial batch failures; locally
//! the `switchboard` binary feeds it from the embedded queue.
//!
//! A failed attempt keeps its message, hidden for the backoff the delivery
//! chose (the message's visibility is the retry timer: SQS semantics, the
//! embedded queue's too); after the last attempt the message is made
//! visible at once, so the queue's redrive moves it to the dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::LambdaEvent;
use switchboard::App;
use switchboard::services::conversations::{SmsJob, send_sms};
use switchboard::services::webhooks::{self, delivery::QUEUE};
use tracing::Instrument;

/// One attempt of the delivery in `body`; `attempt` is the message's
/// receive count. `Ok(None)`: delete the message. `Ok(Some(d))`: keep it,
/// hidden for `d`. `Err`: a store failure, retried as any failed message.
pub async fn handle_message(
    app: &App,
    body: &str,
    attempt: u32,
) -> Result<Option<Duration>, String> {
    // Outgoing SMS ride this queue too: the same retry timer and DLQ.
    if let Some(job) = SmsJob::of_body(body) {
        return send_sms(app, &job, attempt).await.map_err(|e| {
            tracing::warn!(error = %e, "the SMS will be retried");
            e.to_string()
        });
    }
    webhooks::deliver(app, body, attempt)
        .await
        .map(|outcome| outcome.keep_for())
        .map_err(|e| {
            tracing::warn!(error = %e, "webhook delivery will be retried");
            e.to_string()
        })
}

/// Sets the retry timer of a kept message (best effort: without it, the
/// queue's own visibility timeout brings the message back).
async fn hide(app: &App, receipt: &str, after: Duration) {
    match app.queue(QUEUE) {
        Ok(q) => {
            if let Err(e) = q.change_visibility(receipt, after).await {
                tracing::warn!(error = %e, "could not set the retry delay");
            }
        }
        Err(e) => tracing::error!(error = %e, "webhook queue missing"),
    }
}

async fn one(app: &App, record: SqsMessage) -> Option<String> {
    let id = record.message_id.unwrap_or_default();
    let attempt = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let body = record.body.unwrap_or_default();
    let span = tracing::info_span!("webhook", message_id = %id, attempt);
    match handle_message(app, &body, attempt).instrument(span).await {
        Ok(None) => None,
        Ok(Some(after)) => {
            if let Some(receipt) = &record.receipt_handle {
                hide(app, receipt, after).await;
            }
            Some(id)
        }
        Err(_) => Some(id),
    }
}

/// The SQS batch handler: every message of the batch at once (a batch is at
/// most 10, each attempt bounded by the 10 s timeout), so one slow endpoint
/// never holds the others; only the ids of kept messages are reported.
pub async fn handle(
    app: Arc<App>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let results = futures::future::join_all(
        event
            .payload
            .records
            .into_iter()
            .map(|record| one(&app, record)),
    )
    .await;
    Ok(crate::lambda::batch_failures(results.into_iter().flatten()))
}
