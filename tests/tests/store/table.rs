//! `Table`: items, conditions, TTL, queries, indexes, transactions, counters.

use std::sync::Arc;

use serde_json::json;
use switchboard::config::Backend;
use switchboard::store::{
    Condition, Cursor, Index, Item, MAX_ITEM_BYTES, Query, SortKey, StoreError, Table, Write,
};
use switchboard_tests::{TestApp, backend_tests};

backend_tests!(
    put_and_get_round_trip_documents_exactly,
    conditions_guard_every_write,
    expired_items_read_as_absent,
    queries_walk_a_partition_in_key_order,
    cursors_resume_exactly_and_only_their_query,
    secondary_indexes_follow_their_keys,
    transactions_apply_all_or_nothing,
    counters_add_atomically,
    oversized_items_are_refused,
);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn pk() -> String {
    format!("P#{}", uuid::Uuid::new_v4().simple())
}

fn table(t: &TestApp) -> Arc<dyn Table> {
    t.app.table.clone()
}

async fn put_and_get_round_trip_documents_exactly(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    let doc = json!({
        "text": "héllo — 你好 👋", "empty": "", "int": 100, "float": 1.0, "neg": -2.5,
        "big": 9_007_199_254_740_993u64, "null": null, "list": [1, "two", {"three": 3}], "nested": {"a": {"b": []}},
    });
    let stored = table
        .put(Item::new(&p, "A", doc.clone()), Condition::None)
        .await
        .unwrap();
    assert_eq!(stored.version, 1);
    let got = table.get(&p, "A").await.unwrap().expect("item");
    assert_eq!(got.data, doc, "the document comes back exactly as written");
    assert_eq!(got.data["float"].to_string(), "1.0", "1.0 stays a float");
    assert_eq!(got.version, 1);
    assert!(got.gsi1.is_none() && got.gsi2.is_none() && got.ttl.is_none());

    let again = table
        .put(Item::new(&p, "A", json!({"v": 2})), Condition::None)
        .await
        .unwrap();
    assert_eq!(again.version, 2, "each write moves the version on");
    assert_eq!(
        table.get(&p, "A").await.unwrap().unwrap().data,
        json!({"v": 2})
    );
    assert_eq!(table.get(&p, "B").await.unwrap(), None);
    assert_eq!(table.get(&pk(), "A").await.unwrap(), None);
}

async fn conditions_guard_every_write(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    let v1 = table
        .put(Item::new(&p, "X", json!({"n": 1})), Condition::MustNotExist)
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let dup = table
        .put(Item::new(&p, "X", json!({"n": 2})), Condition::MustNotExist)
        .await;
    assert!(matches!(dup, Err(StoreError::ConditionFailed)), "{dup:?}");
    assert!(matches!(
        table
            .put(Item::new(&p, "Y", json!({})), Condition::MustExist)
            .await,
        Err(StoreError::ConditionFailed)
    ));
    assert!(matches!(
        table
            .put(
                Item::new(&p, "X", json!({"n": 9})),
                Condition::VersionEquals(7)
            )
            .await,
        Err(StoreError::ConditionFailed)
    ));
    let v2 = table
        .put(
            Item::new(&p, "X", json!({"n": 2})),
            Condition::VersionEquals(1),
        )
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    let v3 = table
        .put(Item::new(&p, "X", json!({"n": 3})), Condition::MustExist)
        .await
        .unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(
        table.get(&p, "X").await.unwrap().unwrap().data,
        json!({"n": 3}),
        "failed writes changed nothing"
    );

    assert!(matches!(
        table.delete(&p, "X", Condition::VersionEquals(2)).await,
        Err(StoreError::ConditionFailed)
    ));
    assert!(matches!(
        table.delete(&p, "nope", Condition::MustExist).await,
        Err(StoreError::ConditionFailed)
    ));
    let old = table
        .delete(&p, "X", Condition::VersionEquals(3))
        .await
        .unwrap()
        .expect("the deleted item");
    assert_eq!(old.data, json!({"n": 3}));
    assert_eq!(table.get(&p, "X").await.unwrap(), None);
    assert_eq!(
        table.delete(&p, "X", Condition::None).await.unwrap(),
        None,
        "deleting nothing is fine"
    );
    let fresh = table
        .put(Item::new(&p, "X", json!({})), Condition::MustNotExist)
        .await
        .unwrap();
    assert_eq!(fresh.version, 1, "a deleted item starts over");
}

