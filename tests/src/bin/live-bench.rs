//! `live-bench`: the relay's live transcripts under load (issue 13), through
//! the real pieces: the platform spawned in-process on a fresh embedded
//! store, sim calls run by this one process, viewers on real WebSocket
//! connections to `/ws/calls/{id}`.
//!
//! ```text
//! live-bench calls [--calls 1000] [--scale 1.0]
//! live-bench idle  [--sockets 5000] [--per-call 5] [--scale 10]
//! ```
//!
//! `calls`: N sim calls at once (`interested` callee), each with one viewer
//! (session token): peak memory over the idle platform per call (server and
//! client ends together: they share the process), CPU over the run, and the
//! delay from an entry's publication on the hub to its arrival at the viewer
//! (p50/p99/max). The publication instant is taken by a tap subscribed to the
//! same hub channel on a runtime of its own, so the delay covers the relay's
//! own path (wake-up, JSON, WebSocket frame, loopback, client read).
//!
//! `idle`: viewers that get nothing (the callee rings for 30 simulated s ×
//! `--scale`): memory per open socket (both ends), CPU while they sit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::input::from_json;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::live::hub::{self, LiveEvent};
use switchboard::services::live::token;
use switchboard::services::{agents, api_keys, calls, tasks};
use switchboard_tests::measure::{cpu, mib, percentile, rss};
use switchboard_tests::{TEST_KEY, TestApp};
use tokio::runtime::Handle;
use tokio_tungstenite::tungstenite::Message;

/// A single-threaded runtime on a thread of its own.
fn runtime_thread() -> Result<Handle> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let _ = tx.send(rt.handle().clone());
        rt.block_on(std::future::pending::<()>());
    });
    Ok(rx.recv()?)
}

