//! Campaigns (SPEC §9): CRUD, the state machine, statistics; contacts in
//! [`contacts`], the dialer in [`dialer`], what an ended call changes in
//! [`settle`], its concurrency slots in [`slots`].
//!
//! Storage: the campaign at `<tenant>` / `CAMPAIGN#<id>`, in GSI2 under its
//! agent with its status (a running campaign keeps its agent from being
//! deleted); a marker in [`RUNNING_CAMPAIGNS_PK`] while it runs; its contacts
//! at `CAMPCONTACT#<campaign>#<phone>` (GSI1: the due index while they will
//! be dialed; GSI2: their status); its statistics as counters in their own
//! partition; its concurrency slots as leases in theirs.

pub mod contacts;
pub mod csv_import;
pub mod dialer;
pub mod settle;
pub mod slots;

use futures::future::try_join_all;
use serde_json::{Value, json};

use super::caller::Caller;
use super::page::{PageOf, PageRequest};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource, query_all};
use super::table_keys::*;
use super::views::{CampaignStats, CampaignView, DeletedView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::campaign::contact::{ContactOutcome, ContactStatus};
use crate::domain::campaign::{
    Action, Campaign, CampaignCreate, CampaignPatch, CampaignSpec, CampaignStatus,
};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Query, StoreError, Write};

pub use settle::after_call;

/// Resource kind in sort keys.
pub const KIND: &str = "CAMPAIGN";

/// The campaign's item with its index entry.
pub(crate) fn item(tenant: &Tenant, c: &Campaign) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &c.id),
        serde_json::to_value(c).unwrap_or_default(),
    )
    .with_gsi2(
        super::agents::agent_refs(tenant, &c.agent_id),
        format!("{KIND}#{}#{}", c.status.as_str(), c.id),
    )
}

/// The writes that keep the running marker in step with the status.
fn running_marker(tenant: &Tenant, before: CampaignStatus, after: &Campaign) -> Option<Write> {
    let (pk, sk) = (
        RUNNING_CAMPAIGNS_PK.to_owned(),
        running_campaign_sk(tenant, &after.id),
    );
    match (
        before == CampaignStatus::Running,
        after.status == CampaignStatus::Running,
    ) {
        (false, true) => Some(Write::Put(
            Item::new(
                pk,
                sk,
                json!({"org_id": tenant.org_id, "mode": tenant.mode, "campaign_id": after.id}),
            ),
            Condition::None,
        )),
        (true, false) => Some(Write::Delete {
            pk,
            sk,
            condition: Condition::None,
        }),
        _ => None,
    }
}

/// Reads a campaign of the tenant with its version; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Campaign, u64)> {
    load_resource(app, tenant, KIND, "campaign", id).await
}

