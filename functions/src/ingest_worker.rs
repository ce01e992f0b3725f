//! The ingest queue's worker: one knowledge document per message. In AWS it
//! is an SQS-triggered function reporting partial batch failures; locally the
//! `switchboard` binary feeds it from the embedded queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lambda_runtime::LambdaEvent;
use switchboard::App;
use switchboard::services::knowledge::fair::{self, FairQueue};
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

/// Messages of one batch handled at once.
const CONCURRENCY: usize = 4;
/// Messages of one org handled at once (the rest of its batch waits).
const PER_ORG: usize = 2;

/// The SQS batch handler: every message in its own span, several at once
/// but at most [`PER_ORG`] of one org, so one org's slow documents do not
/// hold the others'; the ids of the failed ones are returned so only those
/// are retried.
pub async fn handle(
    app: Arc<App>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut fair = FairQueue::new(PER_ORG);
    for record in event.payload.records {
        let body = record.body.unwrap_or_default();
        fair.push(
            fair::ingest_key(&body),
            (record.message_id.unwrap_or_default(), body),
        );
    }
    let mut failures = Vec::new();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < CONCURRENCY {
            let Some((org, (id, body))) = fair.start_next() else {
                break;
            };
            let app = &app;
            let span = tracing::info_span!("ingest", message_id = %id);
            running.push(async move {
                let result = handle_message(app, &body).instrument(span).await;
                (org, id, result)
            });
        }
        let Some((org, id, result)) = running.next().await else {
            break;
        };
        fair.done(&org);
        if result.is_err() {
            failures.push(id);
        }
    }
    Ok(crate::lambda::batch_failures(failures))
}
