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
    stop: watch::Receiver<bool>,
    key: fn(&str) -> String,
    handle: F,
) where
    F: Fn(Arc<App>, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let handle = Arc::new(handle);
    drive_messages(app, queue, stop, Pool::default(), key, move |app, m| {
        let handle = handle.clone();
        async move {
            handle(app, m.body).await.map_err(|reason| Kept {
                reason,
                retry_after: None,
            })
        }
    })
    .await
}

/// How many handlers of one queue run at once.
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    /// Handlers running at once.
    pub concurrency: usize,
    /// Handlers of one fairness key running at once.
    pub per_key: usize,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            concurrency: CONCURRENCY,
            per_key: PER_KEY,
        }
    }
}

/// A message its handler did not finish: it stays on the queue.
#[derive(Debug)]
pub struct Kept {
    /// Why (logged).
    pub reason: String,
    /// When it comes back; `None`: an exponential backoff on its receive count.
    pub retry_after: Option<Duration>,
}

/// [`drive`] for handlers that see the whole message (its receive count)
/// and choose when a kept message comes back, within `pool`.
pub async fn drive_messages<F, Fut>(
    app: Arc<App>,
    queue: &'static str,
    mut stop: watch::Receiver<bool>,
    pool: Pool,
    key: fn(&str) -> String,
    handle: F,
) where
    F: Fn(Arc<App>, Message) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), Kept>> + Send + 'static,
{
    let Ok(q) = app.queue(queue).cloned() else {
        tracing::error!(queue, "queue not configured; its worker does not run");
        return;
    };
    let handle = Arc::new(handle);
    let mut fair: FairQueue<Message> = FairQueue::new(pool.per_key);
    let mut running: JoinSet<()> = JoinSet::new();
    let mut keys: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        while running.len() < pool.concurrency {
            let Some((k, m)) = fair.start_next() else {
                break;
            };
            // Its wait counted against the visibility timeout: restart it.
            let _ = q.change_visibility(&m.receipt, VISIBILITY).await;
            let (app, q, handle) = (app.clone(), q.clone(), handle.clone());
            let task = running.spawn(async move {
                let (receipt, id, count) = (m.receipt.clone(), m.id.clone(), m.receive_count);
                match handle(app, m).await {
                    Ok(()) => {
                        if let Err(e) = q.delete(&receipt).await {
                            tracing::warn!(queue, error = %e, "delete failed; the message will come back");
                        }
                    }
                    Err(kept) => {
                        tracing::warn!(queue, message = %id, attempt = count, error = %kept.reason, "handler failed");
                        // Retry soon rather than after the whole visibility timeout.
                        let backoff = kept
                            .retry_after
                            .unwrap_or_else(|| Duration::from_secs(2u64.pow(count.min(6))));
                        let _ = q.change_visibility(&receipt, backoff).await;
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

/// The fairness key of a webhook-queue message: its receiver (endpoint),
/// so one slow or dead endpoint's deliveries hold at most
/// [`WEBHOOK_POOL`]`.per_key` slots and never the others' turn; an
/// outgoing SMS's is its org's Twilio sending.
pub fn receiver_key(body: &str) -> String {
    if let Some(job) = switchboard::services::conversations::SmsJob::of_body(body) {
        return format!("{}#sms", job.org_id);
    }
    serde_json::from_str::<switchboard::services::webhooks::DeliveryMessage>(body)
        .map(|m| format!("{}#{}", m.org_id, m.receiver))
        .unwrap_or_default()
}

/// The webhook worker's pool: deliveries mostly wait on the network (each
/// at most 10 s), so many run at once, few per receiver.
pub const WEBHOOK_POOL: Pool = Pool {
    concurrency: 32,
    per_key: 4,
};

/// Runs one webhook-queue message through the delivery worker the Lambda
/// function runs, keeping it for the backoff the delivery chose.
pub async fn deliver_webhook(app: Arc<App>, m: Message) -> Result<(), Kept> {
    match switchboard_functions::webhook_worker::handle_message(&app, &m.body, m.receive_count)
        .await
    {
        Ok(None) => Ok(()),
        Ok(Some(after)) => Err(Kept {
            reason: "the delivery will be retried".into(),
            retry_after: Some(after),
        }),
        Err(reason) => Err(Kept {
            reason,
            retry_after: None,
        }),
    }
}