struct Bench {
    t: TestApp,
    tenant: Tenant,
    agent_id: String,
    /// Where the viewers run: off the server's runtime.
    clients: Handle,
    /// Where the taps run: a runtime of their own, so they wake at once.
    taps: Handle,
    /// Keeps the extra runners going.
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Bench {
    async fn start(scale: f64, max_running: usize) -> Result<Self> {
        let (mut config, dir) = switchboard_tests::config(Backend::Embedded).await;
        config.sim_time_scale = scale;
        config.scheduler_interval_ms = 3_600_000;
        let t = TestApp::spawn_with(config, dir).await;
        // The platform's own runners take 256 calls at once; these take the rest.
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(calls::runner::consume(t.app.clone(), stop_rx, max_running));
        let (caller, _) = api_keys::authenticate(&t.app, TEST_KEY, Mode::Test)
            .await?
            .context("the bootstrap key")?;
        let agent = agents::create(
            &t.app,
            &caller,
            from_json(
                json!({"name": "Booker", "system_prompt": "You book dentist appointments.",
                "greeting": "Hello, this is Harbor Lane Dental calling."}),
            )?,
        )
        .await?;
        Ok(Self {
            clients: runtime_thread()?,
            taps: runtime_thread()?,
            _stop: stop,
            tenant: caller.tenant.clone(),
            agent_id: agent.id,
            t,
        })
    }

    async fn place(&self, to: &str) -> Result<String> {
        let caller = api_keys::authenticate(&self.t.app, TEST_KEY, Mode::Test)
            .await?
            .context("the bootstrap key")?
            .0;
        let task = tasks::create(
            &self.t.app,
            &caller,
            from_json(json!({"agent_id": self.agent_id, "to_number": to}))?,
        )
        .await?;
        Ok(calls::start_task_call(&self.t.app, &self.tenant, &task.id).await?)
    }

    fn url(&self, call_id: &str) -> String {
        let (token, _) = token::issue(&self.t.app, &self.tenant, call_id);
        format!(
            "{}/ws/calls/{call_id}?session_token={token}",
            self.t.base.replacen("http", "ws", 1)
        )
    }
}

/// When each (call, seq) was seen.
type Seen = Arc<Mutex<HashMap<(String, u64), Instant>>>;

async fn calls_bench(n: usize, scale: f64) -> Result<()> {
    let b = Bench::start(scale, n + 16).await?;
    let published: Seen = Arc::default();
    let arrived: Seen = Arc::default();
    let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak_live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss0, cpu0, t0) = (rss(), cpu(), Instant::now());
    let mut viewers = Vec::with_capacity(n);
    for _ in 0..n {
        let call_id = b.place("+15005550007").await?;
        // The tap: subscribed before the call is answered.
        let mut tap = hub::subscribe(&call_id);
        let (published, id) = (published.clone(), call_id.clone());
        b.taps.spawn(async move {
            while let Ok(event) = tap.recv().await {
                if let LiveEvent::Entry(e) = event {
                    let at = Instant::now();
                    published
                        .lock()
                        .unwrap()
                        .insert((id.clone(), u64::from(e.seq)), at);
                }
            }
        });
        let url = b.url(&call_id);
        let (arrived, live, peak) = (arrived.clone(), live.clone(), peak_live.clone());
        viewers.push(b.clients.spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
                &url,
                Some(switchboard_tests::ws_client_config()),
                false,
            )
            .await?;
            let now = live.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            while let Some(message) = socket.next().await {
                let Message::Text(text) = message? else {
                    continue;
                };
                let at = Instant::now();
                let m: Value = serde_json::from_str(&text)?;
                if m["type"] == "transcript_update" {
                    let mut seen = arrived.lock().unwrap();
                    for e in m["data"]["transcript"].as_array().into_iter().flatten() {
                        seen.insert((call_id.clone(), e["seq"].as_u64().unwrap_or(0)), at);
                    }
                }
            }
            live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            anyhow::Ok(())
        }));
    }
    let placed = t0.elapsed();
    // Peak memory while the calls run.
    let mut peak_rss = rss();
    let sampler = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            peak_rss = peak_rss.max(rss());
            if live.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(900), sampler)
        .await
        .context("the calls did not end in 15 minutes")?;
    let mut failed = 0;
    for v in viewers {
        if !matches!(v.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let (wall, used) = (t0.elapsed(), cpu() - cpu0);
    let published = published.lock().unwrap();
    let arrived = arrived.lock().unwrap();
    let mut delays: Vec<Duration> = published
        .iter()
        .filter_map(|(k, p)| arrived.get(k).map(|a| a.saturating_duration_since(*p)))
        .collect();
    delays.sort();
    let missing = published
        .keys()
        .filter(|k| !arrived.contains_key(*k))
        .count();
    println!(
        "calls={n} scale={scale} placed_in={:.1}s wall={:.1}s peak_concurrent_viewers={} viewer_errors={failed} \
         entries={} missing_at_viewer={missing} \
         rss_idle={:.1}MiB rss_peak={:.1}MiB per_call={:.1}KiB cpu={:.1}s ({:.0}% of one core) \
         entry_to_viewer p50={:.2}ms p99={:.2}ms max={:.2}ms",
        placed.as_secs_f64(),
        wall.as_secs_f64(),
        peak_live.load(std::sync::atomic::Ordering::SeqCst),
        delays.len(),
        mib(rss0),
        mib(peak_rss),
        (peak_rss.saturating_sub(rss0)) as f64 / n as f64 / 1024.0,
        used.as_secs_f64(),
        used.as_secs_f64() / wall.as_secs_f64() * 100.0,
        percentile(&delays, 0.5).as_secs_f64() * 1000.0,
        percentile(&delays, 0.99).as_secs_f64() * 1000.0,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    Ok(())
}

async fn idle_bench(sockets: usize, per_call: usize, scale: f64) -> Result<()> {
    let n_calls = sockets.div_ceil(per_call);
    let b = Bench::start(scale, n_calls + 16).await?;
    let mut ids = Vec::with_capacity(n_calls);
    for _ in 0..n_calls {
        ids.push(b.place("+15005550003").await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss0, t0) = (rss(), Instant::now());
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut held = Vec::with_capacity(sockets);
    for i in 0..sockets {
        let url = b.url(&ids[i / per_call]);
        let open = open.clone();
        held.push(b.clients.spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
                &url,
                Some(switchboard_tests::ws_client_config()),
                false,
            )
            .await?;
            open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            while let Some(m) = socket.next().await {
                m?;
            }
            anyhow::Ok(())
        }));
    }
    while open.load(std::sync::atomic::Ordering::SeqCst) < sockets {
        if t0.elapsed() > Duration::from_secs(120) {
            bail!(
                "only {} of {sockets} sockets opened in 2 minutes",
                open.load(std::sync::atomic::Ordering::SeqCst)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connected_in = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (cpu1, t1) = (cpu(), Instant::now());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_cpu = (cpu() - cpu1).as_secs_f64() / t1.elapsed().as_secs_f64();
    let rss1 = rss();
    println!(
        "idle sockets={sockets} on {n_calls} ringing calls: connected_in={:.1}s rss_before={:.1}MiB rss_after={:.1}MiB \
         per_socket={:.1}KiB (both ends) cpu_while_idle={:.0}% of one core",
        connected_in.as_secs_f64(),
        mib(rss0),
        mib(rss1),
        rss1.saturating_sub(rss0) as f64 / sockets as f64 / 1024.0,
        idle_cpu * 100.0,
    );
    for h in held {
        h.abort();
    }
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "calls".into());
    let mut flags = HashMap::new();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        flags.insert(flag, value);
    }
    let get = |k: &str, d: &str| flags.get(k).cloned().unwrap_or_else(|| d.to_owned());
    match mode.as_str() {
        "calls" => {
            calls_bench(
                get("--calls", "1000").parse()?,
                get("--scale", "1.0").parse()?,
            )
            .await
        }
        "idle" => {
            idle_bench(
                get("--sockets", "5000").parse()?,
                get("--per-call", "5").parse()?,
                get("--scale", "10").parse()?,
            )
            .await
        }
        other => bail!("the mode is calls or idle, not {other}"),
    }
}
