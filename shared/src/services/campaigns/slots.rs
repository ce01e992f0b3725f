//! Concurrency slots: numbered leases in the table, one partition per
//! campaign (`max_concurrent_calls` of them) and one per org
//! (`max_concurrent_campaign_calls`). A call takes one of each in the
//! transaction that places it; the call runner renews them with its call's
//! lease ([`renew`]); the post-call job frees them ([`release`]); and a slot
//! whose lease expired (its process died) counts as free again.

use serde_json::{Value, json};

use super::super::repository::query_all;
use super::super::table_keys::*;
use super::contacts;
use crate::App;
use crate::domain::Tenant;
use crate::domain::call::Call;
use crate::domain::campaign::contact::CampaignContact;
use crate::error::Result;
use crate::services::calls::lease;
use crate::store::{Condition, Item, Query, StoreError, Write};

/// A numbered slot: free, and at which version (an expired lease is taken
/// over on its version; an absent slot must still be absent).
#[derive(Debug, Clone, Copy)]
pub(super) struct FreeSlot {
    pub(super) index: u32,
    version: Option<u64>,
}

/// The free slots `0..limit` of a slot partition at `now_ms`.
pub(super) async fn free_slots(
    app: &App,
    pk: &str,
    limit: u32,
    now_ms: i64,
) -> Result<Vec<FreeSlot>> {
    let held = query_all(app.table.as_ref(), Query::partition(pk)).await?;
    let mut free = Vec::new();
    for index in 0..limit {
        let sk = slot_sk(index);
        match held.iter().find(|i| i.sk == sk) {
            None => free.push(FreeSlot {
                index,
                version: None,
            }),
            Some(i) => {
                let expires = i.data.get("expires_at_ms").and_then(Value::as_i64);
                if expires.is_none_or(|e| e <= now_ms) {
                    free.push(FreeSlot {
                        index,
                        version: Some(i.version),
                    });
                }
            }
        }
    }
    Ok(free)
}

fn slot_sk(index: u32) -> String {
    format!("{index:05}")
}

pub(super) fn slot_write(pk: &str, slot: FreeSlot, call_id: &str, expires_at_ms: i64) -> Write {
    let item = Item::new(
        pk,
        slot_sk(slot.index),
        json!({"call_id": call_id, "expires_at_ms": expires_at_ms}),
    );
    Write::Put(
        item,
        slot.version
            .map_or(Condition::MustNotExist, Condition::VersionEquals),
    )
}

/// Renews the slots of a live campaign call (the call runner does, with its
/// call's lease). Failures are logged: the slot then expires, never leaks.
pub async fn renew(app: &App, tenant: &Tenant, call: &Call) {
    if let Err(e) = renew_slots(app, tenant, call).await {
        tracing::warn!(call = %call.id, error = %e, "renewing a campaign call's slots failed");
    }
}

async fn renew_slots(app: &App, tenant: &Tenant, call: &Call) -> Result<()> {
    let Some(campaign_id) = &call.campaign_id else {
        return Ok(());
    };
    let Some((contact, _)) = contacts::load(app, tenant, campaign_id, &call.to).await? else {
        return Ok(());
    };
    let Some([slot, org_slot]) = contact
        .slots
        .filter(|_| contact.last_call_id.as_deref() == Some(&call.id))
    else {
        return Ok(());
    };
    let expires = app.now().timestamp_millis() + lease::TERM.as_millis() as i64;
    for (pk, index) in [
        (campaign_slots_pk(tenant, campaign_id), slot),
        (org_campaign_slots_pk(tenant), org_slot),
    ] {
        let Some(mut item) = app.table.get(&pk, &slot_sk(index)).await? else {
            continue;
        };
        if item.data.get("call_id").and_then(Value::as_str) != Some(&call.id) {
            continue;
        }
        item.data["expires_at_ms"] = json!(expires);
        let version = item.version;
        match app.table.put(item, Condition::VersionEquals(version)).await {
            Ok(_) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Frees the slots `contact` recorded for `call_id`, if that call still
/// holds them (idempotent).
pub(crate) async fn release(
    app: &App,
    tenant: &Tenant,
    contact: &CampaignContact,
    call_id: &str,
) -> Result<()> {
    let Some([slot, org_slot]) = contact.slots else {
        return Ok(());
    };
    for (pk, index) in [
        (campaign_slots_pk(tenant, &contact.campaign_id), slot),
        (org_campaign_slots_pk(tenant), org_slot),
    ] {
        let Some(item) = app.table.get(&pk, &slot_sk(index)).await? else {
            continue;
        };
        if item.data.get("call_id").and_then(Value::as_str) != Some(call_id) {
            continue;
        }
        match app
            .table
            .delete(&pk, &item.sk, Condition::VersionEquals(item.version))
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The live slots of a campaign (what the tests and the load tool check
/// for leaks): slots held by a call and not expired.
pub async fn held_slots(app: &App, tenant: &Tenant, campaign_id: &str) -> Result<usize> {
    let now = app.now().timestamp_millis();
    let held = query_all(
        app.table.as_ref(),
        Query::partition(campaign_slots_pk(tenant, campaign_id)),
    )
    .await?;
    Ok(held
        .iter()
        .filter(|i| {
            i.data
                .get("expires_at_ms")
                .and_then(Value::as_i64)
                .is_some_and(|e| e > now)
        })
        .count())
}