async fn check_refs(app: &App, tenant: &Tenant, spec: &CampaignSpec) -> Result<()> {
    match super::agents::load(app, tenant, spec.agent_id()).await {
        Ok(_) => {}
        Err(Error::NotFound(_)) => {
            return Err(Error::field("agent_id", "no agent with this id exists"));
        }
        Err(e) => return Err(e),
    }
    if let Some(channel) = spec.channel_id() {
        match super::channels::load(app, tenant, channel).await {
            Ok(_) => {}
            Err(Error::NotFound(_)) => {
                return Err(Error::field("channel_id", "no channel with this id exists"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The campaign's statistics: one read per counter, never a scan of its
/// contacts.
pub async fn stats(app: &App, tenant: &Tenant, id: &str) -> Result<CampaignStats> {
    let pk = campaign_stats_pk(tenant, id);
    let names = settle::counter_names();
    let values = try_join_all(names.iter().map(|n| app.table.counter(&pk, n))).await?;
    let get = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map_or(0, |i| values[i].max(0) as u64)
    };
    let (calls, answered) = (get("calls"), get("answered"));
    Ok(CampaignStats {
        total_contacts: get("total"),
        by_status: ContactStatus::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str().to_owned(),
                    get(&format!("status#{}", s.as_str())),
                )
            })
            .collect(),
        by_outcome: ContactOutcome::ALL
            .iter()
            .map(|o| {
                (
                    o.as_str().to_owned(),
                    get(&format!("outcome#{}", o.as_str())),
                )
            })
            .collect(),
        calls,
        answered,
        answer_rate: if calls == 0 {
            0.0
        } else {
            answered as f64 / calls as f64
        },
        avg_duration_seconds: if answered == 0 {
            0.0
        } else {
            get("duration_seconds") as f64 / answered as f64
        },
    })
}

async fn view(app: &App, tenant: &Tenant, c: Campaign) -> Result<CampaignView> {
    let stats = stats(app, tenant, &c.id).await?;
    Ok(CampaignView::new(c, stats))
}

/// `GET /campaigns?status=`: newest first.
pub async fn list(
    app: &App,
    caller: &Caller,
    status: Option<CampaignStatus>,
    req: &PageRequest,
) -> Result<PageOf<CampaignView>> {
    let tenant = &caller.tenant;
    let only = status.map(|s| ("status", Value::String(s.as_str().to_owned())));
    let page = list_counted(app, tenant, KIND, only, req, |c: Campaign| c).await?;
    let items = try_join_all(page.items.into_iter().map(|c| view(app, tenant, c))).await?;
    Ok(PageOf {
        items,
        next_cursor: page.next_cursor,
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// `POST /campaigns`: a draft.
pub async fn create(app: &App, caller: &Caller, body: CampaignCreate) -> Result<CampaignView> {
    let tenant = &caller.tenant;
    let spec = CampaignSpec::parse(body.0)?;
    check_refs(app, tenant, &spec).await?;
    let campaign = spec.into_campaign(app.new_id(), app.now_rfc3339());
    insert_counted(app, tenant, KIND, item(tenant, &campaign), vec![]).await?;
    view(app, tenant, campaign).await
}

/// `GET /campaigns/{id}`, with its statistics.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<CampaignView> {
    let (c, _) = load(app, &caller.tenant, id).await?;
    view(app, &caller.tenant, c).await
}

/// `PATCH /campaigns/{id}`: the fields sent change (409 once it ended).
pub async fn update(
    app: &App,
    caller: &Caller,
    id: &str,
    patch: CampaignPatch,
) -> Result<CampaignView> {
    let tenant = &caller.tenant;
    let (current, version) = load(app, tenant, id).await?;
    current.check_editable()?;
    let spec = CampaignSpec::parse(current.patched(patch))?;
    check_refs(app, tenant, &spec).await?;
    let updated = spec.apply_to(&current, app.now_rfc3339());
    write(app, tenant, &updated, version).await?;
    if updated.status == CampaignStatus::Running {
        // A wider limit or another window may let it dial now.
        dialer::kick(app, tenant, id).await?;
    }
    view(app, tenant, updated).await
}

/// Writes `c` if the stored campaign is still at `version` (409 otherwise).
async fn write(app: &App, tenant: &Tenant, c: &Campaign, version: u64) -> Result<()> {
    match app
        .table
        .put(item(tenant, c), Condition::VersionEquals(version))
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(Error::Conflict(
            "the campaign changed while this request ran; retry".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /campaigns/{id}`: with its contacts, counters and dialer state
/// (409 while it runs).
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    let tenant = &caller.tenant;
    let (c, version) = load(app, tenant, id).await?;
    c.check_deletable()?;
    let marker = Write::Delete {
        pk: tenant.pk(),
        sk: campaign_tick_sk(id),
        condition: Condition::None,
    };
    delete_counted(app, tenant, KIND, id, version, vec![marker]).await?;
    // The campaign is gone; its contacts and counters go too.
    let contacts = Query::partition(tenant.pk()).prefix(campaign_contacts_prefix(id));
    let items = query_all(app.table.as_ref(), contacts).await?;
    for chunk in items.chunks(crate::store::MAX_TRANSACTION_WRITES) {
        let writes = chunk
            .iter()
            .map(|i| Write::Delete {
                pk: i.pk.clone(),
                sk: i.sk.clone(),
                condition: Condition::None,
            })
            .collect();
        app.table.transact(writes).await?;
    }
    for name in settle::counter_names() {
        let pk = campaign_stats_pk(tenant, id);
        app.table.delete(&pk, &name, Condition::None).await?;
    }
    Ok(DeletedView::of(id))
}

/// `POST /campaigns/{id}/start|pause|resume|cancel`. Cancel stops dialing
/// at once and marks every contact not yet called (again) `cancelled`;
/// calls already live finish.
pub async fn act(app: &App, caller: &Caller, id: &str, action: Action) -> Result<CampaignView> {
    let tenant = &caller.tenant;
    let (current, version) = load(app, tenant, id).await?;
    let mut c = current.clone();
    let now = app.now_rfc3339();
    c.apply(action, &now)?;
    c.updated_at = now;
    let mut writes = vec![Write::Put(
        item(tenant, &c),
        Condition::VersionEquals(version),
    )];
    writes.extend(running_marker(tenant, current.status, &c));
    match app.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(Error::Conflict(
                "the campaign changed while this request ran; retry".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    match c.status {
        CampaignStatus::Running => dialer::kick(app, tenant, id).await?,
        CampaignStatus::Cancelled => contacts::cancel_remaining(app, tenant, id).await?,
        _ => {}
    }
    view(app, tenant, c).await
}

/// `running → completed` (the dialer found nothing left to dial), with the
/// `campaign.completed` event, once: the status change is conditional.
pub(crate) async fn complete(app: &App, tenant: &Tenant, id: &str) -> Result<bool> {
    let (current, version) = match load(app, tenant, id).await {
        Ok(c) => c,
        Err(Error::NotFound(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut c = current.clone();
    let now = app.now_rfc3339();
    if c.complete(&now).is_err() {
        return Ok(false);
    }
    c.updated_at = now;
    let mut writes = vec![Write::Put(
        item(tenant, &c),
        Condition::VersionEquals(version),
    )];
    writes.extend(running_marker(tenant, current.status, &c));
    match app.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    let data = serde_json::to_value(view(app, tenant, c).await?)
        .map_err(|e| Error::Internal(e.to_string()))?;
    super::events::emit(app, tenant, "campaign.completed", data).await?;
    Ok(true)
}
