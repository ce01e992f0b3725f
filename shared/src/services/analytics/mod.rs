//! Analytics (SPEC §12 `GET /analytics?days=30`), read from counters kept
//! as things happen, never by scanning conversations or calls.
//!
//! Counters live in the tenant's partition: `STAT#<day>#<name>` per day in
//! the workspace's time zone (a month is one range query), and
//! `STAT#all#<name>` for the gauges (conversations by status right now).
//! - A conversation's counters move in the same version-checked write as the
//!   conversation itself ([`conversation_writes`], from the difference the
//!   write makes), so a retried write or a redelivered event never counts
//!   twice.
//! - A call is counted once its report is written, by the events worker on
//!   `call.completed`/`call.failed`; a campaign on `campaign.completed`. Each
//!   event's counters go in one transaction with a marker of the event id
//!   ([`count_event`]), so a redelivery counts nothing again.

mod view;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

pub use view::{
    AnalyticsView, CallAnalytics, CampaignAnalytics, ConversationAnalytics, DayAnalytics,
    MessageAnalytics,
};

use crate::App;
use crate::domain::Tenant;
use crate::domain::conversation::{Conversation, ConversationStatus};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::events::Event;
use crate::store::{Condition, Item, MAX_TRANSACTION_WRITES, SortKey, Write};

/// Sort-key prefix of every counter.
const PREFIX: &str = "STAT#";
/// The "day" of the gauges (sorts after every date).
const GAUGES: &str = "all";
/// Sort-key prefix of the markers of events already counted.
const COUNTED: &str = "STATEVENT#";
/// How long a counted event's marker is kept (longer than the queue retries).
const MARKER_TTL_SECS: i64 = 14 * 24 * 3600;
/// The widest window `?days=` accepts.
pub const MAX_DAYS: u32 = 366;

/// Counter deltas of one change, by day and name.
#[derive(Debug, Default)]
pub(crate) struct Bumps {
    day: String,
    deltas: BTreeMap<(bool, String), i64>,
}

impl Bumps {
    /// Deltas counted on `day` (`YYYY-MM-DD` in the workspace's time zone).
    pub(crate) fn on(day: &str) -> Self {
        Self {
            day: day.to_owned(),
            deltas: BTreeMap::new(),
        }
    }

    /// Adds `delta` to the day's counter `name`.
    fn add(&mut self, name: impl Into<String>, delta: i64) {
        *self.deltas.entry((false, name.into())).or_default() += delta;
    }

    /// Adds `delta` to the gauge `name` (not per day).
    fn gauge(&mut self, name: impl Into<String>, delta: i64) {
        *self.deltas.entry((true, name.into())).or_default() += delta;
    }

    /// The writes, leaving out what nets to zero.
    pub(crate) fn writes(self, tenant: &Tenant) -> Vec<Write> {
        let pk = tenant.pk();
        self.deltas
            .into_iter()
            .filter(|(_, delta)| *delta != 0)
            .map(|((gauge, name), delta)| Write::Add {
                pk: pk.clone(),
                sk: counter_sk(if gauge { GAUGES } else { &self.day }, &name),
                delta,
            })
            .collect()
    }
}

fn counter_sk(day: &str, name: &str) -> String {
    format!("{PREFIX}{day}#{name}")
}

/// The workspace's time zone (UTC when unset or unknown).
async fn time_zone(app: &App, tenant: &Tenant) -> Result<Tz> {
    let (org, _) = crate::services::identity::get_org(app, &tenant.org_id).await?;
    Ok(org.settings.timezone.parse().unwrap_or(Tz::UTC))
}

fn day_in(tz: Tz, at: DateTime<Utc>) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d").to_string()
}

/// Today in the workspace's time zone: the day a change made now counts on.
pub(crate) async fn today(app: &App, tenant: &Tenant) -> Result<String> {
    Ok(day_in(time_zone(app, tenant).await?, Utc::now()))
}

fn seconds_between(from: &str, to: &str) -> Option<i64> {
    let from = from.parse::<DateTime<Utc>>().ok()?;
    let to = to.parse::<DateTime<Utc>>().ok()?;
    Some((to - from).num_seconds().max(0))
}

/// The counters a conversation's change from `old` (none: it is new) to
/// `new` moves, on `day`.
pub(crate) fn conversation_bumps(
    day: &str,
    old: Option<&Conversation>,
    new: &Conversation,
) -> Bumps {
    let mut b = Bumps::on(day);
    let status = |s: ConversationStatus| format!("conversations.status.{}", s.as_str());
    match old {
        None => {
            b.add("conversations.created", 1);
            b.add(
                format!("conversations.channel.{}", new.channel_type.as_str()),
                1,
            );
            b.gauge(status(new.status), 1);
        }
        Some(old) if old.status != new.status => {
            b.gauge(status(old.status), -1);
            b.gauge(status(new.status), 1);
        }
        Some(_) => {}
    }
    if new.status == ConversationStatus::Resolved
        && old.is_none_or(|o| o.status != ConversationStatus::Resolved)
    {
        b.add("conversations.resolved", 1);
        if let Some(s) = seconds_between(&new.created_at, &new.updated_at) {
            b.add("conversations.resolution_seconds", s);
        }
        if !new.stats.human_replied() {
            b.add("conversations.ai_contained", 1);
        }
    }
    let was = old.map(|o| o.stats.clone()).unwrap_or_default();
    let now = &new.stats;
    b.add("messages.contact", now.contact as i64 - was.contact as i64);
    b.add("messages.ai", now.ai as i64 - was.ai as i64);
    b.add("messages.user", now.user as i64 - was.user as i64);
    b.add("messages.note", now.notes as i64 - was.notes as i64);
    if was.first_response_at.is_none()
        && let (Some(asked), Some(answered)) = (&now.first_contact_at, &now.first_response_at)
    {
        b.add("conversations.first_responses", 1);
        b.add(
            "conversations.first_response_seconds",
            seconds_between(asked, answered).unwrap_or(0),
        );
    }
    b
}

