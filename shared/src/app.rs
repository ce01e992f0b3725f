//! [`App`]: the ports a use case needs, built once per process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};

use crate::config::{Backend, Config, EmbedderChoice, QUEUE_NAMES};
use crate::crypto::Cipher;
use crate::domain::Mode;
#[cfg(feature = "aws")]
use crate::engine::knowledge::BedrockTitanEmbedder;
use crate::engine::knowledge::{Embedder, OpenAiEmbedder, offline_embedder};
use crate::error::Error;
use crate::net::{GuardConfig, GuardedClient};
use crate::services::knowledge::KnowledgeCache;
use crate::services::rate_limit::{OrgLimits, RateLimiter};
use crate::store::embedded::{Database, DeadLetter, EmbeddedQueue, EmbeddedTable, FolderBlobs};
use crate::store::{Blobs, Queue, Table};

/// The source of "now", injectable so tests are deterministic.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Receives after which an embedded queue's message moves to its DLQ (the
/// SAM template sets the same `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

/// Handles only the embedded backend has (the local server uses them).
#[derive(Clone)]
pub struct EmbeddedParts {
    /// The SQLite database.
    pub db: Arc<Database>,
    /// The item table, for TTL sweeps.
    pub table: EmbeddedTable,
    /// The blob folder, to serve signed links.
    pub blobs: Arc<FolderBlobs>,
}

/// Everything a use case needs: ports (never concrete adapters), secrets and
/// configuration. Cheap to share: wrap it in an `Arc`.
pub struct App {
    /// Configuration.
    pub config: Config,
    /// Items.
    pub table: Arc<dyn Table>,
    /// Files.
    pub blobs: Arc<dyn Blobs>,
    /// Queues by name (see [`QUEUE_NAMES`]).
    pub queues: HashMap<String, Arc<dyn Queue>>,
    /// Encryption at rest.
    pub cipher: Cipher,
    /// Key for HMAC-signed tokens and links.
    pub signing_key: Vec<u8>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Embedded-only handles.
    pub embedded: Option<EmbeddedParts>,
    /// Test-mode tenants already seeded by this process (saves a read per request).
    pub(crate) seeded: Mutex<HashSet<String>>,
    /// The one outbound client for tools, ingest-url and webhooks (SSRF rules).
    pub net: GuardedClient,
    /// Each tenant's search index, kept warm between requests.
    pub knowledge: KnowledgeCache,
    /// Rate-limit quota this instance has reserved, per API key.
    pub(crate) rate: RateLimiter,
    /// Each org's rate limit, re-read at most once a second.
    pub(crate) org_limits: OrgLimits,
    /// The embedder of live tenants, built on first use.
    embedder: tokio::sync::OnceCell<Arc<dyn Embedder>>,
    /// The offline embedder (test mode always uses it), loaded on first use so
    /// a function's cold start never pays for reading the model.
    /// Replaced once when the model arrives after start ([`App::use_offline_embedder`]).
    offline_embedder: std::sync::RwLock<Option<Arc<dyn Embedder>>>,
}

impl App {
    /// Builds the adapters the configuration names.
    pub async fn build(config: Config) -> Result<Self, Error> {
        match config.backend {
            Backend::Embedded => Self::embedded(config),
            Backend::Aws => Self::aws(config).await,
        }
    }

