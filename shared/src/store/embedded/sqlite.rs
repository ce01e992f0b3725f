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

/// How long a connection waits for another process's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    // Switching a new file to WAL needs its exclusive lock. SQLite answers
    // BUSY at once, without the busy handler, when another process is
    // opening the same new file, so the switch is retried here.
    retry_busy(|| conn.pragma_update(None, "journal_mode", "WAL")).map_err(backend)?;
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
        // In one write transaction: taking the write lock first waits for
        // other processes through the busy handler.
        writer
            .execute_batch(&format!("BEGIN IMMEDIATE;{SCHEMA}COMMIT;"))
            .map_err(backend)?;
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

/// Runs `f` again while SQLite answers BUSY, for up to the busy timeout.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// Maps a SQLite error to a backend error.
pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another process in a write transaction on a new file (still in
    /// rollback-journal mode) makes SQLite refuse the switch to WAL at once;
    /// opening waits for it instead of failing.
    #[test]
    fn opening_waits_for_another_process_creating_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.db");
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("CREATE TABLE early (x); BEGIN IMMEDIATE; INSERT INTO early VALUES (1);")
            .unwrap();
        let finish = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        let db = Database::open(&path, 1).expect("open waits for the other writer");
        finish.join().unwrap();
        let mode: String = db
            .read(|c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(backend)
            })
            .unwrap();
        assert_eq!(mode, "wal");
        let early: i64 = db
            .read(|c| {
                c.query_row("SELECT count(*) FROM early", [], |r| r.get(0))
                    .map_err(backend)
            })
            .unwrap();
        assert_eq!(early, 1, "the other process's write is kept");
    }
}
