//! The local stand-in for SQS event sources: each worker polls its embedded
//! queue and hands batches to the same handler the Lambda function runs.
//! A message whose handler fails stays on the queue and comes back after its
//! visibility timeout; after `MAX_RECEIVES` it moves to the dead-letter queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard::App;
use switchboard::services::knowledge::fair::FairQueue;
use switchboard::store::Message;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a received message stays hidden while it waits or runs.
const VISIBILITY: Duration = Duration::from_secs(300);
/// Pause between polls of an empty queue.
const IDLE: Duration = Duration::from_millis(100);
/// Handlers running at once per queue.
const CONCURRENCY: usize = 4;
/// Handlers of one fairness key (one org's documents) running at once.
const PER_KEY: usize = 2;
/// Messages held at once (running and waiting for their key's turn).
const BACKLOG: usize = 64;
/// Most messages asked for per receive (the SQS maximum).
const RECEIVE_MAX: usize = 10;

/// Polls `queue` until `stop` changes, running `handle` on every message
/// (deleted on `Ok`, left for redelivery on `Err`). Handlers run as they are
/// received, [`CONCURRENCY`] at once, at most [`PER_KEY`] per `key` of a
/// message body, the oldest runnable first: a slow message holds only its
/// own slot, and one org's burst never delays another org's messages.
pub async fn drive<F, Fut>(
    app: Arc<App>,
    queue: &'static str,
    mut stop: watch::Receiver<bool>,
    key: fn(&str) -> String,
    handle: F,
) where
    F: Fn(Arc<App>, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let Ok(q) = app.queue(queue).cloned() else {
        tracing::error!(queue, "queue not configured; its worker does not run");
        return;
    };
    let handle = Arc::new(handle);
    let mut fair: FairQueue<Message> = FairQueue::new(PER_KEY);
    let mut running: JoinSet<()> = JoinSet::new();
    let mut keys: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        while running.len() < CONCURRENCY {
            let Some((k, m)) = fair.start_next() else {
                break;
            };
            // Its wait counted against the visibility timeout: restart it.
            let _ = q.change_visibility(&m.receipt, VISIBILITY).await;
            let (app, q, handle) = (app.clone(), q.clone(), handle.clone());
            let task = running.spawn(async move {
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
            });
            keys.insert(task.id(), k);
        }
        let room = BACKLOG.saturating_sub(fair.waiting() + running.len());
        if room > 0 {
            match q.receive(room.min(RECEIVE_MAX), VISIBILITY).await {
                Ok(batch) if !batch.is_empty() => {
                    for m in batch {
                        fair.push(key(&m.body), m);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(queue, error = %e, "receive failed"),
            }
        }
        tokio::select! {
            Some(ended) = running.join_next_with_id(), if !running.is_empty() => {
                let id = match ended {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(queue, error = %e, "handler panicked; the message will come back");
                        e.id()
                    }
                };
                if let Some(k) = keys.remove(&id) {
                    fair.done(&k);
                }
            }
            _ = tokio::time::sleep(IDLE) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Every message its own fairness key (no per-key bound): for queues whose
/// messages are all cheap.
pub fn own_key(_body: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("#{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The events queue's consumer: [`switchboard::services::events::handle`]
/// per event (an error leaves the event for redelivery); a malformed event is
/// dropped (retrying cannot fix it).
pub async fn handle_event(app: Arc<App>, body: String) -> Result<(), String> {
    match serde_json::from_str::<switchboard::services::events::Event>(&body) {
        Ok(e) => {
            tracing::debug!(event = %e.event_type, id = %e.id, org = %e.org_id, "event");
            switchboard::services::events::handle(&app, &e)
                .await
                .map_err(|err| err.to_string())
        }
        Err(err) => {
            tracing::warn!(error = %err, "malformed event dropped");
            Ok(())
        }
    }
}

/// The scheduler tick every `scheduler_interval_ms`, as EventBridge runs
/// the scheduler function in AWS.
pub async fn schedule(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(app.config.scheduler_interval_ms);
    loop {
        if let Err(e) = switchboard::services::scheduler::tick(&app).await {
            tracing::warn!(error = %e, "scheduler tick failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
