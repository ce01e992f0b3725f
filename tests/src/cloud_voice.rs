//! A platform answering phone calls with cloud providers, each of them a
//! local double speaking the provider's public protocol over a real socket:
//! Twilio (REST, signed webhooks, the media stream), Deepgram live
//! speech-to-text, an OpenAI-compatible model (server-sent events) and
//! ElevenLabs stream-input text-to-speech, set to chosen latencies.
//!
//! The platform runs as a child process (the `switchboard` binary): its memory
//! and CPU are then measured apart from the callers and the doubles, and the
//! model's base URL reaches it the way an operator sets it, through the
//! environment (`SWITCHBOARD_OPENAI_BASE_URL`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::llm_double::{self, LlmDouble};
use crate::process::{PlatformProcess, free_port};
use crate::speech_doubles::Script;
use crate::speech_doubles::deepgram::DeepgramDouble;
use crate::speech_doubles::elevenlabs::ElevenLabsDouble;
use crate::twilio::{TwilioDouble, signed_webhook, twiml_parameter};
use crate::twilio_media::MediaStream;

/// The Twilio account the calls come from.
pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth_token_bench";
/// The number the callers dial.
pub const NUMBER: &str = "+14155550100";

/// How long each provider takes to answer.
#[derive(Debug, Clone, Copy)]
pub struct Latencies {
    /// Deepgram: `Finalize` → the turn's final result.
    pub stt_final: Duration,
    /// The model: request → first token.
    pub llm_first_token: Duration,
    /// ElevenLabs: first text → first audio.
    pub tts_first_audio: Duration,
}

impl Latencies {
    /// Typical cloud figures (issue 14): STT final 150 ms, LLM first token
    /// 350 ms, TTS first audio 150 ms.
    pub const TYPICAL: Latencies = Latencies {
        stt_final: Duration::from_millis(150),
        llm_first_token: Duration::from_millis(350),
        tts_first_audio: Duration::from_millis(150),
    };

    /// The three together: what the providers add to every turn.
    pub fn total(&self) -> Duration {
        self.stt_final + self.llm_first_token + self.tts_first_audio
    }
}

