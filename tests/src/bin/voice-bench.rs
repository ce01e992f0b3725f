//! `voice-bench`: the voice pipeline's figures (issue 14), through the real
//! pieces: inbound Twilio calls started by signed webhooks, and the Twilio
//! double's media stream playing recorded caller speech at real-time pace
//! (20 ms μ-law frames) and listening to what comes back.
//!
//! ```text
//! voice-bench [--calls 1] [--turns 8]            offline engines
//! voice-bench --barge-in 10                      barge-in reaction, offline engines
//! voice-bench --providers cloud [--turns 40]     cloud providers at typical latencies
//! voice-bench --passthrough 500 [--seconds 60] [--ramp-ms 20]
//! ```
//!
//! **Offline** (the default): the platform in-process on a fresh embedded
//! store with the offline speech engines (Moonshine tiny-en, espeak-ng).
//! Each of `--calls` calls at once asks `--turns` questions, one at a time:
//! the caller speaks, then waits quietly until the agent's answer has been
//! played. The round trip is measured where a caller would: from the end of
//! the voiced audio (the fixture's trailing silence excluded) to the first
//! agent audio frame that arrives back. Printed: p50/p95/max over every turn,
//! and the process's memory per call while the calls run. Needs the speech
//! models (`scripts/fetch-speech`) and espeak-ng.
//!
//! **Barge-in** (`--barge-in N`): the same offline platform, one call. N
//! times the caller asks a question, and once the agent's answer has played
//! for 400 ms, speaks over it ("No, that is not what I ordered."). Measured
//! where the caller is: from the onset of that voice (its first loud sample)
//! to Twilio's `clear` arriving, which flushes what the agent had queued,
//! and to the last agent frame that arrived before it.
//!
//! **Cloud** (`--providers cloud`): the same round trip, one call, with the
//! workspace on Deepgram (STT), an OpenAI model and ElevenLabs (TTS), each a
//! local double speaking the provider's protocol ([`CloudVoice`]), set to
//! typical cloud latencies: STT final 150 ms after `Finalize`, first token
//! 350 ms after the request, first audio 150 ms after the first text. With
//! Deepgram our own detector and turn taker decide the end of the turn
//! (Deepgram's words only say whether the sentence looks finished). When the
//! caller pauses, `Finalize` asks Deepgram for the final words at once, so
//! they arrive while the pause is still being waited out; the model request
//! leaves when the turn is decided. Seen from outside: the pause noticed
//! (voice ends → `Finalize` at the double), the end-of-turn wait (voice ends
//! → model request) and **our overhead after the wait = round trip − that
//! wait − the model's and the voice's scripted latencies**, split by the
//! doubles' timestamps: first token → first text at the TTS, the TTS
//! double's timer, first audio → first frame at the caller.
//!
//! **Passthrough** (`--passthrough N`): N calls at once on one platform with
//! the same doubles, so the relay only moves audio: every caller speaks a
//! question every ~6.5 s (frames in → Deepgram), the agent answers ~2.3 s of
//! ElevenLabs audio, paced out in 20 ms frames. Calls start `--ramp-ms`
//! apart; then for `--seconds` the callers time every agent frame they
//! receive. Printed: outbound frame jitter (inter-arrival − 20 ms, after
//! each reply's first 80 ms of lead, which is sent at once on purpose),
//! frames that arrived after they should have started playing, the
//! platform's memory per call and its CPU. The callers and doubles run in
//! this process, the platform in its own (the `switchboard` binary, built
//! beside this one): both share the machine's cores.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::speech::audio::{PHONE_RATE, read_wav, resample, ulaw_encode};
use switchboard_tests::cloud_voice::{
    CloudVoice, Latencies, channel_body, place_inbound, twilio_double,
};
use switchboard_tests::measure::{cpu, cpu_of, mib, percentile, rss, rss_of};
use switchboard_tests::twilio::TwilioDouble;
use switchboard_tests::twilio_media::MediaStream;
use switchboard_tests::{TestApp, call, speech_home};

