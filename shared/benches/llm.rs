//! Our overhead on top of a model's first token (issue 11): each client streams from the
//! provider double (`tests/src/llm_double.rs`) whose first chunk comes 300 ms after the
//! request; the time to the first text piece minus those 300 ms is what the client costs
//! (request encoding, HTTP, SSE or event-stream decoding, the double's own loopback and
//! timer slack included). A bare reqwest read of the same double's first chunk is
//! measured alongside, as the floor. Run in release:
//!
//!   cargo bench -p switchboard --bench llm

#[path = "../../tests/src/llm_double.rs"]
#[allow(dead_code)]
mod llm_double;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use llm_double::{LlmDouble, Script};
use switchboard::engine::llm::{
    AnthropicChat, BedrockChat, ChatEvent, ChatMessage, ChatModel, ChatRequest, Flavour, OpenAiChat,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DELAY: Duration = Duration::from_millis(300);
const RUNS: usize = 40;

fn request() -> ChatRequest {
    ChatRequest {
        system: "You are a helpful phone agent. Keep answers short.".into(),
        messages: vec![ChatMessage::user(
            "What are your opening hours on Saturday?",
        )],
        max_tokens: 200,
        ..ChatRequest::default()
    }
}

fn script() -> Script {
    Script::text(&["We open ", "at nine ", "on Saturdays."]).first_token_after(DELAY)
}

async fn first_text(model: &dyn ChatModel) -> Duration {
    let started = Instant::now();
    let mut stream = model.stream(request()).await.expect("a stream");
    while let Some(event) = stream.next().await {
        if let ChatEvent::Text(_) = event.expect("an event") {
            let at = started.elapsed();
            while stream.next().await.is_some() {}
            return at;
        }
    }
    panic!("no text");
}

async fn bare_first_chunk(http: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    let body = serde_json::json!({"model": "m", "stream": true, "messages": []});
    let mut response = http.post(url).json(&body).send().await.expect("a response");
    let _ = response.chunk().await.expect("a chunk");
    let at = started.elapsed();
    while let Ok(Some(_)) = response.chunk().await {}
    at
}

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 - DELAY.as_secs_f64() * 1000.0;
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "| {name} | {:.2} | {:.2} | {:.2} |",
        ms(samples[0]),
        ms(p(0.5)),
        ms(p(0.99)),
    );
}

#[tokio::main]
async fn main() {
    let double = LlmDouble::start().await;
    double.always(script());
    let http = reqwest::Client::new();
    let models: Vec<(&str, Arc<dyn ChatModel>)> = vec![
        (
            "OpenAI-compatible (SSE)",
            Arc::new(OpenAiChat::new(
                "openai-compatible:m",
                "m",
                &format!("{}/v1", double.base),
                Some("sk-bench".into()),
                Flavour::Compatible,
                http.clone(),
            )),
        ),
        (
            "Anthropic Messages (SSE)",
            Arc::new(AnthropicChat::new(
                "claude-m",
                "claude-m",
                &double.base,
                "sk-bench".into(),
                http.clone(),
            )),
        ),
        (
            "Bedrock ConverseStream (event stream, SigV4)",
            Arc::new(BedrockChat::new(
                "bedrock:m",
                "m",
                "us-east-1",
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("AKID", "SECRET", None, None, "bench"),
                ),
                Some(double.base.clone()),
                http.clone(),
            )),
        ),
    ];
    println!("| client | min ms | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    let url = format!("{}/v1/chat/completions", double.base);
    let _ = bare_first_chunk(&http, &url).await; // warm the connection
    let mut bare = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        bare.push(bare_first_chunk(&http, &url).await);
    }
    summary("bare reqwest, first chunk (floor)", bare);
    for (name, model) in models {
        let _ = first_text(&*model).await;
        let mut samples = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            samples.push(first_text(&*model).await);
        }
        summary(name, samples);
    }
}
