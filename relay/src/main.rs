//! The relay as its own container process (ECS/Fargate in AWS): serves the
//! relay's routes and runs the calls the calls queue hands it. On SIGTERM it
//! drains: it takes no new call, fails its health check (the load balancer
//! stops sending sockets), lets live calls finish for up to
//! `SWITCHBOARD_RELAY_DRAIN_SECONDS` (default 90, inside ECS's 120 s stop
//! timeout), ends the rest as `runner_lost`, then exits.
use std::sync::Arc;
use std::time::Duration;

use switchboard::services::calls::{drain, runner};
use tracing_subscriber::EnvFilter;

/// How long a drain lets live calls finish when the environment does not say.
const DEFAULT_DRAIN_SECONDS: u64 = 90;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // JSON lines for CloudWatch.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .json()
        .try_init();
    let addr = std::env::var("SWITCHBOARD_RELAY_ADDR").unwrap_or_else(|_| "0.0.0.0:8081".into());
    let drain_within = match std::env::var("SWITCHBOARD_RELAY_DRAIN_SECONDS") {
        Ok(v) => Duration::from_secs(v.parse().map_err(|_| {
            anyhow::anyhow!(
                "SWITCHBOARD_RELAY_DRAIN_SECONDS must be a number of seconds, not `{v}`"
            )
        })?),
        Err(_) => Duration::from_secs(DEFAULT_DRAIN_SECONDS),
    };
    let mut config = switchboard::Config::from_env().map_err(anyhow::Error::msg)?;
    if std::env::var_os("SWITCHBOARD_RELAY_INTERNAL_URL").is_none()
        && let Some(url) = ecs_internal_url(&addr).await
    {
        config.relay_internal_url = url;
    }
    let app = Arc::new(
        switchboard::App::build(config)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runners = tokio::spawn(runner::consume(app.clone(), stop_rx, runner::MAX_RUNNING));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, internal_url = %app.config.relay_internal_url, "relay listening");
    let shutdown = async move {
        terminated().await;
        tracing::info!(
            drain_seconds = drain_within.as_secs(),
            "stopping: no new calls; draining the live ones"
        );
        let _ = stop_tx.send(true);
        let _ = runners.await;
        let ended = drain::drain(drain_within).await;
        tracing::info!(ended, "drained");
    };
    // The peer address feeds the per-address limits (web chats).
    let service = switchboard_relay::router(app)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// This task's own address on its VPC, from the ECS task metadata endpoint
/// (Fargate sets `ECS_CONTAINER_METADATA_URI_V4`): where other relays reach
/// its internal routes. `None` outside ECS or when the endpoint fails.
async fn ecs_internal_url(addr: &str) -> Option<String> {
    let metadata = std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok()?;
    let port = addr.rsplit_once(':').map_or("8081", |(_, p)| p);
    let body: serde_json::Value = reqwest::Client::new()
        .get(metadata)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let ip = body["Networks"][0]["IPv4Addresses"][0].as_str()?;
    Some(format!("http://{ip}:{port}"))
}

/// SIGTERM (ECS stopping the task) or Ctrl-C.
async fn terminated() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