/// Questions an offline agent answers without ending the call.
const QUESTIONS: [&str; 8] = [
    "hours", "balance", "cancel", "address", "phone", "refund", "tuesday", "wrong",
];
/// What the cloud model answers to everything: one short first sentence
/// (the round trip), then more (the passthrough's ~2.3 s of audio).
const REPLY: [&str; 5] = [
    "We open at nine on Saturdays.",
    " We close at one in the afternoon on Saturdays.",
    " On weekdays we are open from eight until six.",
    " You can also book online at any time of day.",
    " Is there anything else I can help you with today?",
];
/// μ-law silence, 500 ms.
const QUIET_MS: usize = 500;

fn fixture(name: &str, ext: &str) -> String {
    format!(
        "{}/fixtures/speech/utterances/{name}.{ext}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A fixture as the phone carries it, and how much of its end is silence (ms).
fn question(name: &str) -> Result<(Vec<u8>, u64)> {
    let path = fixture(name, "wav");
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

/// How long a fixture's voice lasts, first loud sample to last: how long
/// the Deepgram double takes to reveal its words.
fn voiced(name: &str) -> Result<Duration> {
    let path = fixture(name, "wav");
    let pcm = read_wav(&std::fs::read(&path).context(path)?)?;
    let loud = |s: &i16| s.unsigned_abs() > 1_000;
    let first = pcm.samples.iter().position(loud).unwrap_or(0);
    let last = pcm.samples.iter().rposition(loud).unwrap_or(first);
    Ok(Duration::from_millis(
        (last - first) as u64 * 1000 / u64::from(pcm.rate),
    ))
}

/// What a fixture says (what the Deepgram double "recognises").
fn words(name: &str) -> Result<String> {
    let path = fixture(name, "txt");
    Ok(std::fs::read_to_string(&path)
        .context(path)?
        .trim()
        .to_owned())
}

fn is_audio(m: &Value) -> bool {
    m["event"] == "media"
}

fn quiet(ms: usize) -> Vec<u8> {
    vec![0xffu8; 8 * ms]
}

/// One question of a call: when the caller's voice ended, and when the
/// agent's first audio frame arrived after that.
struct Turn {
    voice_ended: Instant,
    answered: Option<Instant>,
}

/// The greeting, then `turns` questions on `stream`, one at a time: the
/// caller speaks, then stays quiet until the answer has started and been
/// played out (at most 30 s).
async fn converse(stream: &mut MediaStream, turns: usize) -> Result<Vec<Turn>> {
    let silence = quiet(QUIET_MS);
    // Let the greeting play out.
    while stream
        .play_hearing(&silence)
        .await
        .1
        .iter()
        .any(|(_, m)| is_audio(m))
    {}
    let mut done = Vec::new();
    for turn in 0..turns {
        let (audio, trailing) = question(QUESTIONS[turn % QUESTIONS.len()])?;
        let spoken = Duration::from_millis((audio.len() / 8) as u64 - trailing);
        let (started, mut heard) = stream.play_hearing(&audio).await;
        let voice_ended = started + spoken;
        let first_after = |heard: &[(Instant, Value)]| {
            heard
                .iter()
                .find(|(at, m)| *at > voice_ended && is_audio(m))
                .map(|(at, _)| *at)
        };
        let mut waited = Duration::ZERO;
        loop {
            let (_, more) = stream.play_hearing(&silence).await;
            let talking = more.iter().any(|(_, m)| is_audio(m));
            heard.extend(more);
            waited += Duration::from_millis(QUIET_MS as u64);
            let answered = first_after(&heard).is_some();
            if (answered && !talking) || waited > Duration::from_secs(30) {
                break;
            }
        }
        let answered = first_after(&heard);
        if answered.is_none() {
            eprintln!("turn {turn}: no answer within 30 s");
        }
        done.push(Turn {
            voice_ended,
            answered,
        });
    }
    Ok(done)
}

/// One offline call: `turns` questions; the round trip of each, in ms.
async fn one_call(t: &TestApp, channel: &str, n: usize, turns: usize) -> Result<Vec<u64>> {
    let mut stream = place_inbound(&t.client, &t.base, channel, n).await?;
    let trips = converse(&mut stream, turns)
        .await?
        .iter()
        .filter_map(|t| Some(millis(t.answered? - t.voice_ended) as u64))
        .collect();
    stream.stop().await;
    Ok(trips)
}

fn arg(args: &[String], name: &str, default: usize) -> Result<usize> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args.get(i + 1).context("a value")?.parse()?),
        None => Ok(default),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p95, p99 and max of `values` (ms), as one line.
fn spread(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        return "none".into();
    }
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(values, 0.5),
        percentile(values, 0.95),
        percentile(values, 0.99),
        values[values.len() - 1]
    )
}

