//! `campaign-bench`: the campaign dialer under load on either store backend
//! (issue 12's "the same campaign on moto"): the platform spawned in-process
//! with sim calls as fast as the machine allows, one campaign of N
//! cooperative contacts at `max_concurrent_calls` C, dialed to the end.
//!
//! ```text
//! campaign-bench [--backend embedded|aws] [--contacts 10000] [--concurrent 100] [--minutes 30]
//! ```
//!
//! `aws` runs on fresh resources (table, bucket, queues) on the moto server
//! named by `SWITCHBOARD_TEST_AWS_ENDPOINT` (`scripts/moto-server`), made by
//! the test support the AWS-backend tests use; that is why this is a bin
//! here rather than a script against the release server, as
//! `tests/load/campaign_dial.py` is for the embedded store. Prints progress
//! every 10 s (moto's pace is the point), then the total time, call starts
//! per second, the peak of simultaneous calls (from the calls' start and end
//! times), the campaign's counters, the slots still held (campaign and org
//! partitions, read through the store), and the process's memory (the
//! platform and this driver together).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::config::Backend;
use switchboard::domain::{Mode, Tenant};
use switchboard::services::campaigns::slots;
use switchboard::services::repository::query_all;
use switchboard::services::table_keys::org_campaign_slots_pk;
use switchboard::store::Query;
use switchboard_tests::{TestApp, call};

/// The largest bulk request the API takes (SPEC §9).
const BULK_MAX: usize = 10_000;

/// Reads `field` (`VmRSS`, `VmHWM`) of this process, in MB.
fn memory_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Sends `req` and returns the response's `data`, failing on any status but `want`.
async fn data(req: reqwest::RequestBuilder, want: StatusCode) -> Result<Value> {
    let (status, body) = call(req).await;
    ensure!(status == want, "{status}: {body}");
    Ok(body["data"].clone())
}

/// Every call the campaign placed.
async fn calls_of(t: &TestApp, campaign: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/calls?campaign_id={campaign}&limit=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = call(t.api(Method::GET, &path)).await;
        ensure!(status == StatusCode::OK, "{status}: {page}");
        out.extend(
            page["data"]
                .as_array()
                .context("calls page")?
                .iter()
                .cloned(),
        );
        match page["meta"]["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(out),
        }
    }
}

/// The most calls live at one instant: a call holds its slots from
/// placement (`started_at`) to its end (`ended_at`); at the same instant an
/// end sorts first (its slot was freed first).
fn peak(calls: &[Value]) -> Result<usize> {
    let mut edges: Vec<(&str, i32)> = Vec::with_capacity(calls.len() * 2);
    for c in calls {
        edges.push((c["started_at"].as_str().context("started_at")?, 1));
        edges.push((c["ended_at"].as_str().context("ended_at")?, -1));
    }
    edges.sort();
    let (mut live, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        live += d;
        most = most.max(live);
    }
    Ok(most as usize)
}