async fn expired_items_read_as_absent(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    table
        .put(
            Item::new(&p, "S#old", json!({"a": 1})).with_ttl(now() - 5),
            Condition::None,
        )
        .await
        .unwrap();
    table
        .put(
            Item::new(&p, "S#new", json!({"a": 2})).with_ttl(now() + 3600),
            Condition::None,
        )
        .await
        .unwrap();
    assert_eq!(
        table.get(&p, "S#old").await.unwrap(),
        None,
        "expired reads as absent"
    );
    let live = table.get(&p, "S#new").await.unwrap().expect("live item");
    assert!(
        live.ttl.is_some_and(|t| t > now()),
        "the TTL is kept: {:?}",
        live.ttl
    );
    let page = table
        .query(Query::partition(&p).prefix("S#"))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "queries skip expired items");
    assert_eq!(page.items[0].sk, "S#new");
    // "Must not exist" holds over an expired item, as if the sweeper had run.
    table
        .put(
            Item::new(&p, "S#old", json!({"a": 3})),
            Condition::MustNotExist,
        )
        .await
        .unwrap();
    assert!(matches!(
        table
            .put(Item::new(&p, "S#old", json!({})), Condition::MustNotExist)
            .await,
        Err(StoreError::ConditionFailed)
    ));
    // "Must exist" does not.
    table
        .put(
            Item::new(&p, "S#gone", json!({})).with_ttl(now() - 1),
            Condition::None,
        )
        .await
        .unwrap();
    assert!(matches!(
        table
            .put(Item::new(&p, "S#gone", json!({})), Condition::MustExist)
            .await,
        Err(StoreError::ConditionFailed)
    ));
    // Expired counters count from zero again.
    assert_eq!(table.add(&p, "C", 5, Some(now() - 1)).await.unwrap(), 5);
    assert_eq!(
        table.counter(&p, "C").await.unwrap(),
        0,
        "an expired counter reads 0"
    );
    assert_eq!(
        table.add(&p, "C", 2, Some(now() + 60)).await.unwrap(),
        2,
        "and restarts"
    );
    assert_eq!(table.add(&p, "C", 1, None).await.unwrap(), 3);
}

async fn queries_walk_a_partition_in_key_order(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    for i in [3, 1, 4, 0, 2] {
        table
            .put(
                Item::new(&p, format!("K#{i}"), json!({"i": i})),
                Condition::None,
            )
            .await
            .unwrap();
    }
    table
        .put(Item::new(&p, "L#0", json!({})), Condition::None)
        .await
        .unwrap();
    table.add(&p, "K#counter", 1, None).await.unwrap();
    let sks = |items: &[Item]| items.iter().map(|i| i.sk.clone()).collect::<Vec<_>>();

    let all = table
        .query(Query::partition(&p).prefix("K#"))
        .await
        .unwrap();
    assert_eq!(
        sks(&all.items),
        ["K#0", "K#1", "K#2", "K#3", "K#4"],
        "counters never show up in queries"
    );
    assert_eq!(all.next, None);
    let back = table
        .query(Query::partition(&p).prefix("K#").backward())
        .await
        .unwrap();
    assert_eq!(sks(&back.items), ["K#4", "K#3", "K#2", "K#1", "K#0"]);
    let between = table
        .query(Query::partition(&p).sort_key(SortKey::Between("K#1".into(), "K#3".into())))
        .await
        .unwrap();
    assert_eq!(sks(&between.items), ["K#1", "K#2", "K#3"]);
    let from = table
        .query(Query::partition(&p).sort_key(SortKey::From("K#3".into())))
        .await
        .unwrap();
    assert_eq!(sks(&from.items), ["K#3", "K#4", "L#0"]);
    let to = table
        .query(Query::partition(&p).sort_key(SortKey::To("K#1".into())))
        .await
        .unwrap();
    assert_eq!(sks(&to.items), ["K#0", "K#1"]);
    let whole = table.query(Query::partition(&p)).await.unwrap();
    assert_eq!(whole.items.len(), 6);
    let empty = table.query(Query::partition(pk())).await.unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
}

