//! One reader of a tenant's inbox feed per relay process, shared by all of
//! that tenant's inbox sockets here: it runs while at least one socket
//! listens, reads the feed every [`POLL`] (the API may run in another
//! process, in Lambda, so the table is the only way news arrives), and
//! passes each entry on once through a broadcast channel of [`QUEUE`]
//! entries. A socket that falls that far behind is told so and closed;
//! memory stays bounded whatever its reader does.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use switchboard::App;
use switchboard::domain::Tenant;
use switchboard::services::conversations::feed::{self, FeedEntry};
use tokio::sync::broadcast;

/// How often the feed is read.
pub const POLL: Duration = Duration::from_millis(200);
/// Entries a socket may fall behind before it is closed.
pub const QUEUE: usize = 512;
/// Most entries one read takes in; more wait for the next read.
const MAX_PER_READ: usize = 1000;

/// One entry of a tenant's feed, shared by its sockets.
pub type Shared = Arc<FeedEntry>;

/// The running readers by tenant partition.
static READERS: LazyLock<Mutex<HashMap<String, broadcast::Sender<Shared>>>> =
    LazyLock::new(Default::default);

fn readers() -> std::sync::MutexGuard<'static, HashMap<String, broadcast::Sender<Shared>>> {
    READERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The tenant's feed from now on, starting its reader if none runs.
pub fn subscribe(app: &Arc<App>, tenant: &Tenant) -> broadcast::Receiver<Shared> {
    let key = tenant.pk();
    let mut running = readers();
    if let Some(tx) = running.get(&key) {
        return tx.subscribe();
    }
    let (tx, rx) = broadcast::channel(QUEUE);
    running.insert(key.clone(), tx.clone());
    tokio::spawn(read(app.clone(), tenant.clone(), key, tx));
    rx
}

/// Reads the tenant's feed until no socket listens.
async fn read(app: Arc<App>, tenant: Tenant, key: String, tx: broadcast::Sender<Shared>) {
    let start = app.now().timestamp_millis();
    let look_back = feed::LOOK_BACK.as_millis() as i64;
    // Ids passed on, with their time: forgotten once out of the window.
    let mut passed: HashMap<String, i64> = HashMap::new();
    // Where to go on when the last read was cut at MAX_PER_READ.
    let mut backlog: Option<i64> = None;
    let mut failing = false;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        {
            // Under the lock, so a socket subscribing now finds a reader.
            let mut running = readers();
            if tx.receiver_count() == 0 {
                running.remove(&key);
                return;
            }
        }
        let now = app.now().timestamp_millis();
        let from = backlog.unwrap_or(now - look_back).max(start);
        let entries = match feed::since(&app, &tenant, from, MAX_PER_READ).await {
            Ok(entries) => {
                if failing {
                    tracing::info!(tenant = %key, "the inbox feed reads again");
                    failing = false;
                }
                entries
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(tenant = %key, error = %e, "the inbox feed cannot be read; retrying");
                    failing = true;
                }
                continue;
            }
        };
        backlog = (entries.len() >= MAX_PER_READ)
            .then(|| entries.last().map(|e| e.at_ms))
            .flatten();
        for entry in entries {
            if passed.insert(entry.id.clone(), entry.at_ms).is_none() {
                // No receiver left: the next tick stops the reader.
                let _ = tx.send(Arc::new(entry));
            }
        }
        // No later read starts before this.
        let floor = from.min(now - look_back);
        passed.retain(|_, at| *at >= floor);
    }
}
