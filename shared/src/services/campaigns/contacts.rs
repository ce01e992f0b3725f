//! A campaign's contacts: added one at a time, in bulk or from a CSV file;
//! listed by status and outcome; the results and their CSV export.
//!
//! Adding is batched: up to [`PER_TRANSACTION`] contacts and the counters
//! they change are one transaction, so 10,000 contacts are ~420 writes to
//! the store, not 10,000. A phone the campaign already has fails its batch's
//! condition; that batch alone is retried contact by contact to tell the
//! duplicates apart.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::super::caller::Caller;
use super::super::page::{PageOf, PageRequest, page};
use super::super::repository::query_all;
use super::super::table_keys::*;
use super::super::views::{
    CampaignContactView, CampaignResultsView, ContactResult, ImportSummary, InvalidContact,
};
use crate::App;
use crate::domain::Tenant;
use crate::domain::campaign::contact::{
    CampaignContact, ContactInput, ContactOutcome, ContactStatus,
};
use crate::domain::campaign::{BulkContactsInput, CampaignContactInput, CampaignStatus};
use crate::domain::input::Field;
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, StoreError, Write};

/// Most contacts one bulk request or CSV file may carry.
pub const MAX_IMPORT: usize = 10_000;
/// Contacts per transaction (two more writes are the counters).
const PER_TRANSACTION: usize = 23;
/// Most contacts `results` lists per section.
const RESULTS_LISTED: usize = 1_000;

/// The contact's item with its index entries: the due index while it will
/// be dialed, the status index always.
pub(crate) fn item(tenant: &Tenant, c: &CampaignContact) -> Item {
    let item = Item::new(
        tenant.pk(),
        campaign_contact_sk(&c.campaign_id, &c.phone),
        serde_json::to_value(c).unwrap_or_default(),
    )
    .with_gsi2(
        campaign_contacts_by_status(tenant, &c.campaign_id, c.status.as_str()),
        c.id.clone(),
    );
    match &c.next_attempt_at {
        Some(at) => item.with_gsi1(
            campaign_due(tenant, &c.campaign_id),
            format!("{at}#{}", c.phone),
        ),
        None => item,
    }
}

/// The counter changes when a contact moves from `before` to `after`.
pub(crate) fn counter_writes(
    tenant: &Tenant,
    before: Option<&CampaignContact>,
    after: &CampaignContact,
) -> Vec<Write> {
    let pk = campaign_stats_pk(tenant, &after.campaign_id);
    let add = |sk: String, delta: i64| Write::Add {
        pk: pk.clone(),
        sk,
        delta,
    };
    let mut writes = Vec::new();
    let old_status = before.map(|b| b.status);
    if old_status != Some(after.status) {
        if let Some(s) = old_status {
            writes.push(add(format!("status#{}", s.as_str()), -1));
        }
        writes.push(add(format!("status#{}", after.status.as_str()), 1));
    }
    let old_outcome = before.and_then(|b| b.outcome);
    if old_outcome != after.outcome {
        if let Some(o) = old_outcome {
            writes.push(add(format!("outcome#{}", o.as_str()), -1));
        }
        if let Some(o) = after.outcome {
            writes.push(add(format!("outcome#{}", o.as_str()), 1));
        }
    }
    writes
}

/// Reads a campaign's contact by phone, with its version.
pub(crate) async fn load(
    app: &App,
    tenant: &Tenant,
    campaign_id: &str,
    phone: &str,
) -> Result<Option<(CampaignContact, u64)>> {
    let item = app
        .table
        .get(&tenant.pk(), &campaign_contact_sk(campaign_id, phone))
        .await?;
    match item {
        Some(i) => Ok(Some((i.parse()?, i.version))),
        None => Ok(None),
    }
}

/// Contacts can be added until the campaign ended.
async fn open_campaign(app: &App, tenant: &Tenant, id: &str) -> Result<CampaignStatus> {
    let (c, _) = super::load(app, tenant, id).await?;
    if c.status.is_final() {
        return Err(Error::Conflict(format!(
            "contacts cannot be added to a {} campaign",
            c.status.as_str()
        )));
    }
    Ok(c.status)
}

