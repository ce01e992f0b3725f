//! `loadgen`: drives a running Switchboard (`cargo run --release`) over many
//! keep-alive connections and prints requests/s and latency percentiles per
//! phase: create agents, get one agent, list agents.
//!
//! ```text
//! loadgen --url http://127.0.0.1:8080 --key sb_… [--connections 32] [--seconds 10] [--agents 200]
//! ```
//!
//! Each connection is one task sending requests back to back on one HTTP/1.1
//! connection (hyper's client connection, no pool), like `wrk` does, so the
//! load tool's own overhead stays small beside the server's.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Args {
    host: String,
    key: String,
    connections: usize,
    seconds: u64,
    agents: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        host: "127.0.0.1:8080".into(),
        key: std::env::var("SWITCHBOARD_KEY").unwrap_or_default(),
        connections: 32,
        seconds: 10,
        agents: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => {
                a.host = value
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .into()
            }
            "--key" => a.key = value,
            "--connections" => a.connections = value.parse()?,
            "--seconds" => a.seconds = value.parse()?,
            "--agents" => a.agents = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if a.key.is_empty() {
        bail!("give the API key with --key or SWITCHBOARD_KEY");
    }
    Ok(a)
}

/// One keep-alive connection.
struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
    auth: String,
}

impl Conn {
    async fn open(host: &str, key: &str) -> Result<Self> {
        let stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            sender,
            host: host.to_owned(),
            auth: format!("Bearer {key}"),
        })
    }

    async fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Bytes)> {
        self.sender.ready().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header("host", &self.host)
            .header("authorization", &self.auth);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    errors: u64,
}

impl Stats {
    fn merge(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
    }

    fn print(&mut self, phase: &str, elapsed: Duration) {
        self.latencies_us.sort_unstable();
        let n = self.latencies_us.len();
        let pct = |p: f64| {
            if n == 0 {
                0.0
            } else {
                self.latencies_us[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0
            }
        };
        println!(
            "{phase:<14} {:>8} req  {:>9.0} req/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  errors {}",
            n,
            n as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.90),
            pct(0.99),
            pct(1.0),
            self.errors
        );
    }
}

/// Runs `connections` tasks, each calling `next(conn, i)` until `until`
/// (or until it has done `per_task` calls).
async fn phase<F, Fut>(
    a: &Args,
    name: &str,
    duration: Option<Duration>,
    per_task: usize,
    make: F,
) -> Result<Vec<String>>
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (String, String, Option<String>)> + Send,
{
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut tasks = Vec::new();
    for t in 0..a.connections {
        let mut conn = Conn::open(&a.host, &a.key).await?;
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut created = Vec::new();
            let mut i = 0;
            while i < per_task && deadline.is_none_or(|d| Instant::now() < d) {
                let (method, path, body) = make(t, i).await;
                let sent = Instant::now();
                match conn.send(&method, &path, body.as_deref()).await {
                    Ok((status, bytes)) if status < 300 => {
                        stats.latencies_us.push(sent.elapsed().as_micros() as u64);
                        if method == "POST"
                            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
                            && let Some(id) = v["data"]["id"].as_str()
                        {
                            created.push(id.to_owned());
                        }
                    }
                    Ok(_) | Err(_) => stats.errors += 1,
                }
                i += 1;
            }
            (stats, created)
        }));
    }
    let mut total = Stats::default();
    let mut ids = Vec::new();
    for t in tasks {
        let (stats, created) = t.await?;
        total.merge(stats);
        ids.extend(created);
    }
    total.print(name, started.elapsed());
    Ok(ids)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    println!(
        "loadgen: {} connections against http://{} ({} s per timed phase)",
        a.connections, a.host, a.seconds
    );
    // The default limit (1000 requests a minute per key) would turn the
    // benchmark into a rate-limit test: raise the org's to the maximum.
    let mut setup = Conn::open(&a.host, &a.key).await?;
    let (status, body) = setup
        .send(
            "POST",
            "/settings/workspace",
            Some(r#"{"rate_limit_per_minute": 1000000}"#),
        )
        .await?;
    if status >= 300 {
        bail!(
            "raising the rate limit failed ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    let per_task = a.agents.div_ceil(a.connections).max(1);
    let ids = phase(&a, "create agent", None, per_task, |t, i| async move {
        let body = serde_json::json!({
            "name": format!("Load agent {t}-{i}"),
            "system_prompt": "You answer questions about opening hours. Keep it short.",
            "greeting": "Hello!", "language": "en-US",
            "voice_settings": {"provider": "elevenlabs", "stability": 0.5, "similarity_boost": 0.75},
        });
        ("POST".into(), "/agents".into(), Some(body.to_string()))
    })
    .await?;
    if ids.is_empty() {
        bail!("no agent was created; is the key right?");
    }
    let ids = std::sync::Arc::new(ids);
    let d = Some(Duration::from_secs(a.seconds));
    let get_ids = ids.clone();
    phase(&a, "get agent", d, usize::MAX, move |t, i| {
        let ids = get_ids.clone();
        async move {
            let id = &ids[(t * 7919 + i) % ids.len()];
            ("GET".into(), format!("/agents/{id}"), None)
        }
    })
    .await?;
    phase(&a, "list agents", d, usize::MAX, |_, _| async move {
        ("GET".into(), "/agents?limit=20".into(), None)
    })
    .await?;
    Ok(())
}
