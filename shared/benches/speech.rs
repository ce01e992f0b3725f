//! The caller's side of a phone call, per 20 ms frame (issue 14): μ-law
//! decoding, 8 → 16 kHz resampling and the voice-activity detector, as the
//! relay runs them for every frame of every call. Speech frames (the
//! recorded test callers) and quiet ones (digital silence, and line noise at
//! −60 dBFS, under the detector's −50 dBFS floor) are timed apart: a caller
//! is quiet most of a call, while the agent speaks. Then the end-of-turn
//! model's cost per pause (its features, and the whole judgement), when the
//! model is fetched (`scripts/fetch-speech`). Run in release:
//!
//!   cargo bench -p switchboard --no-default-features --bench speech
//!
//! Prints a Markdown table for BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use switchboard::engine::conversation::percentile;
use switchboard::speech::audio::{
    PHONE_RATE, Resampler, read_wav, resample, samples_in, ulaw_decode, ulaw_encode,
};
use switchboard::speech::offline::smart_turn::{SmartTurn, log_mel};
use switchboard::speech::offline::{RUNTIME_LIBRARY, SMART_TURN_MODEL, repository_home};
use switchboard::speech::vad::{Vad, VadConfig};

/// The allocator every shipped binary uses (see `switchboard-functions`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The pipeline's rate.
const RATE: u32 = 16_000;
/// Frames timed per kind of audio (the utterances repeat as needed).
const FRAMES: usize = 20_000;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/speech/utterances");
    let mut speech = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("the recorded utterances")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    names.sort();
    let mut turns = Vec::new();
    for path in names {
        let pcm = read_wav(&std::fs::read(&path).expect("a WAV")).expect("a readable WAV");
        speech.extend(resample(&pcm, PHONE_RATE).expect("8 kHz").samples);
        turns.push(pcm.samples);
    }
    // Deterministic noise at about -60 dBFS (RMS ~33).
    let mut seed = 0x2545_f491_u32;
    let noise: Vec<i16> = (0..PHONE_RATE as usize * 10)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed % 115) as i16 - 57
        })
        .collect();
    let silence = vec![0i16; PHONE_RATE as usize * 10];

    println!("| caller audio | per frame p50 | p99 | mean | frames/s on one core |");
    println!("|---|---|---|---|---|");
    for (name, audio) in [
        ("speech (the ten recorded callers)", &speech),
        ("line noise at −60 dBFS", &noise),
        ("digital silence", &silence),
    ] {
        let frame = samples_in(PHONE_RATE, 20);
        let ulaw: Vec<Vec<u8>> = audio.chunks_exact(frame).map(ulaw_encode).collect();
        let mut up = Resampler::new(PHONE_RATE, RATE).expect("8 -> 16 kHz");
        let mut vad = Vad::new(RATE, VadConfig::default()).expect("a detector");
        let mut times = Vec::with_capacity(FRAMES);
        let started = Instant::now();
        for i in 0..FRAMES {
            let t = Instant::now();
            let pcm = up.push(&ulaw_decode(&ulaw[i % ulaw.len()]));
            black_box(vad.push(&pcm));
            times.push(t.elapsed().as_nanos() as u64);
        }
        let total = started.elapsed().as_secs_f64();
        println!(
            "| {name} | {:.1} µs | {:.1} µs | {:.1} µs | {:.0} |",
            percentile(&times, 0.5) / 1e3,
            percentile(&times, 0.99) / 1e3,
            times.iter().sum::<u64>() as f64 / times.len() as f64 / 1e3,
            FRAMES as f64 / total,
        );
    }
    end_of_turn_model(&turns);
}

/// Times the end-of-turn model on each recorded caller's turn (16 kHz,
/// 200 ms of pause after it), as the pipeline asks it once per pause.
fn end_of_turn_model(turns: &[Vec<i16>]) {
    const RUNS: usize = 20;
    let home = repository_home();
    let model = match SmartTurn::load(&home.join(SMART_TURN_MODEL), &home.join(RUNTIME_LIBRARY)) {
        Ok(model) => model,
        Err(e) => {
            println!("\nThe end-of-turn model was not measured: {e}");
            return;
        }
    };
    let turns: Vec<Vec<i16>> = turns
        .iter()
        .map(|t| [t.as_slice(), &[0; 3_200]].concat())
        .collect();
    let (mut features, mut whole) = (Vec::new(), Vec::new());
    for turn in turns.iter().cycle().take(turns.len() * RUNS) {
        let t = Instant::now();
        black_box(log_mel(turn));
        features.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        black_box(model.probability(turn).expect("a verdict"));
        whole.push(t.elapsed().as_nanos() as u64);
    }
    println!("\n| end-of-turn model, per pause (one thread) | p50 | p99 | mean |");
    println!("|---|---|---|---|");
    for (name, times) in [
        ("log-mel features of 8 s", &features),
        ("whole judgement", &whole),
    ] {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(times, 0.5) / 1e6,
            percentile(times, 0.99) / 1e6,
            times.iter().sum::<u64>() as f64 / times.len() as f64 / 1e6,
        );
    }
}
