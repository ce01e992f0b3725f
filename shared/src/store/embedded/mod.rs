//! Embedded adapters: everything in one data directory, no cloud, no network.
//!
//! `<data dir>/switchboard.db` holds the table and the queues (SQLite, WAL);
//! `<data dir>/blobs/` holds the files.

mod blobs;
mod queue;
mod sqlite;
mod table;

pub use blobs::FolderBlobs;
pub use queue::{DeadLetter, EmbeddedQueue};
pub use sqlite::Database;
pub use table::EmbeddedTable;
