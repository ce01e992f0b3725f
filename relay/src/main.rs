//! The relay as its own container process (ECS/Fargate in AWS): serves the
//! relay's routes and runs the calls the calls queue hands it.
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::var("SWITCHBOARD_RELAY_ADDR").unwrap_or_else(|_| "0.0.0.0:8081".into());
    let config = switchboard::Config::from_env().map_err(anyhow::Error::msg)?;
    let app = Arc::new(
        switchboard::App::build(config)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runners = tokio::spawn(switchboard::services::calls::runner::consume(
        app.clone(),
        stop_rx,
        switchboard::services::calls::runner::MAX_RUNNING,
    ));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    // The peer address feeds the per-address limits (web chats).
    let service = switchboard_relay::router(app)
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, service).await;
    let _ = stop_tx.send(true);
    let _ = runners.await;
    served?;
    Ok(())
}
