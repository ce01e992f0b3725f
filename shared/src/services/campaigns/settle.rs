//! What a campaign call changes when the post-call job sees it: the contact
//! becomes `calling` when the call connects; when it ends, the contact gets
//! its result and outcome (from the call's report), a retry per the policy
//! (a callback at the time the callee asked for), the campaign's counters
//! move, its slots are released, and the dialer is asked to look again.
//!
//! Idempotent under redelivery: the contact changes only while its
//! `last_call_id` is this call and it is still in flight, and the counters
//! change in the same conditional transaction.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::table_keys::campaign_stats_pk;
use super::{contacts, dialer, slots};
use crate::App;
use crate::domain::Tenant;
use crate::domain::call::{Call, CallStatus};
use crate::domain::campaign::contact::{ContactOutcome, ContactStatus, settle};
use crate::domain::campaign::{Campaign, CampaignStatus};
use crate::error::{Error, Result};
use crate::store::{Condition, StoreError, Write};

/// Every counter a campaign keeps.
pub(crate) fn counter_names() -> Vec<String> {
    let mut names: Vec<String> = ["total", "calls", "answered", "duration_seconds"]
        .map(String::from)
        .to_vec();
    names.extend(ContactStatus::ALL.map(|s| format!("status#{}", s.as_str())));
    names.extend(ContactOutcome::ALL.map(|o| format!("outcome#{}", o.as_str())));
    names
}

/// The post-call job's campaign step for `call` (any call event).
pub async fn after_call(app: &App, tenant: &Tenant, call: &Call) -> Result<()> {
    let Some(campaign_id) = &call.campaign_id else {
        return Ok(());
    };
    if call.status.is_final() && call.report.is_none() {
        // A `call.started` handled after the call ended: the call's own end
        // event settles it, with the report the outcome comes from.
        return Ok(());
    }
    for _ in 0..8 {
        let Some((before, version)) = contacts::load(app, tenant, campaign_id, &call.to).await?
        else {
            return Ok(());
        };
        if before.last_call_id.as_deref() != Some(&call.id) || !before.status.in_flight() {
            return Ok(());
        }
        let mut after = before.clone();
        after.updated_at = app.now_rfc3339();
        let mut writes = Vec::new();
        if !call.status.is_final() {
            if call.status != CallStatus::InProgress || before.status != ContactStatus::Queued {
                return Ok(());
            }
            after.status = ContactStatus::Calling;
        } else {
            // Free the slots first: a redelivery finds them free already.
            slots::release(app, tenant, &before, &call.id).await?;
            let campaign = match super::load(app, tenant, campaign_id).await {
                Ok((c, _)) => Some(c),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            let callback = campaign
                .as_ref()
                .and_then(|c| callback_at(c, call, app.now()));
            let policy = campaign
                .as_ref()
                .map(|c| c.retry.clone())
                .unwrap_or_default();
            let s = settle(&policy, before.attempts, call, callback, app.now());
            let retries = campaign.as_ref().is_some_and(|c| {
                matches!(c.status, CampaignStatus::Running | CampaignStatus::Paused)
            });
            after.status = s.status;
            after.outcome = Some(s.outcome);
            after.next_attempt_at = s.retry_at.filter(|_| retries).map(crate::domain::rfc3339);
            after.slots = None;
            if let Some(report) = &call.report {
                after.extracted_data = report.extracted_data.clone();
            }
            writes.extend(call_counters(tenant, campaign_id, call));
        }
        writes.insert(
            0,
            Write::Put(
                contacts::item(tenant, &after),
                Condition::VersionEquals(version),
            ),
        );
        writes.extend(contacts::counter_writes(tenant, Some(&before), &after));
        match app.table.transact(writes).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
        if call.status.is_final() {
            // A slot is free: the dialer may place the next call now. (A
            // do-not-call request reaches the CRM through the contacts hook.)
            dialer::kick(app, tenant, campaign_id).await?;
        }
        return Ok(());
    }
    Err(Error::Conflict(
        "the campaign contact kept changing; retry".into(),
    ))
}

/// The per-call counters: calls ended, answered, talk time.
fn call_counters(tenant: &Tenant, campaign_id: &str, call: &Call) -> Vec<Write> {
    let pk = campaign_stats_pk(tenant, campaign_id);
    let add = |sk: &str, delta: i64| Write::Add {
        pk: pk.clone(),
        sk: sk.into(),
        delta,
    };
    let mut writes = vec![add("calls", 1)];
    if call.answered_at.is_some() {
        writes.push(add("answered", 1));
        writes.push(add(
            "duration_seconds",
            call.duration_seconds.unwrap_or(0) as i64,
        ));
    }
    writes
}

/// When the callee asked to be called back, if the call says: a time the
/// report extracted (`callback_at`, `callback_time`, `callback_when`), else
/// the words the conversation noted, read in the campaign's time zone.
fn callback_at(campaign: &Campaign, call: &Call, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let extracted = call.report.as_ref().and_then(|r| {
        ["callback_at", "callback_time", "callback_when"]
            .iter()
            .find_map(|k| r.extracted_data.get(*k).and_then(Value::as_str))
    });
    let noted = call
        .conversation
        .as_ref()
        .and_then(|c| c.variables.get("callback_when"))
        .and_then(Value::as_str);
    extracted
        .into_iter()
        .chain(noted)
        .find_map(|when| campaign.schedule.callback_at(when, now))
}
