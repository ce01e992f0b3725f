//! From an agent's `llm_model` to a [`ChatModel`] (SPEC §16): the provider comes from a
//! prefix or the name, the key from the workspace's settings (sealed) or the environment.
//!
//! Every request to a provider a tenant can point somewhere (the OpenAI-compatible base
//! URL is a workspace setting) goes through the SSRF-guarded client, so it cannot reach
//! the internal network; the named providers' base URLs are fixed, overridable only by
//! the operator's environment (tests point them at local doubles).

use std::sync::Arc;

use super::{AnthropicChat, ChatModel, Flavour, OpenAiChat, Transport};
use super::{anthropic::ANTHROPIC_BASE_URL, openai::GEMINI_BASE_URL, openai::OPENAI_BASE_URL};
use crate::App;
use crate::domain::{Mode, Tenant};
use crate::error::Error;
use crate::services::identity;

/// Who serves a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The built-in engine: no model.
    Offline,
    /// OpenAI (`gpt-…`, `o1…`, `openai:<model>`).
    OpenAi,
    /// Anthropic (`claude-…`, `anthropic:<model>`).
    Anthropic,
    /// Google's OpenAI-compatible Gemini endpoint (`gemini-…`, `gemini:<model>`).
    Gemini,
    /// Amazon Bedrock Converse (`bedrock:<model-id>`).
    Bedrock,
    /// The workspace's own OpenAI-compatible server (`openai-compatible:<model>`).
    OpenAiCompatible,
}

impl Provider {
    /// The name its key has in the workspace's `provider_keys`.
    pub fn key_name(self) -> &'static str {
        match self {
            Provider::Offline => "offline",
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Bedrock => "bedrock",
            Provider::OpenAiCompatible => "openai_compatible",
        }
    }
}

/// Splits `llm_model` into its provider and the model name the provider knows.
pub fn parse_model(llm_model: &str) -> Result<(Provider, &str), Error> {
    let name = llm_model.trim();
    if name.is_empty() || name == "offline" {
        return Ok((Provider::Offline, "offline"));
    }
    let prefixed = [
        ("openai-compatible:", Provider::OpenAiCompatible),
        ("openai:", Provider::OpenAi),
        ("anthropic:", Provider::Anthropic),
        ("gemini:", Provider::Gemini),
        ("bedrock:", Provider::Bedrock),
    ];
    for (prefix, provider) in prefixed {
        if let Some(model) = name.strip_prefix(prefix) {
            let model = model.trim();
            if model.is_empty() {
                return Err(Error::BadRequest(format!(
                    "llm_model {name:?} names no model after {prefix:?}"
                )));
            }
            return Ok((provider, model));
        }
    }
    let o_series = name
        .strip_prefix('o')
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    let provider = if name.starts_with("gpt-") || name.starts_with("chatgpt-") || o_series {
        Provider::OpenAi
    } else if name.starts_with("claude-") {
        Provider::Anthropic
    } else if name.starts_with("gemini-") {
        Provider::Gemini
    } else {
        return Err(Error::BadRequest(format!(
            "llm_model {name:?} names no known provider: use offline, gpt-…, o…, claude-…, \
             gemini-…, or a prefix (openai:, anthropic:, gemini:, bedrock:, openai-compatible:)"
        )));
    };
    Ok((provider, name))
}

/// What the operator's environment says about providers: base URLs (tests point them at
/// doubles) and the fallback keys.
#[derive(Clone, Default)]
pub struct ProviderEnv {
    /// `SWITCHBOARD_OPENAI_BASE_URL` (default [`OPENAI_BASE_URL`]).
    pub openai_base_url: Option<String>,
    /// `SWITCHBOARD_ANTHROPIC_BASE_URL` (default [`ANTHROPIC_BASE_URL`]).
    pub anthropic_base_url: Option<String>,
    /// `SWITCHBOARD_GEMINI_BASE_URL` (default [`GEMINI_BASE_URL`]).
    pub gemini_base_url: Option<String>,
    /// `SWITCHBOARD_BEDROCK_ENDPOINT` (default: the region's Bedrock runtime).
    pub bedrock_endpoint: Option<String>,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<String>,
    /// `ANTHROPIC_API_KEY`.
    pub anthropic_api_key: Option<String>,
    /// `GEMINI_API_KEY`.
    pub gemini_api_key: Option<String>,
    /// Timeouts and retries of every client made.
    pub transport: Transport,
}

