//! `webhook-bench`: webhook deliveries per second to a local receiver, and
//! the latency from enqueue to arrival (p50/p99/max), through the real
//! pieces: the platform spawned in-process on a fresh embedded store, its
//! queue workers, the guarded client, a receiver on 127.0.0.1.
//!
//! ```text
//! webhook-bench [--deliveries 1000] [--path task|events] [--rate 0]
//! ```
//!
//! `task`: `enqueue_task_delivery` (what the call runner does when a call
//! ends). `events`: `events::emit("call.completed")` fanned out to one org
//! endpoint by the events worker first (one more queue hop). `--rate N`
//! paces the enqueues at N a second (0, the default: one burst), so the
//! latency is the pipeline's own rather than the burst's backlog.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::{events, webhooks};
use switchboard_tests::TestApp;
use switchboard_tests::measure::percentile;
use switchboard_tests::receiver::Receiver;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mut deliveries = 1000usize;
    let mut path = "task".to_owned();
    let mut rate = 0f64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--deliveries" => deliveries = value.parse()?,
            "--path" => path = value,
            "--rate" => rate = value.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    let (mut config, dir) = switchboard_tests::config(Backend::Embedded).await;
    config.outbound_allow = "127.0.0.1".into();
    let t = TestApp::spawn_with(config, dir).await;
    let (cookie, data) = t.signup("bench@example.com").await;
    let tenant = Tenant {
        org_id: data["organization"]["id"]
            .as_str()
            .context("org id")?
            .to_owned(),
        mode: Mode::Live,
    };
    let receiver = Receiver::start(0, 200).await;
    if path == "events" {
        let resp = t
            .session(reqwest::Method::POST, "/webhooks", &cookie)
            .json(&json!({"url": receiver.url, "events": ["call.completed"]}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("creating the endpoint: {}", resp.text().await?);
        }
    }

    let mut sent = Vec::with_capacity(deliveries);
    let start = Instant::now();
    for seq in 0..deliveries {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(seq as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        sent.push(Instant::now());
        let data = json!({"seq": seq});
        match path.as_str() {
            "task" => {
                let body = json!({"event_type": "call_completed", "task_id": "bench", "call_id": seq.to_string(), "status": "completed", "data": data});
                webhooks::enqueue_task_delivery(&t.app, &tenant, &receiver.url, body).await?
            }
            "events" => events::emit(&t.app, &tenant, "call.completed", data).await?,
            other => bail!("--path must be task or events, not {other}"),
        }
    }
    let enqueued = start.elapsed();
    let got = receiver
        .wait_for(deliveries, Duration::from_secs(600))
        .await;
    let mut latencies = Vec::with_capacity(got.len());
    let mut last = start;
    for c in &got {
        let body = c.json();
        let seq = body["data"]["seq"].as_u64().context("seq")? as usize;
        latencies.push(c.at.duration_since(sent[seq]));
        last = last.max(c.at);
    }
    latencies.sort();
    let total = last.duration_since(start);
    println!(
        "path={path} deliveries={deliveries} rate_asked={rate} enqueue_time={:.2}s total={:.2}s rate={:.0}/s \
         latency p50={:.1}ms p99={:.1}ms max={:.1}ms",
        enqueued.as_secs_f64(),
        total.as_secs_f64(),
        deliveries as f64 / total.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    Ok(())
}
