//! When the workspace's embedder changes, its documents are re-embedded by
//! a background job, and search keeps answering from them meanwhile: with
//! their previous vectors when the query can be embedded the same way,
//! never mixing one embedder's vectors with another's (issue 16).

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::engine::knowledge::HashingEmbedder;
use switchboard_tests::{TestApp, backend_tests, call};

backend_tests!(an_embedder_change_re_embeds_in_the_background_and_search_keeps_answering);

const PARKING: &str = "Visiting us\n\nParking\n\nFree parking is available behind the building on \
Elm Street. The lot opens at 7 am.\n\nPayment\n\nWe take cards and cash; cheques are no longer accepted.";

/// Polls the document until `done` holds.
async fn wait_for(t: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let (_, body) = call(t.api(Method::GET, &format!("/knowledge/{id}"))).await;
        let doc = body["data"].clone();
        assert_ne!(doc["status"], "failed", "{doc}");
        if done(&doc) {
            return doc;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("document {id} never reached the expected state");
}

async fn query(t: &TestApp, text: &str) -> Value {
    let (status, body) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": text, "top_k": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn an_embedder_change_re_embeds_in_the_background_and_search_keeps_answering(
    backend: Backend,
) {
    let (mut config, dir) = switchboard_tests::config(backend).await;
    config.embedder = switchboard::config::EmbedderChoice::Lexical;
    let t = TestApp::spawn_with(config, dir).await;
    let (status, created) = call(
        t.api(Method::POST, "/knowledge/ingest-text")
            .json(&json!({"name": "Visiting us", "content": PARKING})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let before = wait_for(&t, &id, |d| d["status"] == "ready").await;
    let old = before["embedder"].as_str().unwrap().to_owned();
    assert_eq!(before["reembedding"], false);

    // Another embedder, of another dimension, takes over.
    let new = HashingEmbedder::new(128);
    let new_name = switchboard::engine::knowledge::Embedder::name(&new).to_owned();
    t.app.use_offline_embedder(Arc::new(new));

    // The first search finds the document by its old vectors and queues it.
    let hits = query(&t, "is the parking free?").await;
    assert_eq!(hits[0]["document_id"], id, "{hits}");
    let score = hits[0]["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "{score}");

    // The background job re-embeds it with the new embedder.
    let after = wait_for(&t, &id, |d| {
        d["embedder"] == new_name.as_str() && d["reembedding"] == false
    })
    .await;
    assert_ne!(after["embedder"], old.as_str());
    assert_eq!(after["status"], "ready");
    let hits = query(&t, "do you take cheques?").await;
    assert_eq!(hits[0]["document_id"], id, "{hits}");
    assert!(
        hits[0]["text"].as_str().unwrap().contains("cheques"),
        "{hits}"
    );
    // The plain text's title lines are its headings, shown apart.
    assert_eq!(hits[0]["heading"], "Visiting us > Payment", "{hits}");
}
