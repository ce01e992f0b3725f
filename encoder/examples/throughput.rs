//! Embeddings per second of a model on this machine, for chunks of a fixed
//! number of tokens (BENCHMARKS.md, "all-mpnet-base-v2"):
//!
//! ```text
//! cargo run --release -p switchboard-encoder --example throughput -- DIR [TOKENS] [CHUNKS]
//! ```
//!
//! Each chunk is a different text longer than `TOKENS` (default 256), read
//! to exactly `TOKENS` tokens; `CHUNKS` (default 64) of them are encoded in
//! one call (one forward pass per core), after one warm-up call.

use std::path::PathBuf;
use std::time::Instant;

use switchboard_encoder::SentenceEncoder;

const WORDS: &[&str] = &[
    "the",
    "invoice",
    "appointment",
    "cancellation",
    "refund",
    "policy",
    "weekend",
    "opening",
    "hours",
    "plumber",
    "repair",
    "estimate",
    "deposit",
    "warranty",
    "customer",
    "schedule",
    "delivery",
    "address",
    "street",
    "payment",
    "card",
    "monthly",
    "plan",
    "premium",
    "basic",
    "service",
    "charge",
    "fee",
    "notice",
    "days",
    "before",
    "after",
    "within",
    "clinic",
    "dental",
    "cleaning",
    "insurance",
    "coverage",
    "patient",
    "emergency",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: throughput DIR [TOKENS] [CHUNKS]")?,
    );
    let tokens: usize = args.next().map_or(Ok(256), |a| a.parse())?;
    let chunks: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let loaded = Instant::now();
    let encoder = SentenceEncoder::load(&dir)?.with_max_tokens(tokens);
    println!(
        "{}: {} dims, reads {} tokens, {} kernels, loaded in {:.2} s",
        dir.display(),
        encoder.dimensions(),
        encoder.max_tokens(),
        encoder.kernels().name(),
        loaded.elapsed().as_secs_f64()
    );
    // A pseudo-random walk over the words: every chunk differs.
    let mut state = 0x2545_f491_u64;
    let texts: Vec<String> = (0..chunks)
        .map(|_| {
            (0..tokens * 2)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    WORDS[(state >> 33) as usize % WORDS.len()]
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    encoder.encode(&texts[..chunks.min(4)])?;
    let started = Instant::now();
    encoder.encode(&texts)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{chunks} chunks of {} tokens in {seconds:.2} s: {:.1} embeddings/s, {:.0} tokens/s",
        encoder.max_tokens(),
        chunks as f64 / seconds,
        (chunks * encoder.max_tokens()) as f64 / seconds
    );
    Ok(())
}
