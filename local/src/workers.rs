//! The local stand-in for SQS event sources: each worker polls its embedded
//! queue and hands batches to the same handler the Lambda function runs.
//! A message whose handler fails stays on the queue and comes back after its
//! visibility timeout; after `MAX_RECEIVES` it moves to the dead-letter queue.

use std::sync::Arc;
use std::time::Duration;

use switchboard::App;
use tokio::sync::watch;

/// How long a received message stays hidden while its handler runs.
const VISIBILITY: Duration = Duration::from_secs(300);
/// Pause between polls of an empty queue.
const IDLE: Duration = Duration::from_millis(100);
/// Messages handled at once per queue.
const BATCH: usize = 4;

/// Polls `queue` until `stop` changes, running `handle` on every message
/// (deleted on `Ok`, left for redelivery on `Err`).
pub async fn drive<F, Fut>(
    app: Arc<App>,
    queue: &'static str,
    mut stop: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(Arc<App>, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let Ok(q) = app.queue(queue).cloned() else {
        tracing::error!(queue, "queue not configured; its worker does not run");
        return;
    };
    loop {
        if *stop.borrow() {
            return;
        }
        let batch = match q.receive(BATCH, VISIBILITY).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(queue, error = %e, "receive failed");
                Vec::new()
            }
        };
        if batch.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(IDLE) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let runs = batch.into_iter().map(|m| {
            let app = app.clone();
            let q = q.clone();
            let handle = &handle;
            async move {
                match handle(app, m.body).await {
                    Ok(()) => {
                        if let Err(e) = q.delete(&m.receipt).await {
                            tracing::warn!(queue, error = %e, "delete failed; the message will come back");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(queue, message = %m.id, attempt = m.receive_count, error = %e, "handler failed");
                        // Retry soon rather than after the whole visibility timeout.
                        let backoff = Duration::from_secs(2u64.pow(m.receive_count.min(6)));
                        let _ = q.change_visibility(&m.receipt, backoff).await;
                    }
                }
            }
        });
        futures::future::join_all(runs).await;
    }
}

/// The events queue's consumer until webhook delivery exists: it records each
/// event in the log and acknowledges it, so the queue does not grow forever.
pub async fn log_event(_app: Arc<App>, body: String) -> Result<(), String> {
    match serde_json::from_str::<switchboard::services::events::Event>(&body) {
        Ok(e) => tracing::info!(event = %e.event_type, id = %e.id, org = %e.org_id, "event"),
        Err(err) => tracing::warn!(error = %err, "malformed event dropped"),
    }
    Ok(())
}