/// Stores `contacts` (already unique by phone) as pending; returns how many
/// were added and which positions were duplicates of stored ones.
async fn insert(
    app: &App,
    tenant: &Tenant,
    campaign_id: &str,
    contacts: Vec<CampaignContact>,
) -> Result<(usize, usize)> {
    let (mut added, mut duplicates) = (0, 0);
    let pk = campaign_stats_pk(tenant, campaign_id);
    let counters = |n: i64| {
        [
            Write::Add {
                pk: pk.clone(),
                sk: "total".into(),
                delta: n,
            },
            Write::Add {
                pk: pk.clone(),
                sk: format!("status#{}", ContactStatus::Pending.as_str()),
                delta: n,
            },
        ]
    };
    for chunk in contacts.chunks(PER_TRANSACTION) {
        let mut writes: Vec<Write> = chunk
            .iter()
            .map(|c| Write::Put(item(tenant, c), Condition::MustNotExist))
            .collect();
        writes.extend(counters(chunk.len() as i64));
        match app.table.transact(writes).await {
            Ok(()) => added += chunk.len(),
            Err(StoreError::ConditionFailed) => {
                for c in chunk {
                    let mut writes = vec![Write::Put(item(tenant, c), Condition::MustNotExist)];
                    writes.extend(counters(1));
                    match app.table.transact(writes).await {
                        Ok(()) => added += 1,
                        Err(StoreError::ConditionFailed) => duplicates += 1,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((added, duplicates))
}

/// Adds parsed rows (`(position, row)`: a bulk list or a CSV file), skipping
/// repeats of a phone within
/// them; the summary counts both kinds of duplicate. 413 over [`MAX_IMPORT`].
pub async fn import(
    app: &App,
    caller: &Caller,
    campaign_id: &str,
    rows: Vec<(usize, std::result::Result<ContactInput, String>)>,
) -> Result<ImportSummary> {
    let tenant = &caller.tenant;
    if rows.len() > MAX_IMPORT {
        return Err(Error::TooLarge(format!(
            "at most {MAX_IMPORT} contacts per request; this one has {}",
            rows.len()
        )));
    }
    let status = open_campaign(app, tenant, campaign_id).await?;
    let mut summary = ImportSummary::default();
    let mut seen = HashSet::new();
    let now = app.now_rfc3339();
    let mut contacts = Vec::with_capacity(rows.len());
    for (index, row) in rows {
        match row {
            Err(error) => summary.invalid.push(InvalidContact { index, error }),
            Ok(input) if !seen.insert(input.phone.as_str().to_owned()) => summary.duplicates += 1,
            Ok(input) => contacts.push(input.into_contact(app.new_id(), campaign_id, &now)),
        }
    }
    let (added, duplicates) = insert(app, tenant, campaign_id, contacts).await?;
    summary.added = added;
    summary.duplicates += duplicates;
    if added > 0 && status == CampaignStatus::Running {
        super::dialer::kick(app, tenant, campaign_id).await?;
    }
    Ok(summary)
}

/// `POST /campaigns/{id}/contacts`: one contact, linked to the CRM now.
pub async fn add_one(
    app: &App,
    caller: &Caller,
    campaign_id: &str,
    body: CampaignContactInput,
) -> Result<CampaignContactView> {
    let tenant = &caller.tenant;
    let input = ContactInput::parse(body).map_err(|e| {
        let (field, why) = e.split_once(": ").unwrap_or(("contact", e.as_str()));
        Error::field(field, why)
    })?;
    let phone = input.phone.as_str().to_owned();
    let summary = import(app, caller, campaign_id, vec![(0, Ok(input))]).await?;
    if summary.duplicates > 0 {
        return Err(Error::Conflict(format!(
            "the campaign already has a contact with phone {phone}"
        )));
    }
    let (mut contact, _) = load(app, tenant, campaign_id, &phone)
        .await?
        .ok_or(Error::NotFound("contact"))?;
    if let Some(id) = super::dialer::link_crm(app, tenant, &contact).await? {
        contact.crm_contact_id = Some(id);
    }
    Ok(contact.into())
}

/// `POST /campaigns/{id}/contacts/bulk` with `{contacts: [...]}`.
pub async fn add_bulk(
    app: &App,
    caller: &Caller,
    campaign_id: &str,
    body: BulkContactsInput,
) -> Result<ImportSummary> {
    if let Some(k) = body.unknown.keys().next() {
        return Err(Error::field(k.clone(), "is not a field of a bulk add"));
    }
    let Field::Value(list) = body.contacts else {
        return Err(Error::field("contacts", "must be a list of contacts"));
    };
    if list.len() > MAX_IMPORT {
        return Err(Error::TooLarge(format!(
            "at most {MAX_IMPORT} contacts per request; this one has {}",
            list.len()
        )));
    }
    let rows = list
        .into_iter()
        .enumerate()
        .map(|(i, item)| (i, ContactInput::parse_item(item)))
        .collect();
    import(app, caller, campaign_id, rows).await
}

/// `GET /campaigns/{id}/contacts?status=&outcome=`.
pub async fn list(
    app: &App,
    caller: &Caller,
    campaign_id: &str,
    status: Option<ContactStatus>,
    outcome: Option<ContactOutcome>,
    req: &PageRequest,
) -> Result<PageOf<CampaignContactView>> {
    let tenant = &caller.tenant;
    super::load(app, tenant, campaign_id).await?;
    let query = match status {
        Some(s) => Query::partition(campaign_contacts_by_status(tenant, campaign_id, s.as_str()))
            .on(Index::Gsi2),
        None => Query::partition(tenant.pk()).prefix(campaign_contacts_prefix(campaign_id)),
    };
    let want = outcome.map(|o| Value::String(o.as_str().to_owned()));
    let keep = |i: &Item| {
        want.as_ref()
            .is_none_or(|o| i.data.get("outcome") == Some(o))
    };
    let out = page(app.table.as_ref(), query, req, keep).await?;
    let mut items = Vec::with_capacity(out.items.len());
    for i in &out.items {
        items.push(i.parse::<CampaignContact>()?.into());
    }
    Ok(PageOf {
        items,
        next_cursor: out.next_cursor,
        total: None,
        limit: out.limit,
        offset: out.offset,
    })
}

/// Every contact of a campaign, in phone order.
async fn all(app: &App, tenant: &Tenant, campaign_id: &str) -> Result<Vec<CampaignContact>> {
    let query = Query::partition(tenant.pk()).prefix(campaign_contacts_prefix(campaign_id));
    let items = query_all(app.table.as_ref(), query).await?;
    items
        .iter()
        .map(|i| i.parse().map_err(Into::into))
        .collect()
}

/// `GET /campaigns/{id}/results`: the outcome breakdown (from the counters),
/// the interested contacts and what the calls extracted (at most
/// [`RESULTS_LISTED`] each; the export has everything).
pub async fn results(app: &App, caller: &Caller, campaign_id: &str) -> Result<CampaignResultsView> {
    let tenant = &caller.tenant;
    let (campaign, _) = super::load(app, tenant, campaign_id).await?;
    let stats = super::stats(app, tenant, campaign_id).await?;
    let contacts = all(app, tenant, campaign_id).await?;
    let interested = contacts
        .iter()
        .filter(|c| c.outcome == Some(ContactOutcome::Interested))
        .take(RESULTS_LISTED)
        .map(ContactResult::from)
        .collect();
    let extracted = contacts
        .iter()
        .filter(|c| c.extracted_data.values().any(|v| !v.is_null()))
        .take(RESULTS_LISTED)
        .map(ContactResult::from)
        .collect();
    Ok(CampaignResultsView {
        campaign_id: campaign.id,
        status: campaign.status,
        stats,
        interested,
        extracted,
    })
}

/// A cell a spreadsheet will not run as a formula: text starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's
/// CSV-injection advice).
pub fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// `GET /campaigns/{id}/results/export`: every contact as a CSV row.
pub async fn export(app: &App, caller: &Caller, campaign_id: &str) -> Result<Vec<u8>> {
    let tenant = &caller.tenant;
    super::load(app, tenant, campaign_id).await?;
    let contacts = all(app, tenant, campaign_id).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let bad = |e: csv::Error| Error::Internal(format!("writing the export: {e}"));
    out.write_record([
        "contact_id",
        "phone",
        "name",
        "email",
        "status",
        "outcome",
        "attempts",
        "last_call_id",
        "variables",
        "extracted_data",
    ])
    .map_err(bad)?;
    for c in contacts {
        let json = |m: &Map<String, Value>| {
            if m.is_empty() {
                String::new()
            } else {
                Value::Object(m.clone()).to_string()
            }
        };
        let row = [
            c.id,
            c.phone,
            c.name.unwrap_or_default(),
            c.email.unwrap_or_default(),
            c.status.as_str().to_owned(),
            c.outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            c.attempts.to_string(),
            c.last_call_id.unwrap_or_default(),
            json(&c.variables),
            json(&c.extracted_data),
        ];
        out.write_record(row.iter().map(|cell| neutralise(cell)))
            .map_err(bad)?;
    }
    out.into_inner()
        .map_err(|e| Error::Internal(format!("writing the export: {e}")))
}

/// Marks every contact that would still be dialed `cancelled` (the campaign
/// was cancelled). Contacts whose call is live keep it; their result is
/// recorded when it ends, without a retry.
pub(crate) async fn cancel_remaining(app: &App, tenant: &Tenant, campaign_id: &str) -> Result<()> {
    let query = Query::partition(campaign_due(tenant, campaign_id)).on(Index::Gsi1);
    let items = query_all(app.table.as_ref(), query).await?;
    let now = app.now_rfc3339();
    for item in items {
        let Ok(before) = item.parse::<CampaignContact>() else {
            continue;
        };
        let mut version = item.version;
        let mut before = before;
        for _ in 0..4 {
            let mut after = before.clone();
            after.status = ContactStatus::Cancelled;
            after.next_attempt_at = None;
            after.updated_at = now.clone();
            let mut writes = vec![Write::Put(
                self::item(tenant, &after),
                Condition::VersionEquals(version),
            )];
            writes.extend(counter_writes(tenant, Some(&before), &after));
            match app.table.transact(writes).await {
                Ok(()) => break,
                Err(StoreError::ConditionFailed) => {
                    // The dialer claimed it meanwhile: its call runs; stop if
                    // nothing is left to cancel.
                    match load(app, tenant, campaign_id, &before.phone).await? {
                        Some((c, v)) if c.next_attempt_at.is_some() => {
                            before = c;
                            version = v;
                        }
                        _ => break,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn formula_openers_are_neutralised() {
        for (cell, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+14155550123", "'+14155550123"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("Ann", "Ann"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), want);
        }
    }
}