/// The platform, its providers' doubles and one Twilio channel whose
/// default agent answers every call.
pub struct CloudVoice {
    /// The platform process.
    pub platform: PlatformProcess,
    /// Speech-to-text.
    pub deepgram: DeepgramDouble,
    /// The agent's model.
    pub llm: LlmDouble,
    /// Text-to-speech.
    pub eleven: ElevenLabsDouble,
    _twilio: TwilioDouble,
    channel: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl CloudVoice {
    /// Starts the doubles at `latencies` (the model always answering
    /// `reply`, in these pieces), the platform binary at `exe` pointed at
    /// them, the workspace's provider keys, `agent` (the create body; its
    /// model and voice are set here) and a Twilio channel answering with it.
    pub async fn start(
        exe: &Path,
        latencies: Latencies,
        mut agent: Value,
        reply: &[&str],
    ) -> Result<CloudVoice> {
        if !exe.is_file() {
            bail!(
                "{} is missing: build it (`-p switchboard-local --bin switchboard`) beside this benchmark",
                exe.display()
            );
        }
        let deepgram = DeepgramDouble::start().await;
        deepgram.script(Script::ok().final_after(latencies.stt_final));
        let eleven = ElevenLabsDouble::start().await;
        eleven.script(Script::ok().first_after(latencies.tts_first_audio));
        let llm = LlmDouble::start().await;
        llm.always(llm_double::Script::text(reply).first_token_after(latencies.llm_first_token));
        let twilio = twilio_double().await;
        let dir = tempfile::tempdir()?;
        let platform = PlatformProcess::start(
            exe.to_str().context("a UTF-8 path")?,
            dir.path(),
            free_port(),
            &[
                ("SWITCHBOARD_TWILIO_API_BASE", twilio.base.clone()),
                ("SWITCHBOARD_DEEPGRAM_API_BASE", deepgram.base.clone()),
                ("SWITCHBOARD_ELEVENLABS_API_BASE", eleven.base.clone()),
                ("SWITCHBOARD_OPENAI_BASE_URL", format!("{}/v1", llm.base)),
                // The model's double is on 127.0.0.1, which outbound requests
                // may otherwise not reach.
                ("SWITCHBOARD_OUTBOUND_ALLOW", "127.0.0.1".into()),
                ("RUST_LOG", "warn".into()),
            ],
        )
        .await;
        let (status, body) = crate::call(platform.api(Method::POST, "/settings/workspace").json(
            &json!({"provider_keys": {"deepgram": "dg-bench", "elevenlabs": "xi-bench", "openai": "sk-bench"}}),
        ))
        .await;
        if !status.is_success() {
            bail!("provider keys not set: {status} {body}");
        }
        agent["llm_model"] = json!("gpt-4o-mini");
        agent["voice_settings"] = json!({"provider": "elevenlabs", "voice_id": "v-bench"});
        let (status, agent) = crate::call(platform.api(Method::POST, "/agents").json(&agent)).await;
        if !status.is_success() {
            bail!("agent not created: {status} {agent}");
        }
        let (status, channel) = crate::call(
            platform
                .api(Method::POST, "/channels")
                .json(&channel_body(&agent["data"]["id"])),
        )
        .await;
        let channel = match channel["data"]["id"].as_str() {
            Some(id) if status.is_success() => id.to_owned(),
            _ => bail!("channel not created: {status} {channel}"),
        };
        Ok(CloudVoice {
            platform,
            deepgram,
            llm,
            eleven,
            _twilio: twilio,
            channel,
            client: reqwest::Client::new(),
            _dir: dir,
        })
    }

    /// The platform's process id (for its memory and CPU time).
    pub fn pid(&self) -> String {
        self.platform.child.id().to_string()
    }

    /// An inbound call `n` as Twilio places it: the signed voice webhook,
    /// then the media stream its TwiML names.
    pub async fn call(&self, n: usize) -> Result<MediaStream> {
        place_inbound(&self.client, &self.platform.base, &self.channel, n).await
    }
}

/// The Twilio double holding the benchmarks' account ([`SID`], [`TOKEN`],
/// [`NUMBER`]).
pub async fn twilio_double() -> TwilioDouble {
    TwilioDouble::one_account(SID, TOKEN, NUMBER).await
}

/// The create body of a Twilio channel on that account, answered by `agent_id`.
pub fn channel_body(agent_id: &Value) -> Value {
    json!({
        "name": "Line", "type": "twilio",
        "credentials": {"account_sid": SID, "auth_token": TOKEN},
        "phone_numbers": [NUMBER], "default_agent_id": agent_id,
    })
}

/// Inbound call `n` to [`NUMBER`] on `channel` of the platform at `base`
/// (its Twilio account [`SID`], [`TOKEN`]), as Twilio places it: the signed
/// voice webhook, then the media stream its TwiML names.
pub async fn place_inbound(
    client: &reqwest::Client,
    base: &str,
    channel: &str,
    n: usize,
) -> Result<MediaStream> {
    let call_sid = format!("CA{n:032}");
    let url = format!("{base}/api/v1/telephony/twilio/{channel}/voice");
    let params = [
        ("AccountSid", SID),
        ("CallSid", call_sid.as_str()),
        ("From", "+14155559999"),
        ("To", NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let twiml = signed_webhook(client, &url, TOKEN, &params, &call_sid)
        .send()
        .await?
        .text()
        .await?;
    let (Some(call_id), Some(token)) = (
        twiml_parameter(&twiml, "call_id"),
        twiml_parameter(&twiml, "token"),
    ) else {
        bail!("no stream in the voice webhook's answer: {twiml}");
    };
    let relay = base.replacen("http", "ws", 1);
    Ok(MediaStream::start(
        &relay,
        &call_sid,
        &[("call_id", &call_id), ("token", &token)],
    )
    .await)
}