async fn cursors_resume_exactly_and_only_their_query(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    for i in 0..23 {
        table
            .put(
                Item::new(&p, format!("R#{i:03}"), json!({"i": i})),
                Condition::None,
            )
            .await
            .unwrap();
    }
    for forward in [true, false] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let mut q = Query::partition(&p)
                .prefix("R#")
                .limit(5)
                .after(cursor.take());
            if !forward {
                q = q.backward();
            }
            let page = table.query(q).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 5);
            seen.extend(page.items.iter().map(|i| i.data["i"].as_i64().unwrap()));
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut expected: Vec<i64> = (0..23).collect();
        if !forward {
            expected.reverse();
        }
        assert_eq!(
            seen, expected,
            "every item once, in order (forward={forward})"
        );
        assert_eq!(pages, 5);
    }
    // An exact multiple ends without a dangling cursor.
    let first = table
        .query(Query::partition(&p).prefix("R#").limit(23))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 23);
    assert_eq!(
        first.next, None,
        "no next page when the partition is exhausted"
    );

    let page = table
        .query(Query::partition(&p).prefix("R#").limit(2))
        .await
        .unwrap();
    let cursor = page.next.expect("more pages");
    let other = table
        .query(Query::partition(pk()).after(Some(cursor.clone())))
        .await;
    assert!(
        matches!(other, Err(StoreError::InvalidCursor)),
        "a cursor only continues its own query"
    );
    let on_index = table
        .query(Query::partition(&p).on(Index::Gsi1).after(Some(cursor)))
        .await;
    assert!(matches!(on_index, Err(StoreError::InvalidCursor)));
    for junk in ["", "not-base64!", "eyJmb28iOjF9"] {
        let r = table
            .query(Query::partition(&p).after(Some(Cursor::from_client(junk))))
            .await;
        assert!(
            matches!(r, Err(StoreError::InvalidCursor)),
            "{junk:?}: {r:?}"
        );
    }
}

async fn secondary_indexes_follow_their_keys(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let (p, g1, g2) = (pk(), pk(), pk());
    for (i, sk) in ["b", "a", "c"].iter().enumerate() {
        let item = Item::new(&p, format!("I#{i}"), json!({"i": i}))
            .with_gsi1(&g1, format!("S#{sk}"))
            .with_gsi2(&g2, format!("T#{i}"));
        table.put(item, Condition::None).await.unwrap();
    }
    // Same index sort key on two items: ordered by table key within it.
    table
        .put(
            Item::new(pk(), "other", json!({"i": 9})).with_gsi1(&g1, "S#a"),
            Condition::None,
        )
        .await
        .unwrap();
    let on = |index| Query::partition(if index == Index::Gsi1 { &g1 } else { &g2 }).on(index);
    let data = |items: &[Item]| {
        items
            .iter()
            .map(|i| i.data["i"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };

    let g1_all = table.query(on(Index::Gsi1)).await.unwrap();
    assert_eq!(g1_all.items.len(), 4);
    assert_eq!(g1_all.items[0].gsi1.as_ref().unwrap().sk, "S#a");
    assert_eq!(data(&g1_all.items[2..]), [0, 2], "then S#b, S#c");
    let g1_a = table.query(on(Index::Gsi1).prefix("S#a")).await.unwrap();
    assert_eq!(g1_a.items.len(), 2);
    let g2_back = table.query(on(Index::Gsi2).backward()).await.unwrap();
    assert_eq!(data(&g2_back.items), [2, 1, 0]);

    // Paging an index with a cursor, including through equal index keys.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = table
            .query(on(Index::Gsi1).limit(1).after(cursor.take()))
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|i| (i.pk.clone(), i.sk.clone())));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 4, "each index entry exactly once: {seen:?}");

    // Rewriting an item without its index keys takes it out of the index.
    table
        .put(Item::new(&p, "I#0", json!({"i": 0})), Condition::None)
        .await
        .unwrap();
    assert_eq!(
        table
            .query(on(Index::Gsi1).prefix("S#b"))
            .await
            .unwrap()
            .items
            .len(),
        0
    );
    assert_eq!(table.query(on(Index::Gsi2)).await.unwrap().items.len(), 2);
}

