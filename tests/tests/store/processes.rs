//! The embedded store shared by several processes at once (the local server
//! and functions under `cargo lambda watch` do this): no write is lost.

use std::sync::Arc;

use switchboard::store::embedded::{Database, EmbeddedTable};
use switchboard::store::{Query, Table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_processes_share_one_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let n = 150;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            std::process::Command::new(env!("CARGO_BIN_EXE_store-writer"))
                .args([dir.path().to_str().unwrap(), &w.to_string(), &n.to_string()])
                .spawn()
                .expect("spawn store-writer")
        })
        .collect();
    for mut w in writers {
        assert!(w.wait().unwrap().success(), "a writer failed");
    }
    let table = EmbeddedTable::new(Arc::new(
        Database::open(&dir.path().join("switchboard.db"), 1).unwrap(),
    ));
    assert_eq!(
        table.counter("SHARED", "hits").await.unwrap(),
        4 * n as i64,
        "every add counted"
    );
    assert_eq!(table.counter("SHARED", "tx").await.unwrap(), 4 * n as i64);
    let mut count = 0;
    let mut cursor = None;
    loop {
        let page = table
            .query(Query::partition("SHARED").prefix("W#").after(cursor.take()))
            .await
            .unwrap();
        count += page.items.len();
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(count, 4 * n, "every put stored");
}
