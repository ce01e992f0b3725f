//! The SQLite file behind the embedded [`Table`](crate::store::Table) and
//! [`Queue`](crate::store::Queue).
//!
//! One database file in WAL mode, shared safely by several processes (the local
//! server and functions run by `cargo lambda watch`). Each process keeps one
//! writer and a small pool of readers; statements are microseconds long, so
//! they run inline on the async worker rather than paying a thread hop per call.

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

/// Connections to one SQLite file: one writer and a small pool of readers.
///
/// Writes go through the single writer connection, so writers of this process
/// queue on a mutex (microseconds) instead of on SQLite's busy handler, which
/// sleeps in millisecond steps and would wreck tail latency. Readers never
/// wait for the writer (WAL). Other processes sharing the file still
/// serialise through SQLite's lock and the busy timeout.
pub struct Database {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

fn connect(path: &Path) -> StoreResult<Connection> {
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
    Ok(conn)
}

impl Database {
    /// Opens (creating if needed) the database file and its schema, with
    /// `readers` reader connections beside the writer.
    pub fn open(path: &Path, readers: usize) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        }
        let writer = connect(path)?;
        writer.execute_batch(SCHEMA).map_err(backend)?;
        let readers = (0..readers.max(1))
            .map(|_| connect(path).map(Mutex::new))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs a read on a free reader connection (or waits for the next in turn).
    pub fn read<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let n = self.readers.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(mut conn) = self.readers[(start + i) % n].try_lock() {
                return f(&mut conn);
            }
        }
        let mut conn = self.readers[start % n]
            .lock()
            .map_err(|_| StoreError::Backend("database connection poisoned".into()))?;
        f(&mut conn)
    }

    /// Runs a write (or a read that must see the latest writes of other
    /// processes inside a write transaction) on the writer connection.
    pub fn write<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("database connection poisoned".into()))?;
        f(&mut conn)
    }
}

/// Maps a SQLite error to a backend error.
pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}
