//! [`Blobs`] in a folder, with signed download links served by the local server.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{Blob, BlobInfo, Blobs, StoreError, StoreResult};

/// Files under one directory; the content type sits beside each file.
pub struct FolderBlobs {
    root: PathBuf,
    public_url: String,
    signing_key: Vec<u8>,
}

const META_SUFFIX: &str = ".content-type";

impl FolderBlobs {
    /// Blobs under `root`; signed links point at `{public_url}/blobs/{key}`
    /// and are signed with `signing_key`.
    pub fn new(
        root: impl Into<PathBuf>,
        public_url: impl Into<String>,
        signing_key: Vec<u8>,
    ) -> StoreResult<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
        Ok(Self {
            root,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            signing_key,
        })
    }

    fn path(&self, key: &str) -> StoreResult<PathBuf> {
        let rel = Path::new(key);
        // Keys come from services, but a key must never escape the folder.
        if key.is_empty()
            || key.ends_with(META_SUFFIX)
            || rel.components().any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(StoreError::Backend(format!("invalid blob key {key:?}")));
        }
        Ok(self.root.join(rel))
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC accepts any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Checks a signed link's parameters (constant time) and expiry.
    pub fn verify(&self, key: &str, expires: i64, signature: &str) -> bool {
        if expires < chrono::Utc::now().timestamp() {
            return false;
        }
        let Ok(given) = hex::decode(signature) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.signing_key).expect("HMAC accepts any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{}: {e}", path.display()))
}

#[async_trait]
impl Blobs for FolderBlobs {
    async fn put(&self, key: &str, bytes: bytes::Bytes, content_type: &str) -> StoreResult<()> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io(dir, e))?;
        }
        // Write then rename, so a reader never sees half a file.
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&tmp, &bytes)
            .await
            .map_err(|e| io(&tmp, e))?;
        let meta = PathBuf::from(format!("{}{META_SUFFIX}", path.display()));
        tokio::fs::write(&meta, content_type)
            .await
            .map_err(|e| io(&meta, e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| io(&path, e))
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Blob>> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                let meta = PathBuf::from(format!("{}{META_SUFFIX}", path.display()));
                let content_type = tokio::fs::read_to_string(&meta)
                    .await
                    .unwrap_or_else(|_| "application/octet-stream".to_owned());
                Ok(Some(Blob {
                    bytes: bytes.into(),
                    content_type,
                }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        let path = self.path(key)?;
        for p in [
            PathBuf::from(format!("{}{META_SUFFIX}", path.display())),
            path,
        ] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p, e)),
            }
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<BlobInfo>> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(&dir, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| io(&dir, e))?;
                    let path = entry.path();
                    let meta = entry.metadata().map_err(|e| io(&path, e))?;
                    if meta.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let Ok(rel) = path.strip_prefix(&root) else {
                        continue;
                    };
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if key.ends_with(META_SUFFIX)
                        || key.contains(".tmp-")
                        || !key.starts_with(&prefix)
                    {
                        continue;
                    }
                    out.push(BlobInfo {
                        key,
                        size: meta.len(),
                    });
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn signed_url(&self, key: &str, ttl: Duration) -> StoreResult<String> {
        self.path(key)?;
        let expires = chrono::Utc::now().timestamp() + ttl.as_secs() as i64;
        Ok(format!(
            "{}/blobs/{key}?expires={expires}&signature={}",
            self.public_url,
            self.signature(key, expires)
        ))
    }
}