/// Writes `main` with the counters `bumps`, all or none; when together they
/// would pass a transaction's bound (a conversation with many tags), the
/// counters follow in a transaction of their own once `main` is written.
/// `Ok(false)` when `main`'s condition failed (nothing written).
pub(crate) async fn transact_counted(
    app: &App,
    tenant: &Tenant,
    mut main: Vec<Write>,
    bumps: Bumps,
) -> Result<bool> {
    let counters = bumps.writes(tenant);
    let apart = main.len() + counters.len() > MAX_TRANSACTION_WRITES;
    if !apart {
        main.extend(counters.iter().cloned());
    }
    match app.table.transact(main).await {
        Ok(()) => {}
        Err(crate::store::StoreError::ConditionFailed) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    if apart {
        for chunk in counters.chunks(MAX_TRANSACTION_WRITES) {
            app.table.transact(chunk.to_vec()).await?;
        }
    }
    Ok(true)
}

/// Counts what `event` says happened (an ended call, a completed
/// campaign), once per event id however often it is delivered.
pub async fn count_event(app: &App, event: &Event) -> Result<()> {
    let tenant = event.tenant();
    let tz = time_zone(app, &tenant).await?;
    let bumps = match event.event_type.as_str() {
        "call.completed" | "call.failed" => {
            let Some((_, call)) = crate::services::calls::of_event(app, event).await? else {
                return Ok(());
            };
            let ended = call
                .ended_at
                .as_deref()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok())
                .unwrap_or_else(Utc::now);
            call_bumps(&day_in(tz, ended), &call)
        }
        "campaign.completed" => {
            let mut b = Bumps::on(&day_in(tz, Utc::now()));
            b.add("campaigns.completed", 1);
            b
        }
        _ => return Ok(()),
    };
    let marker = Item::new(
        tenant.pk(),
        format!("{COUNTED}{}", event.id),
        serde_json::json!({"type": event.event_type}),
    )
    .with_ttl(Utc::now().timestamp() + MARKER_TTL_SECS);
    let main = vec![Write::Put(marker, Condition::MustNotExist)];
    // A failed marker condition: this event was counted already.
    transact_counted(app, &tenant, main, bumps).await.map(drop)
}

/// The counters an ended call moves.
fn call_bumps(day: &str, call: &crate::domain::call::Call) -> Bumps {
    let mut b = Bumps::on(day);
    b.add("calls.total", 1);
    b.add(format!("calls.status.{}", call.status.as_str()), 1);
    if let Some(reason) = &call.end_reason {
        b.add(format!("calls.end_reason.{}", api_name(reason)), 1);
    }
    if let Some(report) = &call.report {
        b.add(format!("calls.outcome.{}", api_name(&report.outcome)), 1);
    }
    if call.campaign_id.is_some() {
        b.add("calls.campaign", 1);
    }
    if let Some(s) = call.duration_seconds {
        b.add("calls.duration_seconds", s as i64);
        b.add("calls.timed", 1);
    }
    if let Some(m) = &call.metrics
        && m.turns > 0
    {
        b.add("calls.turns", i64::from(m.turns));
        b.add(
            "calls.turn_latency_ms",
            (m.avg_turn_latency_ms * f64::from(m.turns)).round() as i64,
        );
    }
    b
}

/// The API name of an enum value (its `snake_case` serde name).
fn api_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".into(),
    }
}

/// `GET /analytics?days=N` (admins): the last `days` days up to today in
/// the workspace's time zone, from two range reads of the counters.
pub async fn get(app: &App, caller: &Caller, days: Option<u32>) -> Result<AnalyticsView> {
    caller.require_admin()?;
    let days = days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::field(
            "days",
            format!("must be between 1 and {MAX_DAYS}"),
        ));
    }
    let tenant = &caller.tenant;
    let tz = time_zone(app, tenant).await?;
    let to = Utc::now().with_timezone(&tz).date_naive();
    let from = to - chrono::Days::new(u64::from(days - 1));
    let pk = tenant.pk();
    let range = SortKey::Between(
        counter_sk(&from.to_string(), ""),
        counter_sk(&to.to_string(), "~"),
    );
    let (daily, gauges) = futures::try_join!(
        app.table.counters(&pk, range),
        app.table
            .counters(&pk, SortKey::Prefix(counter_sk(GAUGES, ""))),
    )?;
    let mut by_day: BTreeMap<NaiveDate, BTreeMap<String, i64>> = BTreeMap::new();
    for (sk, n) in daily {
        let Some((day, name)) = sk.strip_prefix(PREFIX).and_then(|r| r.split_once('#')) else {
            continue;
        };
        if let Ok(day) = day.parse::<NaiveDate>() {
            *by_day
                .entry(day)
                .or_default()
                .entry(name.to_owned())
                .or_default() += n;
        }
    }
    let gauges: BTreeMap<String, i64> = gauges
        .into_iter()
        .filter_map(|(sk, n)| Some((sk.strip_prefix(&counter_sk(GAUGES, ""))?.to_owned(), n)))
        .collect();
    Ok(view::build(tz.name(), from, to, &by_day, &gauges, days))
}
