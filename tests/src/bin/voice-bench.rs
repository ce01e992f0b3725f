//! `voice-bench`: the voice pipeline's round trip (issue 14), through the
//! real pieces: the platform spawned in-process on a fresh embedded store
//! with the offline speech engines (Moonshine tiny-en, espeak-ng), inbound
//! Twilio calls started by signed webhooks, and the Twilio double's media
//! stream playing recorded caller speech at real-time pace.
//!
//! ```text
//! voice-bench [--calls 1] [--turns 8]
//! ```
//!
//! Each of `--calls` calls at once asks `--turns` questions, one at a time:
//! the caller speaks, then waits quietly until the agent's answer has been
//! played. The round trip is measured where a caller would: from the end of
//! the voiced audio (the fixture's trailing silence excluded) to the first
//! agent audio frame that arrives back. Printed: p50/p95/max over every turn,
//! and the process's memory per call while the calls run. Needs the speech
//! models (`scripts/fetch-speech`) and espeak-ng.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::speech::audio::{PHONE_RATE, read_wav, resample, ulaw_encode};
use switchboard_tests::measure::{mib, percentile, rss};
use switchboard_tests::twilio::{Account, TwilioDouble, signed_webhook, twiml_parameter};
use switchboard_tests::twilio_media::MediaStream;
use switchboard_tests::{TestApp, call, speech_home};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth_token_bench";
const NUMBER: &str = "+14155550100";
/// Questions an offline agent answers without ending the call.
const QUESTIONS: [&str; 8] = [
    "hours", "balance", "cancel", "address", "phone", "refund", "tuesday", "wrong",
];

/// A fixture as the phone carries it, and how much of its end is silence (ms).
fn question(name: &str) -> Result<(Vec<u8>, u64)> {
    let path = format!(
        "{}/fixtures/speech/utterances/{name}.wav",
        env!("CARGO_MANIFEST_DIR")
    );
    let pcm = read_wav(&std::fs::read(&path).context(path)?)?;
    let last = pcm
        .samples
        .iter()
        .rposition(|s| s.unsigned_abs() > 1_000)
        .unwrap_or(pcm.samples.len());
    let trailing = (pcm.samples.len() - last) as u64 * 1000 / u64::from(pcm.rate);
    let phone = resample(&pcm, PHONE_RATE)?;
    Ok((ulaw_encode(&phone.samples), trailing))
}

fn is_audio(m: &Value) -> bool {
    m["event"] == "media"
}

/// One call: `turns` questions; the round trip of each, in ms.
async fn one_call(t: &TestApp, channel: &str, n: usize, turns: usize) -> Result<Vec<u64>> {
    let call_sid = format!("CA{n:032}");
    let url = format!("{}/api/v1/telephony/twilio/{channel}/voice", t.base);
    let params = [
        ("AccountSid", SID),
        ("CallSid", call_sid.as_str()),
        ("From", "+14155559999"),
        ("To", NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let twiml = signed_webhook(&t.client, &url, TOKEN, &params, &call_sid)
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
    let relay = t.base.replacen("http", "ws", 1);
    let mut stream = MediaStream::start(
        &relay,
        &call_sid,
        &[("call_id", &call_id), ("token", &token)],
    )
    .await;
    let quiet = vec![0xffu8; 8 * 500];
    // Let the greeting play out.
    while stream
        .play_listening(&quiet)
        .await
        .iter()
        .any(|(_, m)| is_audio(m))
    {}
    let mut trips = Vec::new();
    for turn in 0..turns {
        let (audio, trailing) = question(QUESTIONS[turn % QUESTIONS.len()])?;
        let spoken = (audio.len() / 8) as u64 - trailing;
        let mut heard = stream.play_listening(&audio).await;
        let mut offset = (audio.len() / 8) as u64;
        // Quiet until the answer has started and then been played out.
        loop {
            let more = stream.play_listening(&quiet).await;
            let talking = more.iter().any(|(_, m)| is_audio(m));
            heard.extend(more.into_iter().map(|(at, m)| (at + offset, m)));
            offset += 500;
            let answered = heard.iter().any(|(at, m)| *at > spoken && is_audio(m));
            if (answered && !talking) || offset > 30_000 {
                break;
            }
        }
        match heard.iter().find(|(at, m)| *at > spoken && is_audio(m)) {
            Some((at, _)) => trips.push(at - spoken),
            None => eprintln!("call {n} turn {turn}: no answer within 30 s"),
        }
    }
    stream.stop().await;
    Ok(trips)
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).context("a value")?.parse()?),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let calls = arg(&args, "--calls", 1)?;
    let turns = arg(&args, "--turns", 8)?;
    let twilio = TwilioDouble::spawn(
        vec![Account {
            sid: SID.into(),
            token: TOKEN.into(),
            numbers: vec![NUMBER.into()],
        }],
        50,
    )
    .await;
    let (mut config, dir) = switchboard_tests::config(Backend::Embedded).await;
    config.twilio_api_base = twilio.base.clone();
    config.speech_model_dir = Some(speech_home());
    let t = TestApp::spawn_with(config, dir).await;
    let (_, agent) = call(t.api(Method::POST, "/agents").json(&json!({
        "name": "Front desk", "system_prompt": "You answer the phone for a dental practice.",
        "greeting": "Harbor Lane Dental, how can I help?",
    })))
    .await;
    let (_, channel) = call(t.api(Method::POST, "/channels").json(&json!({
        "name": "Line", "type": "twilio",
        "credentials": {"account_sid": SID, "auth_token": TOKEN},
        "phone_numbers": [NUMBER], "default_agent_id": agent["data"]["id"],
    })))
    .await;
    let channel = channel["data"]["id"]
        .as_str()
        .context("a channel")?
        .to_owned();
    let before = rss();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let started = Instant::now();
    let runs = (0..calls).map(|n| one_call(&t, &channel, n, turns));
    let mut trips: Vec<u64> = futures::future::try_join_all(runs)
        .await?
        .into_iter()
        .flatten()
        .collect();
    sampler.abort();
    trips.sort_unstable();
    if trips.is_empty() {
        bail!("no turn was answered");
    }
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "voice round trip, offline engines, {calls} call(s) at once, {} turns in {:.0} s: \
         p50 {} ms, p95 {} ms, max {} ms; memory {:.1} MiB per call ({:.0} MiB before)",
        trips.len(),
        started.elapsed().as_secs_f64(),
        percentile(&trips, 0.5),
        percentile(&trips, 0.95),
        trips[trips.len() - 1],
        mib(peak.saturating_sub(before)) / calls as f64,
        mib(before),
    );
    Ok(())
}
