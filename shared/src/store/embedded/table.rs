//! [`Table`] on SQLite: one `items` table whose columns mirror the DynamoDB
//! design (pk, sk, two index key pairs, ttl, version, counter, JSON document).

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde_json::Value;

use super::sqlite::{Database, backend};
use crate::store::{
    Condition, Cursor, Index, IndexKey, Item, MAX_TRANSACTION_WRITES, Page, Query, SortKey,
    StoreError, StoreResult, Table, Write, document_text,
};

/// The embedded item table.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
}

impl EmbeddedTable {
    /// A table over an open database.
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// Physically removes expired items (they already read as absent). Run it
    /// from time to time, as DynamoDB's TTL sweeper would.
    pub fn purge_expired(&self) -> StoreResult<usize> {
        let now = now_secs();
        self.db.write(|c| {
            c.execute(
                "DELETE FROM items WHERE ttl IS NOT NULL AND ttl <= ?1",
                [now],
            )
            .map_err(backend)
        })
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

const COLUMNS: &str = "pk, sk, g1pk, g1sk, g2pk, g2sk, ttl, version, data";

fn row_to_item(row: &Row<'_>) -> rusqlite::Result<Item> {
    let pair = |p: Option<String>, s: Option<String>| match (p, s) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    let data: Option<String> = row.get(8)?;
    let data = match data {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, Box::new(e))
        })?,
        None => Value::Null,
    };
    Ok(Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        gsi1: pair(row.get(2)?, row.get(3)?),
        gsi2: pair(row.get(4)?, row.get(5)?),
        ttl: row.get(6)?,
        version: row.get::<_, i64>(7)? as u64,
        data,
    })
}

/// The live (not expired) item at `pk`/`sk` inside a transaction.
fn live_item(tx: &Transaction<'_>, pk: &str, sk: &str, now: i64) -> StoreResult<Option<Item>> {
    tx.query_row(
        &format!(
            "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)"
        ),
        params![pk, sk, now],
        row_to_item,
    )
    .optional()
    .map_err(backend)
}

fn check(existing: Option<&Item>, condition: Condition) -> StoreResult<()> {
    let ok = match condition {
        Condition::None => true,
        Condition::MustNotExist => existing.is_none(),
        Condition::MustExist => existing.is_some(),
        Condition::VersionEquals(v) => existing.is_some_and(|i| i.version == v),
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::ConditionFailed)
    }
}

fn apply(tx: &Transaction<'_>, write: Write, now: i64) -> StoreResult<Option<Item>> {
    match write {
        Write::Put(mut item, condition) => {
            let data = document_text(&item)?;
            let existing = live_item(tx, &item.pk, &item.sk, now)?;
            check(existing.as_ref(), condition)?;
            item.version = match condition {
                Condition::VersionEquals(v) => v + 1,
                _ => existing.map_or(1, |e| e.version + 1),
            };
            tx.execute(
                "INSERT OR REPLACE INTO items (pk, sk, g1pk, g1sk, g2pk, g2sk, ttl, version, n, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9)",
                params![
                    item.pk,
                    item.sk,
                    item.gsi1.as_ref().map(|k| &k.pk),
                    item.gsi1.as_ref().map(|k| &k.sk),
                    item.gsi2.as_ref().map(|k| &k.pk),
                    item.gsi2.as_ref().map(|k| &k.sk),
                    item.ttl,
                    item.version as i64,
                    data
                ],
            )
            .map_err(backend)?;
            Ok(Some(item))
        }
        Write::Delete { pk, sk, condition } => {
            let existing = live_item(tx, &pk, &sk, now)?;
            check(existing.as_ref(), condition)?;
            tx.execute(
                "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
                params![pk, sk],
            )
            .map_err(backend)?;
            Ok(existing)
        }
        Write::Check { pk, sk, condition } => {
            let existing = live_item(tx, &pk, &sk, now)?;
            check(existing.as_ref(), condition)?;
            Ok(None)
        }
        Write::Add { pk, sk, delta } => {
            add_counter(tx, &pk, &sk, delta, None, now)?;
            Ok(None)
        }
    }
}

/// The SQL condition (` AND …`) of a sort-key range on `sk_col`, its
/// values appended to `args`.
fn sort_key_clause(sk_col: &str, sk: &SortKey, args: &mut Vec<rusqlite::types::Value>) -> String {
    let mut arg = |v: String| {
        args.push(v.into());
        format!("?{}", args.len())
    };
    match sk {
        SortKey::All => String::new(),
        SortKey::Prefix(p) => {
            // Range form of begins_with, so the index is used: [p, p + U+10FFFF).
            let lo = arg(p.clone());
            let hi = arg(format!("{p}\u{10FFFF}"));
            format!(" AND {sk_col} >= {lo} AND {sk_col} < {hi}")
        }
        SortKey::Between(a, b) => {
            let lo = arg(a.clone());
            let hi = arg(b.clone());
            format!(" AND {sk_col} >= {lo} AND {sk_col} <= {hi}")
        }
        SortKey::From(a) => format!(" AND {sk_col} >= {}", arg(a.clone())),
        SortKey::To(b) => format!(" AND {sk_col} <= {}", arg(b.clone())),
    }
}

