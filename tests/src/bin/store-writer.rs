//! `store-writer <data dir> <writer id> <n>`: a separate process that writes to
//! the embedded store (n counter adds, n conditional puts, n transactions) — the
//! multi-process test runs several at once on one SQLite file.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::json;
use switchboard::store::embedded::{Database, EmbeddedTable};
use switchboard::store::{Condition, Item, Table, Write};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().context("data dir")?;
    let id = args.next().context("writer id")?;
    let n: usize = args.next().context("count")?.parse()?;
    let db = Arc::new(Database::open(
        &std::path::Path::new(&dir).join("switchboard.db"),
        2,
    )?);
    let table = EmbeddedTable::new(db);
    for i in 0..n {
        table.add("SHARED", "hits", 1, None).await?;
        table
            .put(
                Item::new(
                    "SHARED",
                    format!("W#{id}#{i:04}"),
                    json!({"writer": id, "i": i}),
                ),
                Condition::MustNotExist,
            )
            .await?;
        table
            .transact(vec![
                Write::Add {
                    pk: "SHARED".into(),
                    sk: "tx".into(),
                    delta: 1,
                },
                Write::Put(
                    Item::new("SHARED", format!("T#{id}#{i:04}"), json!({})),
                    Condition::MustNotExist,
                ),
            ])
            .await?;
    }
    Ok(())
}
