//! Prints how long a code tool call takes: the first call in a fresh process (cold) and the
//! following ones (warm). Each call builds its own QuickJS runtime, so "warm" only means the
//! process, its blocking thread pool and the allocator are warm.
//!
//! `cargo run -p switchboard --example code_tool_latency`

use std::time::Instant;

use serde_json::json;
use switchboard::engine::tools::code::{check_syntax, run_code};
use switchboard::engine::tools::{CodeConfig, CodeLanguage};

#[tokio::main]
async fn main() {
    let config = CodeConfig {
        language: CodeLanguage::Javascript,
        source: "function main(input) { console.log('hi'); return { total: input.items.reduce((a, b) => a + b, 0) } }".into(),
        timeout_ms: 2000,
    };
    let args = json!({"items": [1, 2, 3, 4, 5]});

    let started = Instant::now();
    let first = run_code(&config, &args).await.expect("the first call runs");
    let cold = started.elapsed();
    assert_eq!(first.output, json!({"total": 15}));

    let rounds = 50;
    let started = Instant::now();
    for _ in 0..rounds {
        run_code(&config, &args).await.expect("a warm call runs");
    }
    let warm = started.elapsed() / rounds;

    let started = Instant::now();
    for _ in 0..rounds {
        check_syntax(&config.source).expect("valid source");
    }
    let syntax = started.elapsed() / rounds;

    println!(
        "code tool, cold call (first in process): {:.2} ms",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "code tool, warm call (mean of {rounds}):      {:.2} ms",
        warm.as_secs_f64() * 1e3
    );
    println!(
        "syntax check on save (mean of {rounds}):      {:.2} ms",
        syntax.as_secs_f64() * 1e3
    );
}
