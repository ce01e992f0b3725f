//! Storage ports — the three things Switchboard persists — and their adapters.
//!
//! * [`Table`]: items addressed by a partition key and a sort key, with up to two
//!   secondary index key pairs, a TTL and an optimistic-concurrency version. The
//!   shape is DynamoDB's single-table design; the embedded adapter reproduces it on
//!   SQLite so both backends behave the same (one conformance suite proves it).
//! * [`Blobs`]: files (documents, recordings) with signed, expiring download links.
//! * [`Queue`]: at-least-once messages with delay, visibility timeout and a
//!   dead-letter queue after N receives (SQS semantics).
//!
//! Services hold these as `Arc<dyn Port>` inside [`crate::App`]; only
//! [`crate::config`] chooses the adapters.

#[cfg(feature = "aws")]
pub mod aws;
mod cursor;
pub mod embedded;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use cursor::{Cursor, LastKey};

/// Errors a store port can return. Adapters map their backend's errors here so
/// services never see an SDK or SQLite type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's [`Condition`] did not hold (or, in a transaction, one of them).
    #[error("condition failed")]
    ConditionFailed,
    /// A cursor that this store did not issue, or for another query.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The item is larger than the backend accepts.
    #[error("item too large: {0}")]
    TooLarge(String),
    /// The backend failed (I/O, network, throttling). Never caused by user input.
    #[error("store backend: {0}")]
    Backend(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A secondary index key pair: items with the pair set appear in that index,
/// ordered by `sk` within `pk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    /// Partition key in the index.
    pub pk: String,
    /// Sort key in the index.
    pub sk: String,
}

impl IndexKey {
    /// Builds an index key pair.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item. `data` is the item's JSON document; keys live beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Partition key. Tenant-owned items always start with the tenant prefix.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// First secondary index pair (GSI1).
    pub gsi1: Option<IndexKey>,
    /// Second secondary index pair (GSI2).
    pub gsi2: Option<IndexKey>,
    /// Expiry as unix seconds; an expired item reads as absent even before the
    /// backend removes it.
    pub ttl: Option<i64>,
    /// Optimistic-concurrency version: 1 on first write, +1 on every
    /// conditional update. Set by the store on write.
    pub version: u64,
    /// The document.
    pub data: Value,
}

impl Item {
    /// A new item with no index keys, TTL or version yet.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, data: Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            gsi1: None,
            gsi2: None,
            ttl: None,
            version: 0,
            data,
        }
    }

    /// Sets the first index pair.
    pub fn with_gsi1(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi1 = Some(IndexKey::new(pk, sk));
        self
    }

    /// Sets the second index pair.
    pub fn with_gsi2(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi2 = Some(IndexKey::new(pk, sk));
        self
    }

    /// Sets the expiry (unix seconds).
    pub fn with_ttl(mut self, ttl: i64) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Deserializes the document into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> StoreResult<T> {
        T::deserialize(&self.data)
            .map_err(|e| StoreError::Backend(format!("corrupt item {}/{}: {e}", self.pk, self.sk)))
    }
}

/// The precondition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Write unconditionally. A put stores version `previous + 1` (1 if new;
    /// an expired item not yet swept may count either way).
    None,
    /// The item must not exist (an expired item counts as absent).
    MustNotExist,
    /// The item must exist.
    MustExist,
    /// The stored version must equal this value (optimistic concurrency). A put
    /// then stores version `value + 1`.
    VersionEquals(u64),
}

/// Which key set a query walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Index {
    /// The table's own `pk`/`sk`.
    #[default]
    Primary,
    /// Secondary index 1.
    Gsi1,
    /// Secondary index 2.
    Gsi2,
}

/// Constraint on the sort key within the queried partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Every item of the partition.
    #[default]
    All,
    /// Sort keys starting with this prefix.
    Prefix(String),
    /// Sort keys in `[from, to]` (both inclusive, byte order).
    Between(String, String),
    /// Sort keys `>= from`.
    From(String),
    /// Sort keys `<= to`.
    To(String),
}

/// A query over one partition of the table or of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Which key set.
    pub index: Index,
    /// Partition key (of the chosen index).
    pub pk: String,
    /// Sort-key constraint.
    pub sk: SortKey,
    /// Ascending sort-key order when true.
    pub forward: bool,
    /// Most items to return (at least 1).
    pub limit: usize,
    /// Continue after the last item of a previous page.
    pub cursor: Option<Cursor>,
}

impl Query {
    /// A forward query over the whole of partition `pk`, 100 items a page.
    pub fn partition(pk: impl Into<String>) -> Self {
        Self {
            index: Index::Primary,
            pk: pk.into(),
            sk: SortKey::All,
            forward: true,
            limit: 100,
            cursor: None,
        }
    }

    /// Same query on a secondary index.
    pub fn on(mut self, index: Index) -> Self {
        self.index = index;
        self
    }

    /// Restricts to sort keys starting with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sk = SortKey::Prefix(prefix.into());
        self
    }

    /// Restricts the sort key.
    pub fn sort_key(mut self, sk: SortKey) -> Self {
        self.sk = sk;
        self
    }

    /// Newest (greatest sort key) first.
    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    /// Page size.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// Resume from a cursor.
    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Items in key order.
    pub items: Vec<Item>,
    /// Where the next page starts; `None` when this was the last page.
    pub next: Option<Cursor>,
}

