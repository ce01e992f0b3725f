//! The Bedrock Titan client against a local double that checks its SigV4
//! signature and speaks the runtime's `InvokeModel` protocol.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::super::tests::serve;
use super::*;

/// A Bedrock runtime double: checks the SigV4 header and the Titan body.
async fn bedrock_double(
    Path(model): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let signed = auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        && auth.contains("/eu-west-1/bedrock/aws4_request")
        && auth.contains("SignedHeaders=")
        && auth.contains("Signature=")
        && headers.contains_key("x-amz-date")
        && headers
            .get("x-amz-security-token")
            .is_some_and(|t| t == "session-token");
    if !signed {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "The security token included in the request is invalid."})),
        );
    }
    if model != TITAN_TEXT_V2 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("model {model} not found")})),
        );
    }
    let dims = body["dimensions"].as_u64().unwrap_or(0) as usize;
    if body["normalize"] != json!(true) || dims == 0 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "Malformed input request"})),
        );
    }
    let text = body["inputText"].as_str().unwrap_or_default();
    let mut embedding = vec![0.0f32; dims];
    embedding[text.len() % dims] = 1.0;
    (
        StatusCode::OK,
        Json(
            json!({"embedding": embedding, "inputTextTokenCount": text.split_whitespace().count()}),
        ),
    )
}

fn credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        "AKIDTEST",
        "secret",
        Some("session-token".into()),
        None,
        "test",
    ))
}

#[tokio::test]
async fn bedrock_titan_client_signs_and_keeps_order() {
    let base = serve(Router::new().route("/model/{model}/invoke", post(bedrock_double))).await;
    let embedder = BedrockTitanEmbedder::new(
        "eu-west-1",
        TITAN_TEXT_V2,
        256,
        credentials(),
        Some(base.clone()),
    )
    .unwrap();
    assert_eq!(embedder.dimensions(), 256);
    let texts: Vec<String> = (1..=20).map(|i| "a".repeat(i)).collect();
    let vectors = embedder.embed(&texts).await.unwrap();
    for (i, v) in vectors.iter().enumerate() {
        assert_eq!(v[(i + 1) % 256], 1.0, "vector {i} out of order");
    }
    let unknown = BedrockTitanEmbedder::new(
        "eu-west-1",
        "amazon.titan-embed-g1:9",
        256,
        credentials(),
        Some(base.clone()),
    )
    .unwrap();
    assert!(matches!(
        unknown.embed(&["x".into()]).await,
        Err(EmbedError::Rejected { status: 404, .. })
    ));
    let other_region =
        BedrockTitanEmbedder::new("us-east-1", TITAN_TEXT_V2, 256, credentials(), Some(base))
            .unwrap();
    assert!(matches!(
        other_region.embed(&["x".into()]).await,
        Err(EmbedError::Rejected { status: 403, .. })
    ));
}
