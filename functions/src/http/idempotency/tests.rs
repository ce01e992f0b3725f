//! The middleware over a real embedded store, in front of routes built to
//! hit its limits (no API route answers more than the record keeps).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::routing::post;
use http_body_util::BodyExt;
use switchboard::App;
use switchboard::config::Config;
use switchboard::domain::{Mode, Role, Tenant};
use switchboard::services::{Caller, Principal};
use tower::ServiceExt;

use super::*;

async fn as_caller(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Caller {
        principal: Principal::ApiKey {
            key_id: "k1".into(),
            key_hash: "unused".into(),
        },
        role: Role::Admin,
        tenant: Tenant {
            org_id: "org1".into(),
            mode: Mode::Live,
        },
    });
    next.run(req).await
}

async fn router(dir: &tempfile::TempDir) -> Router {
    let app = Arc::new(App::build(Config::embedded(dir.path())).await.unwrap());
    Router::new()
        .route(
            "/big",
            post(|| async { (StatusCode::CREATED, "x".repeat(STORE_LIMIT + 10)) }),
        )
        .route(
            "/raw",
            post(|body: Bytes| async move { body.len().to_string() })
                .layer(DefaultBodyLimit::disable()),
        )
        .route_layer(axum::middleware::from_fn_with_state(app, idempotency))
        .route_layer(axum::middleware::from_fn(as_caller))
}

async fn send(
    router: &Router,
    path: &str,
    key: &str,
    ct: &str,
    body: Vec<u8>,
) -> (StatusCode, Bytes) {
    let req = Request::post(path)
        .header("idempotency-key", key)
        .header("content-type", ct)
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    (status, resp.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn a_response_over_the_record_limit_is_delivered_and_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    let (status, body) = send(&router, "/big", "k", "application/json", b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "a success stays a success");
    assert_eq!(
        body.len(),
        STORE_LIMIT + 10,
        "the whole body reaches the client"
    );

    let (status, body) = send(&router, "/big", "k", "application/json", b"{}".to_vec()).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a retry does not run it again"
    );
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("already succeeded") && msg.contains("too large"),
        "{msg}"
    );
}

#[tokio::test]
async fn json_bodies_are_buffered_only_up_to_the_json_limit() {
    let dir = tempfile::tempdir().unwrap();
    let router = router(&dir).await;
    let big = vec![b' '; JSON_LIMIT + 1];
    let (status, body) = send(&router, "/raw", "a", "application/json", big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body:?}");
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(err["success"], false);

    // An upload's bound is the upload route's.
    let (status, body) = send(&router, "/raw", "b", "multipart/form-data; boundary=x", big).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, (JSON_LIMIT + 1).to_string());
    let over = vec![b' '; UPLOAD_BODY_LIMIT + 1];
    let (status, _) = send(
        &router,
        "/raw",
        "c",
        "multipart/form-data; boundary=x",
        over,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_body_read_in_chunks_is_kept_whole_or_passed_on_whole() {
    let chunks = || {
        Body::from_stream(futures::stream::iter(
            ["ab", "cd", "ef"].map(|s| Ok::<_, std::io::Error>(Bytes::from(s))),
        ))
    };
    match collect_up_to(chunks(), 6).await.unwrap() {
        Collected::Whole(b) => assert_eq!(b, "abcdef"),
        Collected::Over(_) => panic!("6 bytes fit in 6"),
    }
    match collect_up_to(chunks(), 3).await.unwrap() {
        Collected::Over(body) => {
            assert_eq!(body.collect().await.unwrap().to_bytes(), "abcdef")
        }
        Collected::Whole(_) => panic!("6 bytes do not fit in 3"),
    }
}