/// One write inside [`Table::transact`].
#[derive(Debug, Clone)]
pub enum Write {
    /// Put a whole item under a condition.
    Put(Item, Condition),
    /// Delete an item under a condition.
    Delete {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Precondition.
        condition: Condition,
    },
    /// Only check a condition on an item.
    Check {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Precondition.
        condition: Condition,
    },
    /// Atomically add `delta` to the item's counter (creating it at 0).
    Add {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// Amount to add (may be negative).
        delta: i64,
    },
}

/// The item table port (DynamoDB's model).
#[async_trait]
pub trait Table: Send + Sync {
    /// Reads one item; expired items read as `None`.
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>>;

    /// Writes a whole item if `condition` holds and returns it with its new
    /// version.
    async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item>;

    /// Deletes an item if `condition` holds; returns what was there.
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> StoreResult<Option<Item>>;

    /// Reads one page of a partition (of the table or of an index).
    async fn query(&self, query: Query) -> StoreResult<Page>;

    /// Applies all writes or none (at most 25, DynamoDB's limit before 2022 and
    /// still a sensible bound). Any failed condition fails the whole
    /// transaction with [`StoreError::ConditionFailed`].
    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()>;

    /// Atomically adds `delta` to the counter of item `pk`/`sk` (creating the
    /// item at 0 with the given TTL) and returns the new value. Counters are
    /// separate from documents: an item used as a counter has no `data`.
    async fn add(&self, pk: &str, sk: &str, delta: i64, ttl: Option<i64>) -> StoreResult<i64>;

    /// Reads a counter (0 when absent or expired).
    async fn counter(&self, pk: &str, sk: &str) -> StoreResult<i64>;

    /// Every live counter of partition `pk` whose sort key is in `range`, as
    /// `(sort key, value)` in sort-key order: a whole set of counters (the
    /// analytics of a month) in one query.
    async fn counters(&self, pk: &str, range: SortKey) -> StoreResult<Vec<(String, i64)>>;
}

/// Most writes a [`Table::transact`] accepts.
pub const MAX_TRANSACTION_WRITES: usize = 25;

/// Largest item document (its JSON text) either table accepts: DynamoDB's
/// 400 KB item limit, less room for keys and attribute names. The embedded
/// table enforces it too, so what works locally works in AWS.
pub const MAX_ITEM_BYTES: usize = 390 * 1024;

/// The document of `item` as stored, or [`StoreError::TooLarge`].
pub(crate) fn document_text(item: &Item) -> StoreResult<String> {
    let text = serde_json::to_string(&item.data).map_err(|e| StoreError::Backend(e.to_string()))?;
    if text.len() > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge(format!(
            "the item is {} KB; at most {} KB can be stored",
            text.len() / 1024,
            MAX_ITEM_BYTES / 1024
        )));
    }
    Ok(text)
}

/// A stored file.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// MIME type given at upload.
    pub content_type: String,
}

/// A file's listing entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// The file store port (S3's model). Keys are `/`-separated paths that always
/// start with the tenant prefix for tenant data.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores `bytes` under `key`, replacing any previous file.
    async fn put(&self, key: &str, bytes: bytes::Bytes, content_type: &str) -> StoreResult<()>;
    /// Reads a file.
    async fn get(&self, key: &str) -> StoreResult<Option<Blob>>;
    /// Deletes a file (no error when absent).
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Lists the files whose key starts with `prefix`, in key order.
    async fn list(&self, prefix: &str) -> StoreResult<Vec<BlobInfo>>;
    /// A URL that downloads the file without other credentials until `ttl` passes.
    async fn signed_url(&self, key: &str, ttl: Duration) -> StoreResult<String>;
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Stable id of the message (the same on every delivery).
    pub id: String,
    /// Handle for `delete`/`change_visibility` of this delivery.
    pub receipt: String,
    /// The body as sent.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// The queue port (SQS's model): at-least-once delivery; a message received
/// and not deleted reappears after its visibility timeout; after the queue's
/// `max_receives` it moves to the dead-letter queue instead.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends a message, visible after `delay` (at most 15 minutes).
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<String>;
    /// Sends a message on behalf of `tenant` (an org): where the backend shares
    /// delivery fairly between tenants (SQS fair queues use the message group
    /// id of a standard queue), one tenant's burst does not delay the others'
    /// messages. Elsewhere the same as [`Queue::send`]; the local worker is
    /// fair by the message's key itself.
    async fn send_for(&self, tenant: &str, body: &str, delay: Duration) -> StoreResult<String> {
        let _ = tenant;
        self.send(body, delay).await
    }
    /// Receives up to `max` (1–10) visible messages, hiding each for `visibility`.
    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<Message>>;
    /// Deletes a received message (done processing).
    async fn delete(&self, receipt: &str) -> StoreResult<()>;
    /// Changes how long a received message stays hidden (0 = visible now).
    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> StoreResult<()>;
}