fn add_counter(
    conn: &rusqlite::Connection,
    pk: &str,
    sk: &str,
    delta: i64,
    ttl: Option<i64>,
    now: i64,
) -> StoreResult<i64> {
    // An expired counter starts again from zero, as a TTL-deleted item would.
    conn.query_row(
        "INSERT INTO items (pk, sk, ttl, version, n) VALUES (?1, ?2, ?4, 1, ?3)
         ON CONFLICT (pk, sk) DO UPDATE SET
           n = CASE WHEN items.ttl IS NOT NULL AND items.ttl <= ?5 THEN ?3 ELSE coalesce(items.n, 0) + ?3 END,
           ttl = coalesce(?4, items.ttl),
           version = items.version + 1
         RETURNING n",
        params![pk, sk, delta, ttl, now],
        |r| r.get(0),
    )
    .map_err(backend)
}

fn write_txn<T>(
    db: &Database,
    f: impl FnOnce(&Transaction<'_>, i64) -> StoreResult<T>,
) -> StoreResult<T> {
    db.write(|conn| {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let out = f(&tx, now_secs())?;
        tx.commit().map_err(backend)?;
        Ok(out)
    })
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        let now = now_secs();
        self.db.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3) AND data IS NOT NULL"
            ))
            .map_err(backend)?
            .query_row(params![pk, sk, now], row_to_item)
            .optional()
            .map_err(backend)
        })
    }

    async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item> {
        write_txn(&self.db, |tx, now| {
            apply(tx, Write::Put(item, condition), now)
        })?
        .ok_or_else(|| StoreError::Backend("put returned nothing".into()))
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> StoreResult<Option<Item>> {
        let write = Write::Delete {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
            condition,
        };
        write_txn(&self.db, |tx, now| apply(tx, write, now))
    }

    async fn query(&self, q: Query) -> StoreResult<Page> {
        let (pk_col, sk_col) = match q.index {
            Index::Primary => ("pk", "sk"),
            Index::Gsi1 => ("g1pk", "g1sk"),
            Index::Gsi2 => ("g2pk", "g2sk"),
        };
        let mut sql = format!(
            "SELECT {COLUMNS} FROM items WHERE {pk_col} = ?1 AND (ttl IS NULL OR ttl > ?2) AND data IS NOT NULL"
        );
        let mut args: Vec<rusqlite::types::Value> = vec![q.pk.clone().into(), now_secs().into()];
        sql += &sort_key_clause(sk_col, &q.sk, &mut args);
        let arg = |v: String, args: &mut Vec<rusqlite::types::Value>| {
            args.push(v.into());
            format!("?{}", args.len())
        };
        let cmp = if q.forward { ">" } else { "<" };
        let dir = if q.forward { "ASC" } else { "DESC" };
        if let Some(cursor) = &q.cursor {
            let last = cursor.last_key(&q)?;
            if q.index == Index::Primary {
                sql += &format!(" AND sk {cmp} {}", arg(last.sk, &mut args));
            } else {
                let a = arg(last.index_sk.unwrap_or_default(), &mut args);
                let b = arg(last.pk, &mut args);
                let c = arg(last.sk, &mut args);
                sql += &format!(" AND ({sk_col}, pk, sk) {cmp} ({a}, {b}, {c})");
            }
        }
        if q.index == Index::Primary {
            sql += &format!(" ORDER BY sk {dir}");
        } else {
            sql += &format!(" ORDER BY {sk_col} {dir}, pk {dir}, sk {dir}");
        }
        sql += &format!(" LIMIT {}", q.limit + 1);

        let mut items = self.db.read(|c| {
            let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), row_to_item)
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })?;
        let next = if items.len() > q.limit {
            items.truncate(q.limit);
            items.last().map(|last| Cursor::after_item(last, &q))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
        if writes.len() > MAX_TRANSACTION_WRITES {
            return Err(StoreError::TooLarge(format!(
                "{} writes in one transaction",
                writes.len()
            )));
        }
        write_txn(&self.db, |tx, now| {
            for w in writes {
                apply(tx, w, now)?;
            }
            Ok(())
        })
    }

    async fn add(&self, pk: &str, sk: &str, delta: i64, ttl: Option<i64>) -> StoreResult<i64> {
        let now = now_secs();
        self.db.write(|c| add_counter(c, pk, sk, delta, ttl, now))
    }

    async fn counters(&self, pk: &str, range: SortKey) -> StoreResult<Vec<(String, i64)>> {
        let mut args: Vec<rusqlite::types::Value> = vec![pk.to_owned().into(), now_secs().into()];
        let sql = format!(
            "SELECT sk, n FROM items WHERE pk = ?1 AND (ttl IS NULL OR ttl > ?2) AND n IS NOT NULL{} ORDER BY sk",
            sort_key_clause("sk", &range, &mut args)
        );
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
    }

    async fn counter(&self, pk: &str, sk: &str) -> StoreResult<i64> {
        let now = now_secs();
        self.db.read(|c| {
            c.prepare_cached("SELECT coalesce(n, 0) FROM items WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)")
                .map_err(backend)?
                .query_row(params![pk, sk, now], |r| r.get(0))
                .optional()
                .map(|n| n.unwrap_or(0))
                .map_err(backend)
        })
    }
}