impl std::fmt::Debug for ProviderEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderEnv")
            .field("openai_base_url", &self.openai_base_url)
            .field("anthropic_base_url", &self.anthropic_base_url)
            .field("gemini_base_url", &self.gemini_base_url)
            .field("bedrock_endpoint", &self.bedrock_endpoint)
            .finish_non_exhaustive()
    }
}

impl ProviderEnv {
    /// Reads the process environment (empty values count as unset).
    pub fn from_env() -> ProviderEnv {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        ProviderEnv {
            openai_base_url: var("SWITCHBOARD_OPENAI_BASE_URL"),
            anthropic_base_url: var("SWITCHBOARD_ANTHROPIC_BASE_URL"),
            gemini_base_url: var("SWITCHBOARD_GEMINI_BASE_URL"),
            bedrock_endpoint: var("SWITCHBOARD_BEDROCK_ENDPOINT"),
            openai_api_key: var("OPENAI_API_KEY"),
            anthropic_api_key: var("ANTHROPIC_API_KEY"),
            gemini_api_key: var("GEMINI_API_KEY"),
            transport: Transport::default(),
        }
    }
}

/// The model `llm_model` names for `tenant`, or `None` for the offline engine (also always
/// in test mode). A named provider without a key, an unknown name or a missing base URL is
/// an error saying so (the caller falls back to offline and reports why).
pub async fn model_for(
    app: &App,
    tenant: &Tenant,
    llm_model: &str,
) -> Result<Option<Arc<dyn ChatModel>>, Error> {
    model_for_with(app, tenant, llm_model, &ProviderEnv::from_env()).await
}

/// [`model_for`] with the environment given (tests).
pub async fn model_for_with(
    app: &App,
    tenant: &Tenant,
    llm_model: &str,
    env: &ProviderEnv,
) -> Result<Option<Arc<dyn ChatModel>>, Error> {
    if tenant.mode == Mode::Test {
        return Ok(None);
    }
    let (provider, model) = parse_model(llm_model)?;
    let full_name = llm_model.trim().to_owned();
    let key = |fallback: &Option<String>| {
        let fallback = fallback.clone();
        async move {
            let stored = identity::provider_key(app, &tenant.org_id, provider.key_name()).await?;
            Ok::<_, Error>(stored.or(fallback))
        }
    };
    let missing = |env_var: &str| {
        Error::BadRequest(format!(
            "llm_model {full_name:?} needs a {} key: set provider_keys.{} in the workspace \
             settings or {env_var} on the server",
            provider.key_name(),
            provider.key_name()
        ))
    };
    let base = |configured: &Option<String>, default: &str| -> Result<String, Error> {
        let url = configured.as_deref().unwrap_or(default);
        app.net
            .check_url(url)
            .map_err(|e| Error::BadRequest(format!("the {} base URL: {e}", provider.key_name())))?;
        Ok(url.to_owned())
    };
    let http = app.net.pooled_client();
    let model: Arc<dyn ChatModel> = match provider {
        Provider::Offline => return Ok(None),
        Provider::OpenAi | Provider::Gemini => {
            let (configured, default, fallback, env_var, flavour) = if provider == Provider::OpenAi
            {
                (
                    &env.openai_base_url,
                    OPENAI_BASE_URL,
                    &env.openai_api_key,
                    "OPENAI_API_KEY",
                    Flavour::OpenAi,
                )
            } else {
                (
                    &env.gemini_base_url,
                    GEMINI_BASE_URL,
                    &env.gemini_api_key,
                    "GEMINI_API_KEY",
                    Flavour::Gemini,
                )
            };
            let key = key(fallback).await?.ok_or_else(|| missing(env_var))?;
            let url = base(configured, default)?;
            Arc::new(
                OpenAiChat::new(full_name, model, &url, Some(key), flavour, http)
                    .with_transport(env.transport),
            )
        }
        Provider::Anthropic => {
            let key = key(&env.anthropic_api_key)
                .await?
                .ok_or_else(|| missing("ANTHROPIC_API_KEY"))?;
            let url = base(&env.anthropic_base_url, ANTHROPIC_BASE_URL)?;
            Arc::new(
                AnthropicChat::new(full_name, model, &url, key, http).with_transport(env.transport),
            )
        }
        Provider::OpenAiCompatible => {
            let (org, _) = identity::get_org(app, &tenant.org_id).await?;
            let Some(configured) = org.settings.openai_compatible_base_url else {
                return Err(Error::BadRequest(format!(
                    "llm_model {full_name:?} needs the workspace setting openai_compatible_base_url"
                )));
            };
            let url = base(&Some(configured), "")?;
            let key = key(&None).await?;
            Arc::new(
                OpenAiChat::new(full_name, model, &url, key, Flavour::Compatible, http)
                    .with_transport(env.transport),
            )
        }
        Provider::Bedrock => bedrock(full_name, model, env).await?,
    };
    Ok(Some(model))
}

