//! The voice pipeline over a Twilio media stream (issue 14): recorded caller
//! speech goes in at real-time pace as Twilio sends it, the offline engines
//! (Moonshine, espeak-ng) transcribe and speak, and the agent's voice comes
//! back as 20 ms μ-law frames. These need the offline speech models
//! (`scripts/fetch-speech`; the test command fetches them) and fail loudly
//! without them.
//!
//! The pipeline does not touch the store beyond what the media-stream tests
//! already prove on both backends, and each of these plays seconds of audio
//! in real time, so they run on the embedded store only.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard_tests::twilio::TwilioDouble;
use switchboard_tests::twilio_media::{MediaStream, phone_audio};
use switchboard_tests::{TestApp, call, config, speech_home};

use crate::telephony::{NUMBER, double, hook, inbound, line, parameter, post, until};

/// The platform with the offline speech engines and `twilio` as Twilio.
async fn spawn(twilio: &TwilioDouble) -> TestApp {
    let (mut cfg, dir) = config(Backend::Embedded).await;
    cfg.twilio_api_base = twilio.base.clone();
    cfg.speech_model_dir = Some(speech_home());
    TestApp::spawn_with(cfg, dir).await
}

fn utterance(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/speech/utterances/{name}.wav",
        env!("CARGO_MANIFEST_DIR")
    );
    phone_audio(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// `ms` of the caller's line with nobody speaking (μ-law silence).
fn quiet(ms: usize) -> Vec<u8> {
    vec![0xff; ms * 8]
}

/// Whether the relay's message is agent audio.
fn is_audio(message: &Value) -> bool {
    message["event"] == "media" && message["media"]["payload"].as_str().is_some()
}

/// Starts an inbound call on `t`'s Twilio line and its media stream.
async fn answer(t: &TestApp, channel: &str, call_sid: &str) -> (String, MediaStream) {
    let (_, _, twiml) = post(t, &hook(t, channel, "voice"), &inbound(call_sid, NUMBER)).await;
    let call_id = parameter(&twiml, "call_id");
    let token = parameter(&twiml, "token");
    let relay = t.base.replacen("http", "ws", 1);
    let stream = MediaStream::start(
        &relay,
        call_sid,
        &[("call_id", &call_id), ("token", &token)],
    )
    .await;
    (call_id, stream)
}

fn transcript(c: &Value) -> Vec<Value> {
    c["transcript"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_is_heard_and_answered_aloud() {
    let twilio = double().await;
    let t = spawn(&twilio).await;
    let channel = line(&t).await;
    let (call_id, mut stream) = answer(&t, &channel, "CA21").await;

    // The greeting is spoken: audio arrives while the caller's line is quiet.
    let greeting = stream.play_listening(&quiet(3_000)).await;
    let frames = greeting.iter().filter(|(_, m)| is_audio(m)).count();
    assert!(
        frames > 25,
        "the greeting was not spoken: {frames} audio frames in 3 s"
    );

    // The caller asks, then waits; the question is transcribed and answered aloud.
    let question = utterance("hours");
    let spoken_ms = (question.len() / 8) as u64;
    let mut audio = question;
    audio.extend(quiet(4_000));
    let heard = stream.play_listening(&audio).await;
    let answer_at = heard
        .iter()
        .filter(|(at, m)| *at > spoken_ms && is_audio(m))
        .map(|(at, _)| *at)
        .next()
        .expect("the agent answered aloud after the question");
    println!(
        "voice round trip (caller stops → first agent audio back): {} ms",
        answer_at - spoken_ms
    );
    let c = until(&t, &format!("/calls/{call_id}/transcript"), |c| {
        transcript(c).iter().any(|e| {
            e["role"] == "user"
                && e["text"]
                    .as_str()
                    .is_some_and(|t| t.to_lowercase().contains("saturday"))
        })
    })
    .await;
    let entries = transcript(&c);
    let asked = entries
        .iter()
        .position(|e| e["role"] == "user")
        .expect("the caller's words are in the transcript");
    assert!(
        entries[asked + 1..].iter().any(|e| e["role"] == "agent"),
        "the agent answered in the transcript: {entries:?}"
    );

    stream.stop().await;
    let ended = until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "completed"
    })
    .await;
    assert_eq!(ended["end_reason"], "callee_hung_up");
    assert!(
        ended["metrics"]["turns"].as_u64().is_some_and(|n| n >= 1),
        "{ended}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_cuts_in_stops_the_agent_and_the_transcript_keeps_what_was_heard() {
    let twilio = double().await;
    let t = spawn(&twilio).await;
    let channel = line(&t).await;
    let (_, c) = call(t.api(Method::GET, &format!("/channels/{channel}"))).await;
    let agent = c["data"]["default_agent_id"].as_str().unwrap().to_owned();
    let long = "Thank you for calling the shop on the corner of Main Street. \
        We sell fresh bread, cakes and pastries every day of the week. \
        Our bakers start at four in the morning so that everything is warm when we open. \
        Please tell me how I can help you today.";
    let (status, body) = call(
        t.api(Method::PATCH, &format!("/agents/{agent}"))
            .json(&json!({"greeting": long})),
    )
    .await;
    assert!(status.is_success(), "{body}");
    let (call_id, mut stream) = answer(&t, &channel, "CA22").await;

    // Two seconds into the greeting, the caller talks over it.
    let mut audio = quiet(2_000);
    let cut_in_at = 2_000u64;
    audio.extend(utterance("human"));
    audio.extend(quiet(3_000));
    let heard = stream.play_listening(&audio).await;
    let cleared = heard
        .iter()
        .find(|(_, m)| m["event"] == "clear")
        .map(|(at, _)| *at)
        .expect("the relay told Twilio to clear the agent's audio");
    assert!(cleared > cut_in_at, "cleared before the caller spoke");
    println!(
        "barge-in: caller speech onset → clear: {} ms",
        cleared - cut_in_at
    );

    let c = until(&t, &format!("/calls/{call_id}/transcript"), |c| {
        transcript(c).iter().any(|e| e["interrupted"] == true)
    })
    .await;
    let entries = transcript(&c);
    let cut = entries
        .iter()
        .find(|e| e["interrupted"] == true)
        .expect("an interrupted entry");
    assert_eq!(cut["role"], "agent");
    let said = cut["text"].as_str().unwrap();
    assert!(
        long.starts_with(said) && said.len() < long.len(),
        "the interrupted greeting keeps only what was heard: {said:?}"
    );
    stream.stop().await;
    until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "completed"
    })
    .await;
}
