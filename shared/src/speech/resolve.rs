//! Which speech engines serve a workspace's calls, and why.
//!
//! Speech-to-text: a workspace with a `deepgram` key gets Deepgram (streaming,
//! the lowest latency); else one with an `openai` key gets OpenAI's
//! transcription; else the offline engine. Text-to-speech follows the agent's
//! `voice_settings.provider`: `elevenlabs` or `openai` with that provider's key
//! present; anything else (`offline`, absent, a provider Switchboard does not
//! speak, a missing key) is the offline voice. Test mode is always offline.
//! Each choice comes with the reason, for the call log.
//!
//! The providers' base URLs are the operator's (configuration, never a
//! tenant's), so their requests do not go through the outbound guard.

use std::sync::{Arc, OnceLock};

use super::cloud::{ApiKey, Timeouts};
use super::deepgram::DeepgramTranscriber;
use super::elevenlabs::ElevenLabsSynthesizer;
use super::openai::{OpenAiSynthesizer, OpenAiTranscriber};
use super::{SpeechError, Synthesizer, Transcriber, deepgram, elevenlabs, offline, openai};
use crate::App;
use crate::domain::agent::VoiceSettings;
use crate::domain::{Mode, Tenant};
use crate::engine::llm::resolve::ProviderEnv;
use crate::services::identity;

/// Who transcribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SttChoice {
    /// Deepgram live streaming.
    Deepgram,
    /// OpenAI transcription.
    OpenAi,
    /// The offline engine.
    Offline,
}

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtsChoice {
    /// ElevenLabs stream-input.
    ElevenLabs,
    /// OpenAI speech.
    OpenAi,
    /// The offline voice.
    Offline,
}

/// Which of the speech providers' keys a workspace holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeysPresent {
    /// `provider_keys.deepgram`.
    pub deepgram: bool,
    /// `provider_keys.elevenlabs`.
    pub elevenlabs: bool,
    /// `provider_keys.openai`.
    pub openai: bool,
}

/// The speech-to-text provider for a workspace, and why.
pub fn choose_stt(mode: Mode, keys: KeysPresent) -> (SttChoice, String) {
    if mode == Mode::Test {
        return (
            SttChoice::Offline,
            "test mode always uses the offline engine".into(),
        );
    }
    if keys.deepgram {
        (
            SttChoice::Deepgram,
            "the workspace has a deepgram key".into(),
        )
    } else if keys.openai {
        (
            SttChoice::OpenAi,
            "the workspace has an openai key and no deepgram key".into(),
        )
    } else {
        (
            SttChoice::Offline,
            "the workspace has no deepgram or openai key".into(),
        )
    }
}

/// The text-to-speech provider for an agent's voice, and why.
pub fn choose_tts(
    mode: Mode,
    voice: Option<&VoiceSettings>,
    keys: KeysPresent,
) -> (TtsChoice, String) {
    if mode == Mode::Test {
        return (
            TtsChoice::Offline,
            "test mode always uses the offline voice".into(),
        );
    }
    let provider = voice
        .and_then(|v| v.provider.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty());
    match provider {
        None | Some("offline") => (
            TtsChoice::Offline,
            "the agent asks for the offline voice".into(),
        ),
        Some("elevenlabs") if keys.elevenlabs => (
            TtsChoice::ElevenLabs,
            "the agent asks for elevenlabs and the workspace has its key".into(),
        ),
        Some("openai") if keys.openai => (
            TtsChoice::OpenAi,
            "the agent asks for openai and the workspace has its key".into(),
        ),
        Some(p @ ("elevenlabs" | "openai")) => (
            TtsChoice::Offline,
            format!("the agent asks for {p} but the workspace has no {p} key (provider_keys.{p})"),
        ),
        Some(other) => (
            TtsChoice::Offline,
            format!("voice provider {other:?} is not supported (elevenlabs, openai or offline)"),
        ),
    }
}

/// An engine and the reason it was chosen.
pub struct Resolved<T: ?Sized> {
    /// The engine.
    pub engine: Arc<T>,
    /// Why this one (one line, for the call log).
    pub reason: String,
}