#[cfg(feature = "aws")]
async fn bedrock(
    full_name: String,
    model_id: &str,
    env: &ProviderEnv,
) -> Result<Arc<dyn ChatModel>, Error> {
    use tokio::sync::OnceCell;
    // The AWS configuration (credentials chain, region) and the client are loaded once:
    // loading probes the environment and instance metadata.
    static SDK: OnceCell<aws_config::SdkConfig> = OnceCell::const_new();
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let sdk = SDK
        .get_or_init(|| crate::store::aws::sdk_config(None))
        .await;
    let region = sdk.region().map(|r| r.as_ref().to_owned()).ok_or_else(|| {
        Error::BadRequest("bedrock models need an AWS region (AWS_REGION)".into())
    })?;
    let credentials = sdk.credentials_provider().ok_or_else(|| {
        Error::BadRequest("bedrock models need AWS credentials on the server".into())
    })?;
    // Bedrock's endpoint is the operator's (never a tenant's), and may be a VPC endpoint on
    // a private address: it does not go through the outbound guard.
    let http = HTTP
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        })
        .clone();
    Ok(Arc::new(
        super::BedrockChat::new(
            full_name,
            model_id,
            region,
            credentials,
            env.bedrock_endpoint.clone(),
            http,
        )
        .with_transport(env.transport),
    ))
}

#[cfg(not(feature = "aws"))]
async fn bedrock(
    _full_name: String,
    _model_id: &str,
    _env: &ProviderEnv,
) -> Result<Arc<dyn ChatModel>, Error> {
    Err(Error::BadRequest(
        "bedrock models need a build with the aws feature".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pick_their_provider() {
        let cases = [
            ("offline", Provider::Offline, "offline"),
            ("", Provider::Offline, "offline"),
            ("gpt-4o-mini", Provider::OpenAi, "gpt-4o-mini"),
            ("o3-mini", Provider::OpenAi, "o3-mini"),
            ("openai:ft:gpt-4o:acme", Provider::OpenAi, "ft:gpt-4o:acme"),
            (
                "claude-3-5-haiku-latest",
                Provider::Anthropic,
                "claude-3-5-haiku-latest",
            ),
            ("anthropic:claude-x", Provider::Anthropic, "claude-x"),
            ("gemini-2.5-flash", Provider::Gemini, "gemini-2.5-flash"),
            ("gemini:gemini-2.0", Provider::Gemini, "gemini-2.0"),
            (
                "bedrock:amazon.nova-lite-v1:0",
                Provider::Bedrock,
                "amazon.nova-lite-v1:0",
            ),
            (
                "openai-compatible:llama3.1:8b",
                Provider::OpenAiCompatible,
                "llama3.1:8b",
            ),
        ];
        for (name, provider, model) in cases {
            assert_eq!(parse_model(name).unwrap(), (provider, model), "{name}");
        }
        for bad in ["llama3", "ollama-x", "openai:", "bedrock: ", "omni"] {
            assert!(
                matches!(parse_model(bad), Err(Error::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
