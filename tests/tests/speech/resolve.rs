//! Which speech engines a workspace gets: from its sealed provider keys (set
//! through the settings API, on a real store) and the agent's voice, each
//! engine then reaching its double with the workspace's key.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchboard::config::Backend;
use switchboard::domain::agent::VoiceSettings;
use switchboard::domain::{Mode, Tenant};
use switchboard::speech::cloud::Timeouts;
use switchboard::speech::resolve::{SpeechEnv, synthesizer_with, transcriber_with};
use switchboard::speech::{SpeakOptions, SpeechError, TranscribeOptions};
use switchboard_tests::speech_doubles::deepgram::DeepgramDouble;
use switchboard_tests::speech_doubles::elevenlabs::ElevenLabsDouble;
use switchboard_tests::speech_doubles::openai::OpenAiAudioDouble;
use switchboard_tests::speech_doubles::tone;
use switchboard_tests::{TestApp, call, config};

fn voice(provider: &str) -> VoiceSettings {
    serde_json::from_value(json!({"provider": provider, "voice_id": "v-1"}))
        .expect("voice settings")
}

async fn set_keys(app: &TestApp, keys: serde_json::Value) {
    let (status, body) = call(
        app.api(Method::POST, "/settings/workspace")
            .json(&json!({ "provider_keys": keys })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_workspace_gets_the_engines_its_keys_allow_with_its_own_keys() {
    let (config, dir) = config(Backend::Embedded).await;
    let app = TestApp::spawn_with(config, dir).await;
    let (_, me) = call(app.api(Method::GET, "/auth/me")).await;
    let live = Tenant {
        org_id: me["data"]["organization"]["id"]
            .as_str()
            .expect("an org")
            .to_owned(),
        mode: Mode::Live,
    };
    let (deepgram, eleven, openai) = (
        DeepgramDouble::start().await,
        ElevenLabsDouble::start().await,
        OpenAiAudioDouble::start().await,
    );
    let env = SpeechEnv {
        deepgram_base: deepgram.base.clone(),
        elevenlabs_base: eleven.base.clone(),
        openai_base: openai.base.clone(),
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            reply: Duration::from_millis(500),
        },
    };
    let listen = TranscribeOptions {
        language: "en-US".into(),
        sample_rate: 16_000,
    };
    let speak = SpeakOptions {
        voice_id: Some("v-1".into()),
        language: "en-US".into(),
        speed: None,
        stability: None,
        similarity_boost: None,
    };

    // No keys: everything is offline, and the reason says why.
    let stt = transcriber_with(&app.app, &live, &env).await;
    let reason = match &stt {
        Ok(r) => r.reason.clone(),
        Err(SpeechError::Unavailable(m)) => m.clone(),
        Err(e) => panic!("{e:?}"),
    };
    assert!(reason.contains("no deepgram or openai key"), "{reason}");

    set_keys(
        &app,
        json!({"deepgram": "dg-workspace", "elevenlabs": "xi-workspace", "openai": "sk-workspace"}),
    )
    .await;

    let stt = transcriber_with(&app.app, &live, &env)
        .await
        .expect("deepgram");
    assert_eq!(stt.engine.name(), "deepgram:nova-3");
    assert!(stt.reason.contains("deepgram key"), "{}", stt.reason);
    let mut session = stt.engine.open(&listen).await.expect("connects");
    session.push(&tone(16_000, 320)).await.unwrap();
    session.close().await;
    assert_eq!(
        deepgram.recorded().authorization.as_deref(),
        Some("Token dg-workspace")
    );

    let tts = synthesizer_with(&app.app, &live, Some(&voice("elevenlabs")), &env)
        .await
        .expect("elevenlabs");
    assert_eq!(tts.engine.name(), "elevenlabs:eleven_flash_v2_5");
    drop(tts.engine.open(&speak).await.expect("connects"));
    assert_eq!(eleven.recorded().api_key.as_deref(), Some("xi-workspace"));
    assert_eq!(eleven.recorded().voice_id.as_deref(), Some("v-1"));

    let tts = synthesizer_with(&app.app, &live, Some(&voice("openai")), &env)
        .await
        .expect("openai");
    assert_eq!(tts.engine.name(), "openai:gpt-4o-mini-tts");
    let mut utterance = tts.engine.open(&speak).await.unwrap();
    utterance.text.send("Hi.".into()).await.unwrap();
    drop(utterance.text);
    while let Some(chunk) = utterance.audio.recv().await {
        chunk.expect("audio");
    }
    assert_eq!(
        openai.recorded().speech_auth,
        [Some("Bearer sk-workspace".to_owned())]
    );

    // Without the deepgram key, OpenAI transcribes, with the workspace's key.
    set_keys(&app, json!({"deepgram": null})).await;
    let stt = transcriber_with(&app.app, &live, &env)
        .await
        .expect("openai");
    assert_eq!(stt.engine.name(), "openai:gpt-4o-mini-transcribe");
    let mut session = stt.engine.open(&listen).await.unwrap();
    session.push(&tone(16_000, 1600)).await.unwrap();
    session.take().await.unwrap();
    assert_eq!(
        openai.recorded().transcriptions[0].authorization.as_deref(),
        Some("Bearer sk-workspace")
    );

    // Test mode never reaches a provider, keys or not.
    let test = Tenant {
        mode: Mode::Test,
        ..live.clone()
    };
    for reason in [
        transcriber_with(&app.app, &test, &env)
            .await
            .map(|r| r.reason),
        synthesizer_with(&app.app, &test, Some(&voice("elevenlabs")), &env)
            .await
            .map(|r| r.reason),
    ] {
        let reason = match reason {
            Ok(r) | Err(SpeechError::Unavailable(r)) => r,
            Err(e) => panic!("{e:?}"),
        };
        assert!(reason.contains("test mode"), "{reason}");
    }
}
