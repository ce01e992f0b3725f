//! `Queue`: at-least-once delivery, delays, visibility, dead-lettering.

use std::time::Duration;

use switchboard::config::Backend;
use switchboard_tests::{TestApp, backend_tests, queue_with_dead_letter};

backend_tests!(
    messages_are_delivered_until_deleted,
    delays_and_visibility_hide_messages,
    poison_messages_move_to_the_dead_letter_queue
);

const SECOND: Duration = Duration::from_secs(1);

async fn messages_are_delivered_until_deleted(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (queue, _) = queue_with_dead_letter(&t, 5).await;
    let mut sent = Vec::new();
    for i in 0..12 {
        let body = format!("{{\"n\":{i}}}");
        // Half go out on behalf of a tenant (a message group on SQS: a fair queue).
        let id = if i % 2 == 0 {
            queue.send(&body, Duration::ZERO).await
        } else {
            queue
                .send_for(&format!("org-{}", i % 3), &body, Duration::ZERO)
                .await
        };
        sent.push(id.unwrap());
    }
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let batch = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        assert!(batch.len() <= 10, "at most 10 a batch");
        for m in batch {
            assert_eq!(m.receive_count, 1);
            assert!(sent.contains(&m.id), "ids are the ones send returned");
            bodies.push(m.body.clone());
            queue.delete(&m.receipt).await.unwrap();
        }
        if bodies.len() == 12 {
            break;
        }
    }
    bodies.sort();
    let mut expected: Vec<_> = (0..12).map(|i| format!("{{\"n\":{i}}}")).collect();
    expected.sort();
    assert_eq!(bodies, expected, "each message once, body intact");
    assert!(
        queue.receive(10, SECOND).await.unwrap().is_empty(),
        "deleted messages are gone"
    );
}

async fn delays_and_visibility_hide_messages(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (queue, _) = queue_with_dead_letter(&t, 5).await;
    queue.send("later", SECOND).await.unwrap();
    assert!(
        queue.receive(10, SECOND).await.unwrap().is_empty(),
        "a delayed message is not visible yet"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let first = queue.receive(10, SECOND).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body, "later");
    assert!(
        queue.receive(10, SECOND).await.unwrap().is_empty(),
        "hidden while being processed"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let second = queue.receive(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(second.len(), 1, "redelivered after the visibility timeout");
    assert_eq!(second[0].id, first[0].id, "the same message");
    assert_eq!(second[0].receive_count, 2);
    queue
        .change_visibility(&second[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let third = queue.receive(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        third.len(),
        1,
        "visible again at once after change_visibility(0)"
    );
    queue.delete(&third[0].receipt).await.unwrap();
    assert!(queue.receive(10, SECOND).await.unwrap().is_empty());
}

async fn poison_messages_move_to_the_dead_letter_queue(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let (queue, dead) = queue_with_dead_letter(&t, 2).await;
    queue.send("poison", Duration::ZERO).await.unwrap();
    for attempt in 1..=2 {
        let got = queue.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1, "receive {attempt}");
        assert_eq!(got[0].receive_count, attempt);
        // Not deleted: processing "failed".
        queue
            .change_visibility(&got[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        queue.receive(1, Duration::ZERO).await.unwrap().is_empty(),
        "after 2 receives it leaves the queue"
    );
    let dl = dead.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(dl.len(), 1, "and lands in the dead-letter queue");
    assert_eq!(dl[0].body, "poison");
}
