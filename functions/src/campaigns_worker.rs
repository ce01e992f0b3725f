//! The campaigns queue's worker: each message is one dialer tick of one
//! campaign ([`switchboard::services::campaigns::dialer`]). An SQS-triggered
//! function in AWS (partial batch failures); locally fed from the embedded
//! queue.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use switchboard::App;
use switchboard::services::campaigns::dialer;

/// Handles one message body. `Err` means "retry this tick".
pub async fn handle_message(app: &App, body: &str) -> Result<(), String> {
    dialer::handle_message(app, body).await.map_err(|e| {
        tracing::warn!(error = %e, "campaign tick will be retried");
        e.to_string()
    })
}

/// The SQS batch handler: the batch's ticks at once; the ids of the failed
/// ones are returned so only those are retried.
pub async fn handle(
    app: Arc<App>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let app = &app;
    crate::lambda::each_message("campaign_tick", event, |body| async move {
        handle_message(app, &body).await
    })
    .await
}
