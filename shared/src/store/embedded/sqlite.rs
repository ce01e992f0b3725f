//! The SQLite file behind the embedded [`Table`](crate::store::Table) and
//! [`Queue`](crate::store::Queue).
//!
//! One database file in WAL mode, shared safely by several processes (the local
//! server and functions run by `cargo lambda watch`). Each process keeps a small
//! pool of connections; statements are microseconds long, so they run inline on
//! the async worker rather than paying a thread hop per call.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::store::{StoreError, StoreResult};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk      TEXT NOT NULL,
    sk      TEXT NOT NULL,
    g1pk    TEXT,
    g1sk    TEXT,
    g2pk    TEXT,
    g2sk    TEXT,
    ttl     INTEGER,
    version INTEGER NOT NULL DEFAULT 0,
    n       INTEGER,
    data    TEXT,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (g1pk, g1sk, pk, sk) WHERE g1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (g2pk, g2sk, pk, sk) WHERE g2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_ttl ON items (ttl) WHERE ttl IS NOT NULL;

CREATE TABLE IF NOT EXISTS messages (
    id            TEXT PRIMARY KEY,
    queue         TEXT NOT NULL,
    body          TEXT NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT,
    sent_at       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at);
CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages (receipt) WHERE receipt IS NOT NULL;
";

/// A pool of connections to one SQLite file.
pub struct Database {
    connections: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Database {
    /// Opens (creating if needed) the database file and its schema.
    pub fn open(path: &Path, pool_size: usize) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        }
        let mut connections = Vec::with_capacity(pool_size.max(1));
        for i in 0..pool_size.max(1) {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(backend)?;
            // Several processes may share the file: wait for the write lock
            // instead of failing, and let readers run beside one writer (WAL).
            conn.busy_timeout(Duration::from_secs(10))
                .map_err(backend)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(backend)?;
            // NORMAL is durable across application crashes in WAL mode; only a
            // power loss can drop the last transactions.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(backend)?;
            conn.pragma_update(None, "foreign_keys", "ON")
                .map_err(backend)?;
            if i == 0 {
                conn.execute_batch(SCHEMA).map_err(backend)?;
            }
            connections.push(Mutex::new(conn));
        }
        Ok(Self {
            connections,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a free connection (or waits for the next in turn).
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let n = self.connections.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(mut conn) = self.connections[(start + i) % n].try_lock() {
                return f(&mut conn);
            }
        }
        let mut conn = self.connections[start % n]
            .lock()
            .map_err(|_| StoreError::Backend("database connection poisoned".into()))?;
        f(&mut conn)
    }
}

/// Maps a SQLite error to a backend error.
pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}
