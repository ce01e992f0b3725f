//! `inbox-bench`: the inbox at size (issue 15): one org with N conversations
//! and M messages on the embedded store, then `GET /conversations` with each
//! filter and with search, and `GET /analytics?days=30`, over real HTTP
//! against the spawned platform. Prints the seeding time and p50/p99 of
//! every request kind.
//!
//! ```text
//! inbox-bench [--conversations 100000] [--messages 1000000] [--requests 500]
//! ```
//!
//! The data is written through the services the API uses (contacts linked
//! by phone, conversations created, messages taken in ten at a time), so
//! the index items, search words and analytics counters are the real ones.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard::config::Backend;
use switchboard::domain::conversation::{Author, Message, MessageType};
use switchboard::domain::{Mode, Role, Tenant};
use switchboard::services::caller::{Caller, Principal};
use switchboard::services::conversations;
use switchboard_tests::measure::percentile;
use switchboard_tests::{TestApp, call};

/// Words the messages are made of: a few common, most rare, so searches of
/// one and of two words have different selectivity.
fn word(i: u64) -> String {
    const COMMON: [&str; 8] = [
        "appointment",
        "invoice",
        "refund",
        "delivery",
        "password",
        "booking",
        "cancel",
        "address",
    ];
    if i.is_multiple_of(3) {
        COMMON[(i / 3 % 8) as usize].to_owned()
    } else {
        format!("w{}", i % 5_000)
    }
}

/// A cheap deterministic generator (no dependency for a benchmark's data).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

async fn seed(
    t: &TestApp,
    caller: &Caller,
    from: usize,
    to: usize,
    per_conversation: usize,
) -> Result<()> {
    let app = &t.app;
    let mut rng = Lcg(from as u64 + 1);
    let statuses = ["open", "open", "pending", "resolved", "snoozed"];
    let channels = ["voice", "sms", "web_chat", "voice"];
    for i in from..to {
        let contact = switchboard::services::contacts::link_by_phone(
            app,
            &caller.tenant,
            &format!("+1502{i:07}"),
            Some(&format!("Customer {} {}", word(rng.next()), i)),
            None,
        )
        .await?;
        let mut body = json!({
            "contact_id": contact,
            "channel_type": channels[i % channels.len()],
        });
        if i % 10 == 0 {
            body["tags"] = json!(["vip"]);
        }
        let created = conversations::create(app, caller, serde_json::from_value(body)?).await?;
        let messages: Vec<Message> = (0..per_conversation)
            .map(|n| {
                let text = (0..8).map(|_| word(rng.next())).collect::<Vec<_>>();
                Message {
                    id: app.new_id(),
                    conversation_id: created.id.clone(),
                    message_type: MessageType::Text,
                    author: if n % 2 == 0 {
                        Author::Contact
                    } else {
                        Author::Ai
                    },
                    user_id: None,
                    content: text.join(" "),
                    call_id: None,
                    created_at: app.now_rfc3339(),
                    delivery: None,
                }
            })
            .collect();
        for batch in messages.chunks(10) {
            conversations::add_message(app, &caller.tenant, &created.id, batch, |_| false, |_| {})
                .await?;
        }
        let status = statuses[i % statuses.len()];
        if status != "open" {
            conversations::set_status(
                app,
                caller,
                &created.id,
                serde_json::from_value(json!({ "status": status }))?,
            )
            .await?;
        }
    }
    Ok(())
}

