//! The network embedders against local doubles that speak the providers'
//! public protocols; the offline ones directly.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::*;

pub(super) async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// An OpenAI-compatible double: a 3-dimension vector per input from its
/// length, answered in reverse order (clients must sort by `index`).
async fn openai_double(
    State(seen): State<Arc<Mutex<Vec<Value>>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "Incorrect API key provided"}})),
        );
    }
    seen.lock().unwrap().push(body.clone());
    let inputs = body["input"].as_array().cloned().unwrap_or_default();
    let mut data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let len = text.as_str().unwrap_or_default().len() as f32;
            json!({"object": "embedding", "index": i, "embedding": [len, 1.0, 0.0]})
        })
        .collect();
    data.reverse();
    (
        StatusCode::OK,
        Json(
            json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}),
        ),
    )
}

#[tokio::test]
async fn openai_compatible_client_batches_orders_and_normalises() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let base = serve(
        Router::new()
            .route("/v1/embeddings", post(openai_double))
            .with_state(seen.clone()),
    )
    .await;
    let embedder =
        OpenAiEmbedder::new(&base, Some("sk-test".into()), "text-embedding-3-small", 3).unwrap();
    assert_eq!(embedder.name(), "openai-compatible:text-embedding-3-small");
    let texts: Vec<String> = (0..100).map(|i| "x".repeat(i + 1)).collect();
    let vectors = embedder.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), 100);
    for (i, v) in vectors.iter().enumerate() {
        let len = (i + 1) as f32;
        let norm = (len * len + 1.0).sqrt();
        assert!((v[0] - len / norm).abs() < 1e-5, "vector {i} out of order");
        assert!((dot(v, v) - 1.0).abs() < 1e-5);
    }
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "100 inputs in batches of 96");
    assert_eq!(requests[0]["model"], "text-embedding-3-small");
    assert_eq!(requests[0]["input"].as_array().unwrap().len(), 96);
}

#[tokio::test]
async fn openai_errors_say_what_happened() {
    let base = serve(
        Router::new()
            .route("/v1/embeddings", post(openai_double))
            .with_state(Arc::default()),
    )
    .await;
    let wrong_key = OpenAiEmbedder::new(&base, Some("sk-wrong".into()), "m", 3).unwrap();
    match wrong_key.embed(&["hi".into()]).await {
        Err(EmbedError::Rejected {
            status: 401,
            message,
        }) => assert!(message.contains("Incorrect API key")),
        other => panic!("{other:?}"),
    }
    let wrong_dims = OpenAiEmbedder::new(&base, Some("sk-test".into()), "m", 8).unwrap();
    assert!(matches!(
        wrong_dims.embed(&["hi".into()]).await,
        Err(EmbedError::InvalidResponse(_))
    ));
    let down = OpenAiEmbedder::new("http://127.0.0.1:9", None, "m", 3).unwrap();
    let err = down.embed(&["hi".into()]).await.unwrap_err();
    assert!(matches!(err, EmbedError::Unavailable(_)));
    assert!(matches!(
        crate::Error::from(err),
        crate::Error::Unavailable(_)
    ));
}

#[tokio::test]
async fn hashing_embedder_is_deterministic_and_lexical() {
    let embedder = HashingEmbedder::default();
    assert_eq!(embedder.dimensions(), 384);
    assert!(embedder.name().contains("fallback"));
    let texts = vec![
        "What are your opening hours on Saturday?".to_owned(),
        "Saturday opening hours are 10 to 4.".to_owned(),
        "The sourdough loaf costs four dollars.".to_owned(),
    ];
    let a = embedder.embed(&texts).await.unwrap();
    let b = embedder.embed(&texts).await.unwrap();
    assert_eq!(a, b);
    assert!((dot(&a[0], &a[0]) - 1.0).abs() < 1e-5);
    assert!(dot(&a[0], &a[1]) > dot(&a[0], &a[2]) + 0.2);
}

#[test]
fn without_a_model_directory_the_fallback_is_active() {
    assert!(offline_embedder(None, None).name().contains("fallback"));
    let empty = tempfile::tempdir().unwrap();
    assert!(
        offline_embedder(Some(empty.path()), None)
            .name()
            .contains("fallback")
    );
}

/// Where the tests look for the real model: the env var, else the
/// workspace's `.switchboard/models/all-MiniLM-L6-v2`.
#[cfg(feature = "local-embedder")]
pub(crate) fn test_model_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os(MODEL_DIR_ENV)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(DEFAULT_MODEL_DIR)
        });
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    super::skip_without_model(&dir);
    None
}

#[cfg(feature = "local-embedder")]
#[tokio::test]
async fn the_offline_model_embeds_meaning() {
    let Some(dir) = test_model_dir() else { return };
    let embedder = offline_embedder(Some(&dir), None);
    assert!(embedder.name().starts_with("local:"), "{}", embedder.name());
    assert_eq!(embedder.dimensions(), 384);
    let texts = vec![
        "How much does the premium plan cost?".to_owned(),
        "What is the price of the premium subscription?".to_owned(),
        "The river flooded the village after the storm.".to_owned(),
        "x".repeat(5000),
    ];
    let v = embedder.embed(&texts).await.unwrap();
    assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4);
    let paraphrase = dot(&v[0], &v[1]);
    let unrelated = dot(&v[0], &v[2]);
    eprintln!("cosine paraphrase {paraphrase:.3}, unrelated {unrelated:.3}");
    assert!(
        paraphrase > 0.6 && paraphrase > unrelated + 0.3,
        "{paraphrase} vs {unrelated}"
    );
    // Batching and padding do not change a text's vector.
    let alone = embedder.embed(&texts[..1]).await.unwrap();
    assert!(dot(&alone[0], &v[0]) > 0.9999);
}

#[cfg(feature = "local-embedder")]
#[tokio::test]
async fn workers_side_by_side_give_each_text_its_own_vector() {
    let Some(dir) = test_model_dir() else { return };
    let model = super::OfflineEmbedder::load(&dir).unwrap();
    // Enough texts of different lengths for several batches per worker.
    let texts: Vec<String> = (0..37)
        .map(|i| {
            format!(
                "Question {i}: {}",
                "how do refunds work for bikes ".repeat(i % 9 + 1)
            )
        })
        .collect();
    let one = model.clone().with_workers(1).embed(&texts).await.unwrap();
    let three = model.with_workers(3).embed(&texts).await.unwrap();
    assert_eq!(one.len(), texts.len());
    for (i, (a, b)) in one.iter().zip(&three).enumerate() {
        assert!(dot(a, b) > 0.9999, "text {i} moved: {}", dot(a, b));
    }
    assert!(
        dot(&one[0], &one[36]) < 0.9999,
        "distinct texts, distinct vectors"
    );
}

#[test]
fn the_same_model_on_other_cpu_kernels_makes_the_same_vector_space() {
    assert_eq!(
        vector_space("local:all-MiniLM-L6-v2 (384 dims, CPU avx512)"),
        vector_space("local:all-MiniLM-L6-v2 (384 dims, CPU avx2)")
    );
    assert_ne!(
        vector_space("hashing-384 (lexical fallback, no model)"),
        vector_space("hashing-128 (lexical fallback, no model)")
    );
    assert_eq!(
        vector_space("openai-compatible:text-embedding-3-small"),
        "openai-compatible:text-embedding-3-small"
    );
}