async fn transactions_apply_all_or_nothing(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    table
        .put(Item::new(&p, "keep", json!({"v": 1})), Condition::None)
        .await
        .unwrap();
    table
        .transact(vec![
            Write::Put(
                Item::new(&p, "a", json!({"v": "a"})),
                Condition::MustNotExist,
            ),
            Write::Put(
                Item::new(&p, "b", json!({"v": "b"})),
                Condition::MustNotExist,
            ),
            Write::Add {
                pk: p.clone(),
                sk: "count".into(),
                delta: 2,
            },
            Write::Check {
                pk: p.clone(),
                sk: "keep".into(),
                condition: Condition::VersionEquals(1),
            },
        ])
        .await
        .unwrap();
    assert!(
        table.get(&p, "a").await.unwrap().is_some() && table.get(&p, "b").await.unwrap().is_some()
    );
    assert_eq!(table.counter(&p, "count").await.unwrap(), 2);

    let failed = table
        .transact(vec![
            Write::Put(Item::new(&p, "c", json!({})), Condition::MustNotExist),
            Write::Delete {
                pk: p.clone(),
                sk: "keep".into(),
                condition: Condition::None,
            },
            Write::Add {
                pk: p.clone(),
                sk: "count".into(),
                delta: 10,
            },
            Write::Put(
                Item::new(&p, "a", json!({"v": "again"})),
                Condition::MustNotExist,
            ),
        ])
        .await;
    assert!(
        matches!(failed, Err(StoreError::ConditionFailed)),
        "{failed:?}"
    );
    assert_eq!(
        table.get(&p, "c").await.unwrap(),
        None,
        "nothing of a failed transaction is applied"
    );
    assert!(table.get(&p, "keep").await.unwrap().is_some());
    assert_eq!(table.counter(&p, "count").await.unwrap(), 2);
    assert_eq!(
        table.get(&p, "a").await.unwrap().unwrap().data,
        json!({"v": "a"})
    );

    let check_failed = table
        .transact(vec![
            Write::Put(Item::new(&p, "d", json!({})), Condition::None),
            Write::Check {
                pk: p.clone(),
                sk: "keep".into(),
                condition: Condition::VersionEquals(5),
            },
        ])
        .await;
    assert!(matches!(check_failed, Err(StoreError::ConditionFailed)));
    assert_eq!(table.get(&p, "d").await.unwrap(), None);

    table
        .transact(vec![Write::Delete {
            pk: p.clone(),
            sk: "a".into(),
            condition: Condition::MustExist,
        }])
        .await
        .unwrap();
    assert_eq!(table.get(&p, "a").await.unwrap(), None);

    let too_many = (0..26)
        .map(|i| Write::Put(Item::new(&p, format!("m{i}"), json!({})), Condition::None))
        .collect();
    assert!(matches!(
        table.transact(too_many).await,
        Err(StoreError::TooLarge(_))
    ));
    assert_eq!(table.get(&p, "m0").await.unwrap(), None);
}

async fn counters_add_atomically(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    assert_eq!(
        table.counter(&p, "hits").await.unwrap(),
        0,
        "an absent counter reads 0"
    );
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let table = table.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            table.add(&p, "hits", 1, Some(now() + 600)).await.unwrap()
        }));
    }
    let mut returned = Vec::new();
    for task in tasks {
        returned.push(task.await.unwrap());
    }
    returned.sort_unstable();
    assert_eq!(
        returned,
        (1..=40).collect::<Vec<_>>(),
        "every add sees its own new value"
    );
    assert_eq!(table.counter(&p, "hits").await.unwrap(), 40);
    assert_eq!(table.add(&p, "hits", -41, None).await.unwrap(), -1);
    assert_eq!(
        table.get(&p, "hits").await.unwrap(),
        None,
        "counters are not documents"
    );
}

async fn oversized_items_are_refused(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let table = table(&t);
    let p = pk();
    table
        .put(Item::new(&p, "big", json!({"v": "small"})), Condition::None)
        .await
        .unwrap();
    let huge = Item::new(&p, "big", json!({"v": "x".repeat(MAX_ITEM_BYTES)}));
    assert!(matches!(
        table.put(huge.clone(), Condition::None).await,
        Err(StoreError::TooLarge(_))
    ));
    assert!(matches!(
        table
            .transact(vec![Write::Put(huge, Condition::None)])
            .await,
        Err(StoreError::TooLarge(_))
    ));
    assert_eq!(
        table.get(&p, "big").await.unwrap().unwrap().data,
        json!({"v": "small"}),
        "the stored item is intact"
    );
    let fits = Item::new(&p, "fits", json!({"v": "x".repeat(MAX_ITEM_BYTES - 100)}));
    table.put(fits, Condition::None).await.unwrap();
}
