//! `switchboard`: the whole platform on this machine.
//!
//! ```text
//! switchboard                                   serve (default)
//! switchboard create-org <org name> <e-mail>    create an org + admin + API key, print them
//! ```

use switchboard::Config;
use switchboard_local::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    switchboard_functions::telemetry::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = Config::from_env().map_err(anyhow::Error::msg)?;
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(config).await,
        Some("create-org") if args.len() == 3 => create_org(config, &args[1], &args[2]).await,
        _ => {
            eprintln!(
                "usage: switchboard [serve]\n       switchboard create-org <org name> <admin e-mail>"
            );
            std::process::exit(2);
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let mut application = Application::build(config).await?;
    let app = application.app();
    if let Some(boot) = application.take_bootstrap().filter(|b| b.created) {
        println!("\nSwitchboard is set up (data in {}).", data_dir.display());
        println!("  admin e-mail:    {}", boot.email);
        if let Some(p) = &boot.password {
            println!("  admin password:  {p}");
        }
        if let Some(k) = &boot.api_key {
            println!("  API key:         {k}");
        }
        println!("  These are shown once; keep them.\n");
    }
    println!("{}", application.model_plan().start_line());
    println!(
        "Switchboard listening on {url}  (API: {url}/api/v1, docs: {url}/docs, health: {url}/health)",
        url = app.config.public_url
    );
    application.run_until_stopped().await
}

async fn create_org(config: Config, name: &str, email: &str) -> anyhow::Result<()> {
    let app = switchboard::App::build(config)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let created = switchboard::services::identity::create_installation_org(&app, name, email)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&created)?);
    Ok(())
}