async fn timed(t: &TestApp, path: &str, requests: usize) -> Result<(Duration, Duration, usize)> {
    let mut times = Vec::with_capacity(requests);
    let mut rows = 0;
    for _ in 0..requests {
        let started = Instant::now();
        let (status, body) = call(t.api(Method::GET, path)).await;
        times.push(started.elapsed());
        ensure!(status == StatusCode::OK, "{path}: {status} {body}");
        rows = body["data"].as_array().map_or(1, Vec::len);
    }
    times.sort();
    Ok((percentile(&times, 0.50), percentile(&times, 0.99), rows))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mut total = 100_000usize;
    let mut messages = 1_000_000usize;
    let mut requests = 500usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--conversations" => total = value.parse()?,
            "--messages" => messages = value.parse()?,
            "--requests" => requests = value.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    let t = TestApp::spawn(Backend::Embedded).await;
    let (status, me) = call(t.api(Method::GET, "/auth/me")).await;
    ensure!(status == StatusCode::OK, "{me}");
    let caller = Caller {
        principal: Principal::ApiKey {
            key_id: "bench".into(),
            key_hash: "unused".into(),
        },
        role: Role::Admin,
        tenant: Tenant {
            org_id: me["data"]["organization"]["id"]
                .as_str()
                .context("org id")?
                .to_owned(),
            mode: Mode::Live,
        },
    };
    let (status, body) = call(
        t.api(Method::POST, "/settings/workspace")
            .json(&json!({"rate_limit_per_minute": 1_000_000})),
    )
    .await;
    ensure!(status == StatusCode::OK, "{body}");

    let per = (messages / total.max(1)).max(1);
    let started = Instant::now();
    let workers = 4;
    let mut tasks = Vec::new();
    let t = std::sync::Arc::new(t);
    for w in 0..workers {
        let (t, caller) = (t.clone(), caller.clone());
        let (from, to) = (total * w / workers, total * (w + 1) / workers);
        tasks.push(tokio::spawn(async move {
            seed(&t, &caller, from, to, per).await
        }));
    }
    for task in tasks {
        task.await??;
    }
    let seeded = started.elapsed();
    println!(
        "seeded {total} conversations and {} messages in {:.1} s ({:.0} messages/s)",
        total * per,
        seeded.as_secs_f64(),
        (total * per) as f64 / seeded.as_secs_f64(),
    );

    // Seeding queued one event per conversation and per message batch; the
    // events worker writes their effects to the same SQLite file. Measure
    // the reads once that work is done, as a steady inbox would see them.
    let drain = Instant::now();
    let parts = t.app.embedded.as_ref().context("embedded store")?;
    loop {
        let mut waiting = 0;
        for name in switchboard::config::QUEUE_NAMES {
            waiting +=
                switchboard::store::embedded::EmbeddedQueue::new(parts.db.clone(), name, None)
                    .depth()?;
        }
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "the queues drained {:.1} s after seeding",
        drain.elapsed().as_secs_f64()
    );

    println!("| request | p50 ms | p99 ms | rows |");
    println!("|---|---|---|---|");
    for path in [
        "/conversations?limit=50",
        "/conversations?status=open&limit=50",
        "/conversations?status=pending&channel_type=sms&limit=50",
        "/conversations?tag=vip&limit=50",
        "/conversations?assignee_id=none&limit=50",
        "/conversations?page=3&per_page=50",
        "/conversations?search=refund&limit=50",
        "/conversations?search=refund%20invoice&limit=50",
        "/conversations?search=w1234&limit=50",
        "/conversations?search=customer%20w77&limit=50",
        "/analytics?days=30",
    ] {
        let (p50, p99, rows) = timed(&t, path, requests).await?;
        println!(
            "| `GET {path}` | {:.2} | {:.2} | {rows} |",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    // The first kind again, last: a slow first run would show here as fast.
    let (p50, p99, _) = timed(&t, "/conversations?limit=50", requests).await?;
    println!(
        "again at the end: `GET /conversations?limit=50` p50 {:.2} ms, p99 {:.2} ms",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    let (_, a) = call(t.api(Method::GET, "/analytics?days=30")).await;
    println!(
        "analytics: {} conversations, {} messages, by status {}",
        a["data"]["conversations"]["created"],
        a["data"]["messages"]["total"],
        a["data"]["conversations"]["by_status"]
    );
    Ok(())
}
