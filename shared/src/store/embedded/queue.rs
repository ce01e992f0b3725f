//! [`Queue`] on SQLite, in the same file as the table, with SQS's semantics.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{TransactionBehavior, params};

use super::sqlite::{Database, backend};
use crate::store::{Message, Queue, StoreError, StoreResult};

/// Longest delay SQS accepts; the embedded queue keeps the same bound.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// Where messages go after too many receives.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Name of the dead-letter queue.
    pub queue: String,
    /// Receives after which a message moves there.
    pub max_receives: u32,
}

/// One named queue in the embedded database.
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Arc<Database>,
    name: String,
    dead_letter: Option<DeadLetter>,
}

impl EmbeddedQueue {
    /// A queue handle; queues need no creation.
    pub fn new(
        db: Arc<Database>,
        name: impl Into<String>,
        dead_letter: Option<DeadLetter>,
    ) -> Self {
        Self {
            db,
            name: name.into(),
            dead_letter,
        }
    }

    /// Name of this queue.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages waiting (visible or not) — for tests and the local dashboard.
    pub fn depth(&self) -> StoreResult<u64> {
        self.db.read(|c| {
            c.query_row(
                "SELECT count(*) FROM messages WHERE queue = ?1",
                [&self.name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(backend)
        })
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<String> {
        if delay > MAX_DELAY {
            return Err(StoreError::Backend(format!(
                "delay {delay:?} is over the 15 minute maximum"
            )));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_ms();
        self.db.write(|c| {
            c.prepare_cached(
                "INSERT INTO messages (id, queue, body, visible_at, receive_count, sent_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
            )
            .map_err(backend)?
            .execute(params![id, self.name, body, now + delay.as_millis() as i64, now])
            .map_err(backend)
        })?;
        Ok(id)
    }

    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<Message>> {
        let max = max.clamp(1, 10);
        let now = now_ms();
        self.db.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
            let mut out = Vec::new();
            {
                let mut pick = tx
                    .prepare_cached(
                        "SELECT id, body, receive_count FROM messages WHERE queue = ?1 AND visible_at <= ?2
                         ORDER BY visible_at, id LIMIT ?3",
                    )
                    .map_err(backend)?;
                // Over-fetch so messages moved to the dead-letter queue do not
                // leave the batch short.
                let rows = pick
                    .query_map(params![self.name, now, (max * 2) as i64], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)? as u32))
                    })
                    .map_err(backend)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?;
                for (id, body, count) in rows {
                    if out.len() == max {
                        break;
                    }
                    if let Some(dl) = &self.dead_letter
                        && count >= dl.max_receives
                    {
                        tx.execute(
                            "UPDATE messages SET queue = ?2, receive_count = 0, receipt = NULL, visible_at = ?3 WHERE id = ?1",
                            params![id, dl.queue, now],
                        )
                        .map_err(backend)?;
                        continue;
                    }
                    let receipt = uuid::Uuid::new_v4().to_string();
                    tx.execute(
                        "UPDATE messages SET receive_count = receive_count + 1, receipt = ?2, visible_at = ?3 WHERE id = ?1",
                        params![id, receipt, now + visibility.as_millis() as i64],
                    )
                    .map_err(backend)?;
                    out.push(Message { id, receipt, body, receive_count: count + 1 });
                }
            }
            tx.commit().map_err(backend)?;
            Ok(out)
        })
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        self.db.write(|c| {
            c.execute(
                "DELETE FROM messages WHERE queue = ?1 AND receipt = ?2",
                params![self.name, receipt],
            )
            .map(|_| ())
            .map_err(backend)
        })
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> StoreResult<()> {
        let at = now_ms() + visibility.as_millis() as i64;
        self.db.write(|c| {
            c.execute(
                "UPDATE messages SET visible_at = ?3 WHERE queue = ?1 AND receipt = ?2",
                params![self.name, receipt, at],
            )
            .map(|_| ())
            .map_err(backend)
        })
    }
}
