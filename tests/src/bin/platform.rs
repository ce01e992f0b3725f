//! The local platform as a process of its own, configured from the
//! environment like `switchboard`: for the tests that kill it (SIGKILL) and
//! start it again on the same data directory.

use switchboard::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env().map_err(anyhow::Error::msg)?;
    let application = switchboard_local::Application::build(config).await?;
    println!("listening on {}", application.port());
    application.run_until_stopped().await
}
