//! The ingest queue's worker: one knowledge document per message. In AWS it
//! is an SQS-triggered function reporting partial batch failures; locally the
//! `switchboard` binary feeds it from the embedded queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use switchboard::App;
use switchboard::services::knowledge::{self, IngestJob, IngestOutcome};
use tracing::Instrument;

/// Processes one message body. `Err` means "retry this message"; a body that
/// is not a job is dropped (retrying cannot fix it).
pub async fn handle_message(app: &App, body: &str) -> Result<(), String> {
    let job: IngestJob = match serde_json::from_str(body) {
        Ok(job) => job,
        Err(e) => {
            tracing::error!(error = %e, "dropping a malformed ingest message");
            return Ok(());
        }
    };
    match knowledge::ingest(app, &job).await {
        Ok(IngestOutcome::Ready { chunks }) => {
            tracing::info!(document = %job.document_id, chunks, "document ready");
            Ok(())
        }
        Ok(IngestOutcome::Failed(reason)) => {
            tracing::warn!(document = %job.document_id, %reason, "document failed");
            Ok(())
        }
        Ok(IngestOutcome::Skipped) => Ok(()),
        Err(e) => {
            tracing::warn!(document = %job.document_id, error = %e, "ingest will be retried");
            Err(e.to_string())
        }
    }
}

/// The SQS batch handler: every message in its own span; the ids of the
/// failed ones are returned so only those are retried.
pub async fn handle(
    app: Arc<App>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut failures = Vec::new();
    for record in event.payload.records {
        let id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("ingest", message_id = %id);
        let result = handle_message(&app, record.body.as_deref().unwrap_or(""))
            .instrument(span)
            .await;
        if result.is_err() {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    Ok(response)
}