impl<T: ?Sized> std::fmt::Debug for Resolved<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Where the providers are and how long to wait for them.
#[derive(Debug, Clone)]
pub struct SpeechEnv {
    /// Deepgram's base (`SWITCHBOARD_DEEPGRAM_API_BASE`).
    pub deepgram_base: String,
    /// ElevenLabs' base (`SWITCHBOARD_ELEVENLABS_API_BASE`).
    pub elevenlabs_base: String,
    /// OpenAI's base with `/v1` (`SWITCHBOARD_OPENAI_BASE_URL`, shared with the
    /// language models).
    pub openai_base: String,
    /// The clients' waiting limits.
    pub timeouts: Timeouts,
}

impl SpeechEnv {
    /// The operator's configuration.
    pub fn from_app(app: &App) -> SpeechEnv {
        SpeechEnv {
            deepgram_base: app.config.deepgram_api_base.clone(),
            elevenlabs_base: app.config.elevenlabs_api_base.clone(),
            openai_base: ProviderEnv::from_env()
                .openai_base_url
                .unwrap_or_else(|| crate::engine::llm::openai::OPENAI_BASE_URL.to_owned()),
            timeouts: Timeouts::default(),
        }
    }
}

/// The transcriber for `tenant`'s calls. Errors only when the offline engine
/// it falls back on is not available either.
pub async fn transcriber(
    app: &App,
    tenant: &Tenant,
) -> Result<Resolved<dyn Transcriber>, SpeechError> {
    transcriber_with(app, tenant, &SpeechEnv::from_app(app)).await
}

/// [`transcriber`] with the providers' places given (tests).
pub async fn transcriber_with(
    app: &App,
    tenant: &Tenant,
    env: &SpeechEnv,
) -> Result<Resolved<dyn Transcriber>, SpeechError> {
    let keys = keys(app, tenant).await;
    let (choice, reason) = choose_stt(tenant.mode, keys.present());
    let engine: Arc<dyn Transcriber> = match (choice, keys.deepgram, keys.openai) {
        (SttChoice::Deepgram, Some(key), _) => Arc::new(
            DeepgramTranscriber::new(&env.deepgram_base, deepgram::DEFAULT_MODEL, key)
                .with_timeouts(env.timeouts),
        ),
        (SttChoice::OpenAi, _, Some(key)) => Arc::new(
            OpenAiTranscriber::new(&env.openai_base, openai::DEFAULT_STT_MODEL, key, http())
                .with_timeouts(env.timeouts),
        ),
        _ => return fallback(offline::transcriber(app), reason),
    };
    Ok(Resolved { engine, reason })
}

/// The synthesizer for an agent (its `voice_settings`) in `tenant`'s calls.
/// Errors only when the offline voice it falls back on is not available either.
pub async fn synthesizer(
    app: &App,
    tenant: &Tenant,
    voice: Option<&VoiceSettings>,
) -> Result<Resolved<dyn Synthesizer>, SpeechError> {
    synthesizer_with(app, tenant, voice, &SpeechEnv::from_app(app)).await
}

/// [`synthesizer`] with the providers' places given (tests).
pub async fn synthesizer_with(
    app: &App,
    tenant: &Tenant,
    voice: Option<&VoiceSettings>,
    env: &SpeechEnv,
) -> Result<Resolved<dyn Synthesizer>, SpeechError> {
    let keys = keys(app, tenant).await;
    let (choice, reason) = choose_tts(tenant.mode, voice, keys.present());
    let engine: Arc<dyn Synthesizer> = match (choice, keys.elevenlabs, keys.openai) {
        (TtsChoice::ElevenLabs, Some(key), _) => Arc::new(
            ElevenLabsSynthesizer::new(&env.elevenlabs_base, elevenlabs::DEFAULT_MODEL, key)
                .with_timeouts(env.timeouts),
        ),
        (TtsChoice::OpenAi, _, Some(key)) => Arc::new(
            OpenAiSynthesizer::new(&env.openai_base, openai::DEFAULT_TTS_MODEL, key, http())
                .with_timeouts(env.timeouts),
        ),
        _ => return fallback(offline::synthesizer(app), reason),
    };
    Ok(Resolved { engine, reason })
}