/// The `switchboard` binary built beside this one: the platform as shipped.
fn platform_exe() -> Result<PathBuf> {
    Ok(std::env::current_exe()?.with_file_name("switchboard"))
}

fn agent(allow_interruptions: bool) -> Value {
    json!({
        "name": "Front desk", "system_prompt": "You answer the phone for a dental practice.",
        "greeting": "Harbor Lane Dental, how can I help?",
        "allow_interruptions": allow_interruptions, "max_duration_seconds": 1800,
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--passthrough") {
        return passthrough(&args).await;
    }
    if args.iter().any(|a| a == "--barge-in") {
        return barge_in(&args).await;
    }
    match args.iter().position(|a| a == "--providers") {
        None => offline(&args).await,
        Some(i) => match args.get(i + 1).map(String::as_str) {
            Some("offline") => offline(&args).await,
            Some("cloud") => cloud(&args).await,
            other => bail!("--providers offline|cloud, not {other:?}"),
        },
    }
}

/// The platform in-process with the offline engines and an inbound Twilio
/// channel to a front-desk agent: the app, the channel's id, and the
/// Twilio double (kept alive with them).
async fn offline_platform() -> Result<(TestApp, String, TwilioDouble)> {
    let twilio = twilio_double().await;
    let (mut config, dir) = switchboard_tests::config(Backend::Embedded).await;
    config.twilio_api_base = twilio.base.clone();
    config.speech_model_dir = Some(speech_home());
    let t = TestApp::spawn_with(config, dir).await;
    let (_, agent) = call(t.api(Method::POST, "/agents").json(&json!({
        "name": "Front desk", "system_prompt": "You answer the phone for a dental practice.",
        "greeting": "Harbor Lane Dental, how can I help?",
    })))
    .await;
    let (_, channel) = call(
        t.api(Method::POST, "/channels")
            .json(&channel_body(&agent["data"]["id"])),
    )
    .await;
    let channel = channel["data"]["id"]
        .as_str()
        .context("a channel")?
        .to_owned();
    Ok((t, channel, twilio))
}

async fn offline(args: &[String]) -> Result<()> {
    let calls = arg(args, "--calls", 1)?;
    let turns = arg(args, "--turns", 8)?;
    let (t, channel, _twilio) = offline_platform().await?;
    let before = rss();
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = sample_peak(peak.clone(), "self".into());
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
    let peak = peak.load(Ordering::Relaxed);
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

/// Plays quiet until the agent's audio starts (at most 30 s): when its first
/// frame arrived.
async fn until_agent_speaks(stream: &mut MediaStream) -> Option<Instant> {
    let slice = quiet(20);
    for _ in 0..1_500 {
        let (_, heard) = stream.play_hearing(&slice).await;
        if let Some((at, _)) = heard.iter().find(|(_, m)| is_audio(m)) {
            return Some(*at);
        }
    }
    None
}

/// Plays quiet until the agent has been silent for a second (at most 30 s).
async fn until_agent_done(stream: &mut MediaStream) {
    let mut quiet_for = 0;
    for _ in 0..300 {
        let (_, heard) = stream.play_hearing(&quiet(100)).await;
        quiet_for = if heard.iter().any(|(_, m)| is_audio(m)) {
            0
        } else {
            quiet_for + 100
        };
        if quiet_for >= 1_000 {
            return;
        }
    }
}

async fn barge_in(args: &[String]) -> Result<()> {
    let rounds = arg(args, "--barge-in", 10)?;
    let (t, channel, _twilio) = offline_platform().await?;
    let mut stream = place_inbound(&t.client, &t.base, &channel, 0).await?;
    let (interruption, _) = question("wrong")?;
    let onset_ms = {
        let path = fixture("wrong", "wav");
        let pcm = read_wav(&std::fs::read(&path).context(path)?)?;
        let first = pcm.samples.iter().position(|s| s.unsigned_abs() > 1_000);
        first.unwrap_or(0) as u64 * 1000 / u64::from(pcm.rate)
    };
    until_agent_done(&mut stream).await;
    let (mut to_clear, mut to_silence) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let (ask, _) = question(["hours", "balance"][round % 2])?;
        stream.play(&ask).await;
        if until_agent_speaks(&mut stream).await.is_none() {
            eprintln!("round {round}: the agent never answered");
            continue;
        }
        // Let the answer play a little, then talk over it.
        let (_, before) = stream.play_hearing(&quiet(400)).await;
        if !before.iter().any(|(_, m)| is_audio(m)) {
            eprintln!("round {round}: the answer was over before the caller cut in");
            until_agent_done(&mut stream).await;
            continue;
        }
        let (started, heard) = stream.play_hearing(&interruption).await;
        let onset = started + Duration::from_millis(onset_ms);
        let cleared = heard
            .iter()
            .find(|(at, m)| *at > onset && m["event"] == "clear")
            .map(|(at, _)| *at);
        match cleared {
            Some(cleared) => {
                to_clear.push(millis(cleared - onset));
                let last_frame = heard
                    .iter()
                    .filter(|(at, m)| *at <= cleared && is_audio(m))
                    .map(|(at, _)| *at)
                    .next_back()
                    .unwrap_or(onset);
                to_silence.push(millis(last_frame.saturating_duration_since(onset)));
            }
            None => eprintln!("round {round}: no clear while the caller spoke over the agent"),
        }
        until_agent_done(&mut stream).await;
    }
    stream.stop().await;
    println!(
        "barge-in, offline engines, 1 call, {} of {rounds} rounds cut the agent off:\n  \
         caller's voice onset → Twilio `clear` at the caller: {}\n  \
         onset → the agent's last frame before it: {}",
        to_clear.len(),
        spread(&mut to_clear),
        spread(&mut to_silence),
    );
    if to_clear.is_empty() {
        bail!("no barge-in was seen");
    }
    Ok(())
}

/// Keeps the highest resident memory of `pid` in `peak`, every 200 ms.
fn sample_peak(peak: Arc<AtomicU64>, pid: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            peak.fetch_max(rss_of(&pid), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// The first of `sorted` after `after`.
fn next_after(sorted: &[Instant], after: Instant) -> Option<Instant> {
    sorted.iter().copied().find(|at| *at > after)
}

async fn cloud(args: &[String]) -> Result<()> {
    let turns = arg(args, "--turns", 40)?;
    let latencies = Latencies::TYPICAL;
    let voice = CloudVoice::start(&platform_exe()?, latencies, agent(true), &REPLY).await?;
    let said = (0..=turns)
        .map(|t| {
            let name = QUESTIONS[t % QUESTIONS.len()];
            Ok((words(name)?, voiced(name)?))
        })
        .collect::<Result<Vec<_>>>()?;
    voice.deepgram.spoken_turns(
        &said
            .iter()
            .map(|(w, d)| (w.as_str(), *d))
            .collect::<Vec<_>>(),
    );
    let mut stream = voice.call(0).await?;
    let started = Instant::now();
    let measured = converse(&mut stream, turns).await?;
    stream.stop().await;
    let finalized = voice.deepgram.recorded().finalized_at;
    let requested: Vec<Instant> = voice
        .llm
        .received()
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .map(|r| r.at)
        .collect();
    let eleven = voice.eleven.recorded();
    let (mut trips, mut noticed, mut waits, mut overheads) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut to_model, mut to_tts, mut tts_slack, mut to_caller) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, turn) in measured.iter().enumerate() {
        let Some(answered) = turn.answered else {
            continue;
        };
        // Each provider's moment in this turn: the first after the one before.
        let Some(finalize) = next_after(&finalized, turn.voice_ended) else {
            eprintln!("turn {i}: no Finalize reached Deepgram");
            continue;
        };
        let stages = next_after(&requested, finalize).and_then(|request| {
            let text = next_after(&eleven.first_text_at, request)?;
            let audio = next_after(&eleven.first_audio_at, text)?;
            Some((request, text, audio))
        });
        let Some((request, text, audio)) = stages.filter(|s| s.2 < answered) else {
            eprintln!("turn {i}: the providers' records do not line up with the answer");
            continue;
        };
        let trip = answered - turn.voice_ended;
        let wait = request - turn.voice_ended;
        trips.push(millis(trip));
        noticed.push(millis(finalize - turn.voice_ended));
        waits.push(millis(wait));
        overheads.push(
            millis(trip)
                - millis(wait)
                - millis(latencies.llm_first_token)
                - millis(latencies.tts_first_audio),
        );
        to_model.push(millis(request - finalize) - millis(latencies.stt_final));
        to_tts.push(millis(text - request) - millis(latencies.llm_first_token));
        tts_slack.push(millis(audio - text) - millis(latencies.tts_first_audio));
        to_caller.push(millis(answered - audio));
    }
    if trips.is_empty() {
        bail!("no turn was answered");
    }
    println!(
        "voice round trip, cloud providers at the doubles (STT final {} ms, LLM first token {} ms, \
         TTS first audio {} ms), 1 call, {} of {turns} turns in {:.0} s:",
        latencies.stt_final.as_millis(),
        latencies.llm_first_token.as_millis(),
        latencies.tts_first_audio.as_millis(),
        trips.len(),
        started.elapsed().as_secs_f64(),
    );
    println!(
        "  round trip (caller's voice ends → first agent frame back): {}",
        spread(&mut trips)
    );
    println!(
        "  the pause noticed (voice ends → Finalize reaches Deepgram): {}",
        spread(&mut noticed)
    );
    println!(
        "  end-of-turn wait (voice ends → model request): {}",
        spread(&mut waits)
    );
    println!(
        "    final words ready → model request (Finalize + the STT's {} ms → request): {}",
        latencies.stt_final.as_millis(),
        spread(&mut to_model)
    );
    println!(
        "  our overhead after the wait (round trip − end-of-turn wait − {} ms): {}",
        (latencies.llm_first_token + latencies.tts_first_audio).as_millis(),
        spread(&mut overheads)
    );
    println!(
        "    first token → first text at the TTS (beyond the model's {} ms): {}",
        latencies.llm_first_token.as_millis(),
        spread(&mut to_tts)
    );
    println!(
        "    the TTS double's own timer beyond its {} ms: {}",
        latencies.tts_first_audio.as_millis(),
        spread(&mut tts_slack)
    );
    println!(
        "    first audio → first frame at the caller: {}",
        spread(&mut to_caller)
    );
    Ok(())
}

/// How quiet a passthrough caller stays after each question (the answer
/// plays meanwhile).
const LISTEN_MS: usize = 4_500;
/// Frames the relay sends at once when a reply starts (its 80 ms lead plus
/// the frame playing now): their inter-arrival is not jitter.
const LEAD_FRAMES: usize = 5;
/// A gap this long between agent frames separates two replies.
const REPLY_GAP: Duration = Duration::from_millis(500);
const FRAME: Duration = Duration::from_millis(20);

/// One passthrough caller: starts at `start`, then a question every
/// ~6.5 s until `until`; when each agent frame arrived.
async fn caller(
    voice: Arc<CloudVoice>,
    n: usize,
    start: Instant,
    until: Instant,
    question: Arc<Vec<u8>>,
) -> Result<Vec<Instant>> {
    tokio::time::sleep_until(start.into()).await;
    let mut stream = voice.call(n).await?;
    let mut frames = Vec::new();
    let mut keep = |heard: Vec<(Instant, Value)>| {
        frames.extend(
            heard
                .into_iter()
                .filter(|(_, m)| is_audio(m))
                .map(|(at, _)| at),
        );
    };
    keep(stream.play_hearing(&quiet(1_500)).await.1);
    while Instant::now() < until {
        keep(stream.play_hearing(&question).await.1);
        keep(stream.play_hearing(&quiet(LISTEN_MS)).await.1);
    }
    stream.stop().await;
    Ok(frames)
}

/// What the callers heard in the measured window.
#[derive(Default)]
struct Heard {
    /// |inter-arrival − 20 ms| of every frame after a reply's lead, ms.
    deviations: Vec<f64>,
    /// Frames that arrived after they should have started playing.
    late: usize,
    frames: usize,
    replies: usize,
}

impl Heard {
    /// Adds one call's frame arrivals, counting what lies in `window`.
    fn add(&mut self, arrivals: &[Instant], window: (Instant, Instant)) {
        let inside = |at: &Instant| *at >= window.0 && *at <= window.1;
        for reply in arrivals.chunk_by(|a, b| *b - *a < REPLY_GAP) {
            let first = reply[0];
            if inside(&first) {
                self.replies += 1;
            }
            for (k, at) in reply.iter().enumerate() {
                if !inside(at) {
                    continue;
                }
                self.frames += 1;
                // Frame k plays k × 20 ms after the first one.
                if *at > first + FRAME * k as u32 {
                    self.late += 1;
                }
                if k >= LEAD_FRAMES {
                    let gap = millis(*at - reply[k - 1]);
                    self.deviations.push((gap - millis(FRAME)).abs());
                }
            }
        }
    }
}

async fn passthrough(args: &[String]) -> Result<()> {
    let calls = arg(args, "--passthrough", 500)?;
    let seconds = arg(args, "--seconds", 60)? as u64;
    let ramp = Duration::from_millis(arg(args, "--ramp-ms", 20)? as u64);
    let voice = Arc::new(
        CloudVoice::start(&platform_exe()?, Latencies::TYPICAL, agent(false), &REPLY).await?,
    );
    let (question, _) = question("hours")?;
    let cycle = (question.len() / 8 + LISTEN_MS) as u64;
    let per_call = (seconds * 1000 / cycle + 3) as usize;
    let said = (words("hours")?, voiced("hours")?);
    voice
        .deepgram
        .spoken_turns(&vec![(said.0.as_str(), said.1); calls * per_call]);
    let pid = voice.pid();
    let idle = rss_of(&pid);
    let peak = Arc::new(AtomicU64::new(idle));
    let sampler = sample_peak(peak.clone(), pid.clone());
    let started = Instant::now();
    // Measured from a second after the last call started to the end.
    let window = (
        started + ramp * calls as u32 + Duration::from_secs(1),
        started + ramp * calls as u32 + Duration::from_secs(seconds),
    );
    let question = Arc::new(question);
    let runs: Vec<_> = (0..calls)
        .map(|n| {
            tokio::spawn(caller(
                voice.clone(),
                n,
                started + ramp * n as u32,
                window.1,
                question.clone(),
            ))
        })
        .collect();
    tokio::time::sleep_until(window.0.into()).await;
    let (platform_cpu, own_cpu) = (cpu_of(&pid), cpu());
    tokio::time::sleep_until(window.1.into()).await;
    let (platform_cpu, own_cpu) = (cpu_of(&pid) - platform_cpu, cpu() - own_cpu);
    let measured = (window.1 - window.0).as_secs_f64();
    let resident = rss_of(&pid);
    let mut heard = Heard::default();
    let (mut failed, mut answered) = (0, 0);
    for run in runs {
        match run.await {
            Ok(Ok(arrivals)) => {
                let before = heard.replies;
                heard.add(&arrivals, window);
                answered += usize::from(heard.replies > before);
            }
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("a call failed: {e:#}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("a call failed: {e}");
            }
        }
    }
    sampler.abort();
    let peak = peak.load(Ordering::Relaxed);
    let models = voice.llm.received().len();
    let (finalized, spoken) = (
        voice.deepgram.recorded().finalized_at.len(),
        voice.eleven.recorded().first_audio_at.len(),
    );
    println!(
        "passthrough: {calls} concurrent calls (started {} ms apart), cloud providers at the doubles, \
         {measured:.0} s measured: {answered} calls answered in the window, {failed} failed, \
         {} replies, {} agent frames",
        ramp.as_millis(),
        heard.replies,
        heard.frames,
    );
    println!(
        "  outbound frame jitter |inter-arrival − 20 ms| at the callers: {}",
        spread(&mut heard.deviations)
    );
    println!(
        "  frames that arrived after they should have started playing: {} of {} ({:.3} %)",
        heard.late,
        heard.frames,
        100.0 * heard.late as f64 / heard.frames.max(1) as f64
    );
    println!(
        "  platform memory: {:.0} MiB idle, {:.0} MiB with the calls (peak {:.0} MiB): \
         {:.2} MiB per call (peak − idle)",
        mib(idle),
        mib(resident),
        mib(peak),
        mib(peak.saturating_sub(idle)) / calls as f64,
    );
    println!(
        "  CPU over the window: platform {:.2} cores, callers and doubles (this process) {:.2} cores",
        platform_cpu.as_secs_f64() / measured,
        own_cpu.as_secs_f64() / measured,
    );
    println!(
        "  the doubles saw, over the whole run: {finalized} turns finalized (Deepgram), \
         {models} model requests, {spoken} sentences spoken (ElevenLabs)"
    );
    Ok(())
}
