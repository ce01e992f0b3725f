//! The relay as its own container process (ECS/Fargate in AWS).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::var("SWITCHBOARD_RELAY_ADDR").unwrap_or_else(|_| "0.0.0.0:8081".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, switchboard_relay::router()).await?;
    Ok(())
}