/// The offline engine, the reason carried along (and extended when it is missing too).
fn fallback<T: ?Sized>(
    offline: Result<Arc<T>, SpeechError>,
    reason: String,
) -> Result<Resolved<T>, SpeechError> {
    match offline {
        Ok(engine) => Ok(Resolved {
            engine,
            reason: format!("{reason}, so the offline engine"),
        }),
        Err(e) => Err(SpeechError::Unavailable(format!("{reason}, and {e}"))),
    }
}

/// The workspace's speech keys, unsealed (in memory only).
#[derive(Default)]
struct Keys {
    deepgram: Option<ApiKey>,
    elevenlabs: Option<ApiKey>,
    openai: Option<ApiKey>,
}

impl Keys {
    fn present(&self) -> KeysPresent {
        KeysPresent {
            deepgram: self.deepgram.is_some(),
            elevenlabs: self.elevenlabs.is_some(),
            openai: self.openai.is_some(),
        }
    }
}

async fn keys(app: &App, tenant: &Tenant) -> Keys {
    if tenant.mode == Mode::Test {
        return Keys::default();
    }
    let one = |name: &'static str| async move {
        match identity::provider_key(app, &tenant.org_id, name).await {
            Ok(key) => key.map(ApiKey::new),
            Err(e) => {
                // A store hiccup must not fail the call: it falls back to offline.
                tracing::warn!(org = %tenant.org_id, provider = name, error = %e, "reading a speech key failed");
                None
            }
        }
    };
    Keys {
        deepgram: one("deepgram").await,
        elevenlabs: one("elevenlabs").await,
        openai: one("openai").await,
    }
}

/// One pooled client for every speech request (connect bounded; each client
/// bounds its replies itself).
fn http() -> reqwest::Client {
    static HTTP: OnceLock<reqwest::Client> = OnceLock::new();
    HTTP.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(provider: Option<&str>) -> VoiceSettings {
        serde_json::from_value(serde_json::json!({ "provider": provider })).unwrap()
    }

    const ALL: KeysPresent = KeysPresent {
        deepgram: true,
        elevenlabs: true,
        openai: true,
    };

    #[test]
    fn stt_prefers_deepgram_then_openai_then_offline() {
        assert_eq!(choose_stt(Mode::Live, ALL).0, SttChoice::Deepgram);
        let openai_only = KeysPresent {
            openai: true,
            ..KeysPresent::default()
        };
        assert_eq!(choose_stt(Mode::Live, openai_only).0, SttChoice::OpenAi);
        let (choice, reason) = choose_stt(Mode::Live, KeysPresent::default());
        assert_eq!(choice, SttChoice::Offline);
        assert!(reason.contains("no deepgram or openai key"), "{reason}");
        assert_eq!(choose_stt(Mode::Test, ALL).0, SttChoice::Offline);
    }

    #[test]
    fn tts_follows_the_agent_and_its_key() {
        let el = voice(Some("elevenlabs"));
        assert_eq!(
            choose_tts(Mode::Live, Some(&el), ALL).0,
            TtsChoice::ElevenLabs
        );
        assert_eq!(
            choose_tts(Mode::Live, Some(&voice(Some("openai"))), ALL).0,
            TtsChoice::OpenAi
        );
        let (choice, reason) = choose_tts(Mode::Live, Some(&el), KeysPresent::default());
        assert_eq!(choice, TtsChoice::Offline);
        assert!(reason.contains("provider_keys.elevenlabs"), "{reason}");
        let (choice, reason) = choose_tts(Mode::Live, Some(&voice(Some("polly"))), ALL);
        assert_eq!(choice, TtsChoice::Offline);
        assert!(reason.contains("polly"), "{reason}");
        assert_eq!(choose_tts(Mode::Live, None, ALL).0, TtsChoice::Offline);
        assert_eq!(
            choose_tts(Mode::Live, Some(&voice(Some("offline"))), ALL).0,
            TtsChoice::Offline
        );
        assert_eq!(choose_tts(Mode::Test, Some(&el), ALL).0, TtsChoice::Offline);
    }
}
