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
use switchboard_tests::{TestApp, WsClient, call, config, speech_home};

use crate::telephony::{
    NUMBER, SID, double, execute, hook, inbound, line, parameter, post, report, until,
};

/// The platform with the offline speech engines and `twilio` as Twilio.
async fn spawn(twilio: &TwilioDouble) -> TestApp {
    let (mut cfg, dir) = config(Backend::Embedded).await;
    cfg.twilio_api_base = twilio.base.clone();
    cfg.speech_model_dir = Some(speech_home());
    TestApp::spawn_with(cfg, dir).await
}

/// A recorded caller utterance (`tests/fixtures/speech/utterances/{name}.wav`).
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/speech/utterances/{name}.wav",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An utterance as the phone carries it (8 kHz μ-law).
fn utterance(name: &str) -> Vec<u8> {
    phone_audio(&fixture(name))
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

    // Both sides were recorded as the call ran: a WAV as long as the call.
    assert!(ended["recording_url"].is_string(), "{ended}");
    let wav = t
        .api(Method::GET, &format!("/calls/{call_id}/recording/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(wav.status().as_u16(), 200);
    let wav = switchboard::speech::audio::read_wav(&wav.bytes().await.unwrap()).unwrap();
    let seconds = wav.samples.len() as f64 / f64::from(wav.rate);
    assert!(
        (8.0..30.0).contains(&seconds),
        "the recording lasts {seconds:.1} s"
    );
    let loud = wav
        .samples
        .iter()
        .filter(|s| s.unsigned_abs() > 2_000)
        .count();
    assert!(
        loud > 16_000,
        "the recording has both voices: {loud} loud samples"
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

/// 16 kHz PCM16 little-endian bytes of a fixture utterance (the widget's format).
fn page_audio(name: &str) -> Vec<u8> {
    let pcm = switchboard::speech::audio::read_wav(&fixture(name)).expect("a readable WAV file");
    let pcm = switchboard::speech::audio::resample(&pcm, 16_000).expect("16 kHz");
    pcm.samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// What a page or a supervisor got on its socket while `audio` was sent
/// in 20 ms binary frames at real-time pace, and `extra` more milliseconds
/// after: the JSON messages, and the binary audio bytes with their arrival
/// times (ms since the first frame).
async fn talk(ws: &mut WsClient, audio: &[u8], extra_ms: u64) -> (Vec<Value>, Vec<(u64, usize)>) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    let mut frames = audio.chunks(640);
    let mut done_at: Option<std::time::Instant> = None;
    let (mut messages, mut binary) = (Vec::new(), Vec::new());
    loop {
        tokio::select! {
            _ = tick.tick() => match frames.next() {
                Some(frame) => ws.send(Message::Binary(frame.to_vec().into())).await.unwrap(),
                None => {
                    let end = *done_at.get_or_insert_with(std::time::Instant::now);
                    if end.elapsed().as_millis() as u64 >= extra_ms {
                        break;
                    }
                }
            },
            got = ws.next() => match got {
                Some(Ok(Message::Text(t))) => messages.push(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Binary(b))) => binary.push((started.elapsed().as_millis() as u64, b.len())),
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    (messages, binary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_website_visitor_talks_with_the_agent_out_loud() {
    use crate::web_chat::{SHOP, agent, channel, connect_with, open_session};
    let (mut cfg, dir) = config(Backend::Embedded).await;
    cfg.speech_model_dir = Some(speech_home());
    let t = TestApp::spawn_with(cfg, dir).await;
    let agent = agent(&t).await;
    let channel = channel(&t, Some(&agent)).await;
    let (session, token) = open_session(&t, &channel).await;
    // A mode the socket does not speak is refused on the upgrade.
    let refused = connect_with(
        &t,
        &session,
        &format!("{token}&mode=video"),
        &[("origin", SHOP)],
    )
    .await;
    let Err((status, body)) = refused else {
        panic!("a mode=video socket was accepted");
    };
    assert_eq!(status, 422, "{body}");
    let mut ws = connect_with(
        &t,
        &session,
        &format!("{token}&mode=voice"),
        &[("origin", SHOP)],
    )
    .await
    .expect("the voice socket opens");

    // The greeting is spoken as binary audio while the microphone hears a quiet room.
    let (messages, audio) = talk(&mut ws, &vec![0; 640 * 100], 0).await;
    assert_eq!(messages[0]["type"], "connected", "{messages:?}");
    assert_eq!(messages[0]["data"]["audio"]["sample_rate"], 16_000);
    assert!(
        audio.len() > 25 && audio.iter().all(|(_, n)| *n == 640),
        "{} frames",
        audio.len()
    );

    // The visitor asks out loud; the question is heard and answered aloud.
    let question = page_audio("hours");
    let spoken_ms = (question.len() / 32) as u64;
    let (messages, audio) = talk(&mut ws, &question, 4_000).await;
    assert!(
        audio.iter().any(|(at, _)| *at > spoken_ms),
        "the agent answered aloud: {messages:?} {} frames, last at {:?}",
        audio.len(),
        audio.last()
    );
    let said: Vec<&Value> = messages
        .iter()
        .filter(|m| m["type"] == "transcript_update")
        .flat_map(|m| m["data"]["transcript"].as_array().unwrap())
        .collect();
    assert!(
        said.iter().any(|e| e["role"] == "user"
            && e["text"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("saturday")),
        "{said:?}"
    );
    drop(ws);
    let ended = until(&t, &format!("/calls/{session}"), |c| {
        c["status"] == "completed"
    })
    .await;
    assert_eq!(ended["direction"], "web");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_hears_the_call_and_speaks_once_holding_it() {
    let twilio = double().await;
    let t = spawn(&twilio).await;
    let channel = line(&t).await;
    let (call_id, mut stream) = answer(&t, &channel, "CA23").await;
    // The call is talking (its greeting is heard) before the supervisor joins.
    let greeting = stream.play_listening(&quiet(1_000)).await;
    assert!(greeting.iter().any(|(_, m)| is_audio(m)), "no greeting");
    let live = format!("/live-space/live-calls/{call_id}");
    let (_, joined) = call(
        t.api(Method::POST, &format!("{live}/supervisor/join"))
            .json(&json!({})),
    )
    .await;
    let token = joined["data"]["token"]
        .as_str()
        .expect("a supervisor token");
    let ws_base = t.base.replacen("http", "ws", 1);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{ws_base}/ws/supervisor/{call_id}?token={token}"
    ))
    .await
    .expect("the supervisor socket opens");

    // The supervisor hears the call (both sides, 20 ms frames) while it goes on.
    let line = quiet(2_000);
    let (listened, _) = tokio::join!(talk(&mut ws, &[], 2_000), stream.play_listening(&line));
    let (messages, heard) = listened;
    assert!(heard.len() > 50, "{} frames heard", heard.len());
    assert!(heard.iter().all(|(_, n)| *n == 640));

    // Speaking before taking over is refused, once.
    let voice: Vec<u8> = page_audio("thanks");
    let (messages2, _) = talk(&mut ws, &voice[..640 * 10], 200).await;
    let refusals: Vec<_> = messages
        .iter()
        .chain(&messages2)
        .filter(|m| m["type"] == "error")
        .collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0]["error"]
            .as_str()
            .unwrap()
            .contains("taken over")
    );

    // Holding the call, the supervisor's voice reaches the caller.
    let (status, took) = call(
        t.api(Method::POST, &format!("{live}/takeover"))
            .json(&json!({"active": true})),
    )
    .await;
    assert!(status.is_success(), "{took}");
    let line = quiet(3_000);
    let (_, caller) = tokio::join!(talk(&mut ws, &voice, 500), stream.play_listening(&line));
    let sent = caller.iter().filter(|(_, m)| is_audio(m)).count();
    assert!(
        sent > 50,
        "the caller heard {sent} frames of the supervisor"
    );
    stream.stop().await;
    until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "completed"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answering_machine_gets_the_agents_message_after_the_beep() {
    let twilio = double().await;
    let t = spawn(&twilio).await;
    let channel = line(&t).await;
    let (_, c) = call(t.api(Method::GET, &format!("/channels/{channel}"))).await;
    let agent = c["data"]["default_agent_id"].as_str().unwrap().to_owned();
    let message = "Hello, this is the shop calling back about your order. Please call us back.";
    let (status, body) = call(
        t.api(Method::PATCH, &format!("/agents/{agent}"))
            .json(&json!({"voicemail": {"action": "leave_message", "message": message}})),
    )
    .await;
    assert!(status.is_success(), "{body}");
    let call_id = execute(&t, "+14155550123").await;
    let placed = loop {
        if let Some(placed) = twilio.calls().into_iter().next() {
            break placed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let twiml = placed.field("Twiml").unwrap();
    let relay = t.base.replacen("http", "ws", 1);
    // The double's first call; Twilio rings it before anyone answers.
    let call_sid = format!("CA{:032x}", 1);
    let status_url = hook(&t, &channel, "status");
    report(&t, &status_url, &call_sid, "ringing").await;
    let mut stream = MediaStream::start(
        &relay,
        &call_sid,
        &[
            ("call_id", &parameter(twiml, "call_id")),
            ("token", &parameter(twiml, "token")),
        ],
    )
    .await;
    // The agent greets whoever answered; then Twilio's detection says a machine
    // did, its greeting over (DetectMessageEnd: the beep).
    let greeting = stream.play_listening(&quiet(1_000)).await;
    assert!(greeting.iter().any(|(_, m)| is_audio(m)), "no greeting");
    let amd = [
        ("AccountSid", SID),
        ("CallSid", call_sid.as_str()),
        ("AnsweredBy", "machine_end_beep"),
    ];
    let (status, _, body) = post(&t, &status_url, &amd).await;
    assert_eq!(status.as_u16(), 204, "{body}");
    let heard = stream.play_listening(&quiet(8_000)).await;
    let cleared = heard.iter().position(|(_, m)| m["event"] == "clear");
    let cleared = cleared.expect("the greeting was cut for the message");
    let message_frames = heard[cleared..].iter().filter(|(_, m)| is_audio(m)).count();
    assert!(
        message_frames > 100,
        "the message was spoken: {message_frames} frames"
    );
    let ended = until(&t, &format!("/calls/{call_id}"), |c| {
        c["status"] == "completed"
    })
    .await;
    assert_eq!(ended["end_reason"], "voicemail", "{ended}");
    let transcript = transcript(&ended);
    assert!(
        transcript
            .iter()
            .any(|e| e["role"] == "agent" && e["text"] == message),
        "{transcript:?}"
    );
}
