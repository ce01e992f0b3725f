//! `coldstart`: measures a Lambda function binary's cold start — process
//! start to the first `GET /runtime/invocation/next` (init done, ready for
//! work) — and its first invocation, against a local stand-in for the Lambda
//! Runtime API (the HTTP protocol `lambda_runtime` speaks to AWS).
//!
//! ```text
//! coldstart --bin target/release/agents [--runs 20] [--backend embedded|aws]
//! ```
//!
//! `--backend aws` provisions a table, bucket and queues on the moto server
//! named by `SWITCHBOARD_TEST_AWS_ENDPOINT` (as the tests do).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use switchboard::config::{Backend, Config};
use switchboard_tests::TEST_KEY;
use tokio::sync::mpsc;

/// What the stand-in runtime API saw, with when it saw it.
enum Seen {
    Next(Instant),
    Response(Instant, String),
}

#[derive(Clone)]
struct Runtime {
    seen: mpsc::UnboundedSender<Seen>,
    served: Arc<Mutex<bool>>,
}

fn event() -> String {
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/api/v1/agents", "rawQueryString": "limit=5",
        "headers": {"authorization": format!("Bearer {TEST_KEY}"), "host": "api.example.com", "x-request-id": "cold-1"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "GET", "path": "/api/v1/agents", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "coldstart"},
            "requestId": "cold-1", "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 1767225600000u64
        },
        "isBase64Encoded": false
    })
    .to_string()
}

async fn next(State(rt): State<Runtime>) -> impl IntoResponse {
    let _ = rt.seen.send(Seen::Next(Instant::now()));
    let first = {
        let mut served = rt.served.lock().unwrap_or_else(|e| e.into_inner());
        !std::mem::replace(&mut *served, true)
    };
    if !first {
        // One invocation per process; later polls wait until it is killed.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    headers.insert(
        "lambda-runtime-aws-request-id",
        "req-1".parse().unwrap_or_else(|_| unreachable!()),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline
            .to_string()
            .parse()
            .unwrap_or_else(|_| unreachable!()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:agents"
            .parse()
            .unwrap_or_else(|_| unreachable!()),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-0-0".parse().unwrap_or_else(|_| unreachable!()),
    );
    (headers, event())
}

async fn response(State(rt): State<Runtime>, body: Bytes) -> impl IntoResponse {
    let _ = rt.seen.send(Seen::Response(
        Instant::now(),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    axum::http::StatusCode::ACCEPTED
}

/// The function's environment for `config`, as SAM would set it.
fn env_of(config: &Config) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "SWITCHBOARD_BACKEND".to_owned(),
            if config.backend == Backend::Aws {
                "aws"
            } else {
                "embedded"
            }
            .to_owned(),
        ),
        (
            "SWITCHBOARD_DATA_DIR".to_owned(),
            config.data_dir.display().to_string(),
        ),
        ("SWITCHBOARD_TABLE".to_owned(), config.aws.table.clone()),
        ("SWITCHBOARD_BUCKET".to_owned(), config.aws.bucket.clone()),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
    ];
    for (name, url) in &config.aws.queues {
        env.push((
            format!("SWITCHBOARD_{}_QUEUE_URL", name.to_uppercase()),
            url.clone(),
        ));
    }
    for (k, v) in [
        ("SWITCHBOARD_ENCRYPTION_KEY", &config.encryption_key),
        ("SWITCHBOARD_SIGNING_KEY", &config.signing_key),
        ("AWS_ENDPOINT_URL", &config.aws.endpoint),
    ] {
        if let Some(v) = v {
            env.push((k.to_owned(), v.clone()));
        }
    }
    env
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut bin = None;
    let mut runs = 20usize;
    let mut backend = Backend::Embedded;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bin" => bin = Some(value),
            "--runs" => runs = value.parse()?,
            "--backend" => {
                backend = if value == "aws" {
                    Backend::Aws
                } else {
                    Backend::Embedded
                }
            }
            other => bail!("unknown flag {other}"),
        }
    }
    let bin = bin.context("--bin <path to a function binary> is required")?;
    let (config, _dir) = switchboard_tests::config(backend).await;
    // The data the function will read: an org with the test key.
    let app = switchboard::App::build(config.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    switchboard::services::identity::bootstrap(&app, "Cold", "cold@example.com", Some(TEST_KEY))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(app);

    let mut init_ms = Vec::new();
    let mut first_ms = Vec::new();
    for run in 0..runs {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let rt = Runtime {
            seen: tx,
            served: Arc::new(Mutex::new(false)),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(response))
            .route("/2018-06-01/runtime/init/error", post(response))
            .with_state(rt);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&bin)
            .envs(env_of(&config))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "agents")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/agents")
            .env("_HANDLER", "bootstrap")
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let wait = Duration::from_secs(10);
        let Ok(Some(Seen::Next(ready))) = tokio::time::timeout(wait, rx.recv()).await else {
            bail!("run {run}: the function never asked for work");
        };
        let Ok(Some(Seen::Response(done, body))) = tokio::time::timeout(wait, rx.recv()).await
        else {
            bail!("run {run}: the function never answered");
        };
        if !body.contains("\"statusCode\":200") {
            bail!("run {run}: unexpected response {body}");
        }
        init_ms.push((ready - started).as_secs_f64() * 1000.0);
        first_ms.push((done - ready).as_secs_f64() * 1000.0);
        let _ = child.kill().await;
        server.abort();
    }
    init_ms.sort_by(f64::total_cmp);
    first_ms.sort_by(f64::total_cmp);
    println!(
        "coldstart {bin} ({runs} runs, {backend:?}): init p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms; first request (GET /agents) p50 {:.1} ms, max {:.1} ms",
        percentile(&init_ms, 0.5),
        percentile(&init_ms, 0.9),
        percentile(&init_ms, 1.0),
        percentile(&first_ms, 0.5),
        percentile(&first_ms, 1.0),
    );
    Ok(())
}