    fn embedded(config: Config) -> Result<Self, Error> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Internal(format!("creating {}: {e}", dir.display())))?;
        let (encryption_key, signing_key) = local_keys(&config)?;
        let cipher = Cipher::from_base64(&encryption_key).map_err(Error::Internal)?;
        let signing_key = STANDARD
            .decode(signing_key)
            .map_err(|e| Error::Internal(format!("signing key: {e}")))?;
        let db = Arc::new(Database::open(&dir.join("switchboard.db"), 4)?);
        let table = EmbeddedTable::new(db.clone());
        let blobs = Arc::new(FolderBlobs::new(
            dir.join("blobs"),
            config.public_url.clone(),
            signing_key.clone(),
        )?);
        let queues = QUEUE_NAMES
            .iter()
            .map(|name| {
                let dlq = DeadLetter {
                    queue: format!("{name}-dlq"),
                    max_receives: MAX_RECEIVES,
                };
                let q: Arc<dyn Queue> = Arc::new(EmbeddedQueue::new(db.clone(), *name, Some(dlq)));
                (name.to_string(), q)
            })
            .collect();
        Ok(Self {
            table: Arc::new(table.clone()),
            blobs: blobs.clone(),
            queues,
            cipher,
            signing_key,
            clock: Arc::new(SystemClock),
            embedded: Some(EmbeddedParts { db, table, blobs }),
            seeded: Mutex::new(HashSet::new()),
            net: outbound_client(&config)?,
            knowledge: KnowledgeCache::default(),
            rate: RateLimiter::default(),
            org_limits: OrgLimits::default(),
            embedder: tokio::sync::OnceCell::new(),
            offline_embedder: std::sync::RwLock::new(None),
            config,
        })
    }

    #[cfg(not(feature = "aws"))]
    async fn aws(_: Config) -> Result<Self, Error> {
        Err(without_aws("aws backend"))
    }

    #[cfg(feature = "aws")]
    async fn aws(config: Config) -> Result<Self, Error> {
        let key = config.encryption_key.as_deref().ok_or_else(|| {
            Error::Internal("SWITCHBOARD_ENCRYPTION_KEY must be set for the aws backend".into())
        })?;
        let cipher = Cipher::from_base64(key).map_err(Error::Internal)?;
        let signing_key = match config.signing_key.as_deref() {
            Some(k) => STANDARD
                .decode(k)
                .map_err(|e| Error::Internal(format!("signing key: {e}")))?,
            None => {
                return Err(Error::Internal(
                    "SWITCHBOARD_SIGNING_KEY must be set for the aws backend".into(),
                ));
            }
        };
        let ports = crate::store::aws::connect(&config.aws).await?;
        Ok(Self {
            table: ports.table,
            blobs: ports.blobs,
            queues: ports.queues,
            cipher,
            signing_key,
            clock: Arc::new(SystemClock),
            embedded: None,
            seeded: Mutex::new(HashSet::new()),
            net: outbound_client(&config)?,
            knowledge: KnowledgeCache::default(),
            rate: RateLimiter::default(),
            org_limits: OrgLimits::default(),
            embedder: tokio::sync::OnceCell::new(),
            offline_embedder: std::sync::RwLock::new(None),
            config,
        })
    }

    /// The guarded outbound HTTP client.
    pub fn guarded_client(&self) -> &GuardedClient {
        &self.net
    }

    /// The embedder for a tenant's mode: test mode always embeds offline
    /// (nothing leaves the machine); live mode uses the configured one.
    pub async fn embedder_for(&self, mode: Mode) -> Result<Arc<dyn Embedder>, Error> {
        if mode == Mode::Test
            || matches!(
                self.config.embedder,
                EmbedderChoice::Offline | EmbedderChoice::Lexical
            )
        {
            if let Some(e) = self.current_offline_embedder() {
                return Ok(e);
            }
            let dir = match self.config.embedder {
                EmbedderChoice::Lexical => None,
                _ => self.config.embedding_model_dir(),
            };
            let max_tokens = self.config.embedding_max_tokens;
            let loaded =
                tokio::task::spawn_blocking(move || offline_embedder(dir.as_deref(), max_tokens))
                    .await
                    .map_err(|e| Error::Internal(format!("loading the embedder: {e}")))?;
            let mut slot = self
                .offline_embedder
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            return Ok(slot.get_or_insert(loaded).clone());
        }
        self.embedder
            .get_or_try_init(|| async {
                let e: Arc<dyn Embedder> = match &self.config.embedder {
                    EmbedderChoice::Offline | EmbedderChoice::Lexical => {
                        unreachable!("handled above")
                    }
                    EmbedderChoice::OpenAi {
                        base_url,
                        api_key,
                        model,
                        dimensions,
                    } => Arc::new(OpenAiEmbedder::new(
                        base_url,
                        api_key.clone(),
                        model.clone(),
                        *dimensions,
                    )?),
                    #[cfg(feature = "aws")]
                    EmbedderChoice::Bedrock { model, dimensions } => {
                        let sdk = crate::store::aws::sdk_config(None).await;
                        Arc::new(BedrockTitanEmbedder::from_sdk_config(
                            &sdk,
                            model.clone(),
                            *dimensions,
                        )?)
                    }
                    #[cfg(not(feature = "aws"))]
                    EmbedderChoice::Bedrock { .. } => return Err(without_aws("bedrock embedder")),
                };
                Ok::<_, Error>(e)
            })
            .await
            .cloned()
    }

    /// The offline embedder in use, if one was loaded yet.
    fn current_offline_embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.offline_embedder
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Switches the offline embedder (the model arrived after start): what
    /// is ingested or searched from now on uses `embedder`.
    pub fn use_offline_embedder(&self, embedder: Arc<dyn Embedder>) {
        *self
            .offline_embedder
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(embedder);
    }

    /// A queue by name; every name in [`QUEUE_NAMES`] exists.
    pub fn queue(&self, name: &str) -> Result<&Arc<dyn Queue>, Error> {
        self.queues
            .get(name)
            .ok_or_else(|| Error::Internal(format!("queue {name} is not configured")))
    }

    /// Now, from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Now as RFC 3339.
    pub fn now_rfc3339(&self) -> String {
        crate::domain::rfc3339(self.now())
    }

    /// A new time-ordered id.
    pub fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

/// The outbound client with the configured allow-list.
fn outbound_client(config: &Config) -> Result<GuardedClient, Error> {
    let guard = GuardConfig::from_list(&config.outbound_allow, config.outbound_allow_private);
    GuardedClient::new(&guard).map_err(|e| Error::Internal(format!("outbound client: {e}")))
}

/// The embedded install's keys: from the environment, else from
/// `<data dir>/secret.key`, generated (mode 0600) on first start.
fn local_keys(config: &Config) -> Result<(String, String), Error> {
    let path = config.data_dir.join("secret.key");
    let stored: Option<serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    let field = |k: &str| {
        stored
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let (enc, sig) = (field("encryption_key"), field("signing_key"));
    if enc.is_none() || sig.is_none() {
        let body = serde_json::json!({
            "encryption_key": enc.clone().unwrap_or_else(Cipher::generate_key),
            "signing_key": sig.clone().unwrap_or_else(Cipher::generate_key),
        });
        write_private(&path, &body.to_string())?;
        return local_keys(config);
    }
    let enc = config.encryption_key.clone().or(enc).unwrap_or_default();
    let sig = config.signing_key.clone().or(sig).unwrap_or_default();
    Ok((enc, sig))
}

fn write_private(path: &std::path::Path, contents: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| Error::Internal(format!("writing {}: {e}", path.display())))?;
    f.write_all(contents.as_bytes())
        .map_err(|e| Error::Internal(format!("writing {}: {e}", path.display())))
}

/// What a binary built without the `aws` feature says when asked for an AWS
/// part (the local platform builds without it unless told otherwise).
#[cfg(not(feature = "aws"))]
fn without_aws(what: &str) -> Error {
    Error::Internal(format!(
        "the {what} needs the AWS adapters, and this binary was built without them: \
         build it with `--features aws` (e.g. `cargo run --release --features aws`)"
    ))
}