fn count(stats: &Value, key: &str) -> u64 {
    stats["by_status"][key].as_u64().unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mut backend = Backend::Embedded;
    let mut contacts = 10_000usize;
    let mut concurrent = 100u32;
    let mut minutes = 30u64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--backend" => {
                backend = match value.as_str() {
                    "embedded" => Backend::Embedded,
                    "aws" => Backend::Aws,
                    other => bail!("--backend must be embedded or aws, not {other}"),
                }
            }
            "--contacts" => contacts = value.parse()?,
            "--concurrent" => concurrent = value.parse()?,
            "--minutes" => minutes = value.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    let (mut config, dir) = switchboard_tests::config(backend).await;
    config.sim_time_scale = 0.0;
    let t = TestApp::spawn_with(config, dir).await;
    let me = data(t.api(Method::GET, "/auth/me"), StatusCode::OK).await?;
    let tenant = Tenant {
        org_id: me["organization"]["id"]
            .as_str()
            .context("org id")?
            .to_owned(),
        mode: Mode::Live,
    };
    data(
        t.api(Method::POST, "/settings/workspace").json(&json!({
            "rate_limit_per_minute": 1_000_000, "max_concurrent_campaign_calls": concurrent
        })),
        StatusCode::OK,
    )
    .await?;
    let agent = data(
        t.api(Method::POST, "/agents").json(&json!({
            "name": "Caller", "system_prompt": "You offer a check-up.",
            "greeting": "Hello, this is Harbor Lane Dental calling.",
        })),
        StatusCode::CREATED,
    )
    .await?;
    let campaign = data(
        t.api(Method::POST, "/campaigns").json(&json!({
            "name": "dial", "agent_id": agent["id"], "max_concurrent_calls": concurrent,
            "retry": {"max_attempts": 1},
        })),
        StatusCode::CREATED,
    )
    .await?;
    let id = campaign["id"].as_str().context("campaign id")?.to_owned();

    // Cooperative callees: any number outside the persona table.
    let phones: Vec<String> = (0..contacts).map(|i| format!("+1501{i:07}")).collect();
    let started = Instant::now();
    let mut added = 0;
    for chunk in phones.chunks(BULK_MAX) {
        let list: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"phone": p, "name": format!("Contact {i}")}))
            .collect();
        let got = data(
            t.api(Method::POST, &format!("/campaigns/{id}/contacts/bulk"))
                .json(&json!({ "contacts": list })),
            StatusCode::CREATED,
        )
        .await?;
        added += got["added"].as_u64().context("added")?;
    }
    println!(
        "backend={backend:?}: bulk add of {contacts} contacts: {:.2} s, added {added}",
        started.elapsed().as_secs_f64()
    );

    let (rss_before, hwm_before) = (memory_mb("VmRSS"), memory_mb("VmHWM"));
    let started = Instant::now();
    data(
        t.api(Method::POST, &format!("/campaigns/{id}/start")),
        StatusCode::OK,
    )
    .await?;
    let mut last_report = Instant::now();
    let (mut last_calls, mut last_at) = (0u64, Instant::now());
    let deadline = Duration::from_secs(minutes * 60);
    let finished = loop {
        let c = data(
            t.api(Method::GET, &format!("/campaigns/{id}")),
            StatusCode::OK,
        )
        .await?;
        if c["status"] == "completed" {
            break true;
        }
        if started.elapsed() >= deadline {
            // Out of time: stop dialing, let the live calls end, and report
            // what was dialed (its peak and slots are as telling).
            println!("  not completed after {minutes} min: cancelling");
            data(
                t.api(Method::POST, &format!("/campaigns/{id}/cancel")),
                StatusCode::OK,
            )
            .await?;
            break false;
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            let calls = c["stats"]["calls"].as_u64().unwrap_or(0);
            println!(
                "  {:>5.0} s: {calls} calls placed, {} completed; last 10 s {:.0} starts/s; RSS {:.0} MB",
                started.elapsed().as_secs_f64(),
                count(&c["stats"], "completed"),
                (calls - last_calls) as f64 / last_at.elapsed().as_secs_f64(),
                memory_mb("VmRSS"),
            );
            (last_calls, last_at, last_report) = (calls, Instant::now(), Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    let (rss_after, hwm_after) = (memory_mb("VmRSS"), memory_mb("VmHWM"));
    let calls = loop {
        let calls = calls_of(&t, &id).await?;
        if calls.iter().all(|c| c["ended_at"].is_string()) {
            break calls;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    // The post-call job frees a slot just after its call ends: give a
    // cancelled run's last calls a moment.
    let settle = Instant::now();
    let (held, org_held) = loop {
        let held = slots::held_slots(&t.app, &tenant, &id).await?;
        let now = t.app.now().timestamp_millis();
        let org_held = query_all(
            t.app.table.as_ref(),
            Query::partition(org_campaign_slots_pk(&tenant)),
        )
        .await?
        .iter()
        .filter(|i| i.data["expires_at_ms"].as_i64().is_some_and(|e| e > now))
        .count();
        if held + org_held == 0 || settle.elapsed() > Duration::from_secs(60) {
            break (held, org_held);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let campaign = data(
        t.api(Method::GET, &format!("/campaigns/{id}")),
        StatusCode::OK,
    )
    .await?;
    let stats = &campaign["stats"];
    println!(
        "backend={backend:?}: {} sim calls at max_concurrent_calls {concurrent}: {} after {elapsed:.1} s \
         ({:.0} call starts/s); peak {} simultaneous; stats calls {}, completed {}; \
         slots still held {:.1} s later: campaign {held}, org {org_held}",
        calls.len(),
        if finished { "completed" } else { "cancelled" },
        calls.len() as f64 / elapsed,
        peak(&calls)?,
        stats["calls"],
        count(stats, "completed"),
        settle.elapsed().as_secs_f64(),
    );
    println!(
        "process RSS {rss_before:.0} -> {rss_after:.0} MB (peak {hwm_before:.0} -> {hwm_after:.0} MB)"
    );
    Ok(())
}
