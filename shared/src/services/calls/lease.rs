//! Leases on live calls: a call that is not ended always has one, in the
//! installation-wide [`CALL_LEASES_PK`] partition (so one query finds them
//! all) and in its tenant's live listing (GSI1, which the relay streams).
//! A new call's lease gives a runner [`PICKUP`] to take it; the runner then
//! owns it for [`TERM`], renewed every [`RENEW_EVERY`]. A lease that lapses
//! means the runner died: the sweep ends the call as `failed`
//! (`runner_lost`), so no call stays `in_progress` forever.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::repository::query_all_as;
use super::super::table_keys::*;
use crate::App;
use crate::domain::call::{Call, CallStatus};
use crate::domain::{Mode, Tenant};
use crate::engine::call::EndReason;
use crate::error::Result;
use crate::store::{Condition, Index, Item, Query, SortKey, StoreError};

/// How long a new call waits for a runner before it counts as lost.
pub const PICKUP: Duration = Duration::from_secs(120);
/// How long a runner's lease lasts without renewal.
pub const TERM: Duration = Duration::from_secs(30);
/// How often a runner renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(10);

/// A call's lease, and what the live listing shows of the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lease {
    /// The org.
    pub org_id: String,
    /// Live or test partition.
    #[schema(value_type = String)]
    pub mode: Mode,
    /// The call.
    pub call_id: String,
    /// The runner holding it (`None` while queued).
    pub owner: Option<String>,
    /// Where the owner's relay routes answer ([`crate::Config::relay_internal_url`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_url: Option<String>,
    /// When it lapses (unix milliseconds).
    pub expires_at_ms: i64,
    /// The call's status.
    pub status: CallStatus,
    /// The agent on the call.
    pub agent_id: String,
    /// The number dialed.
    pub to: String,
    /// When the call was placed.
    pub started_at: String,
}

impl Lease {
    /// The tenant of the call.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }

    fn item(&self) -> Item {
        let tenant = self.tenant();
        Item::new(
            CALL_LEASES_PK,
            call_lease_sk(&tenant, &self.call_id),
            serde_json::to_value(self).unwrap_or_default(),
        )
        .with_gsi1(live_calls(&tenant), resource_sk(super::KIND, &self.call_id))
    }
}

fn expiry(app: &App, after: Duration) -> i64 {
    app.now().timestamp_millis() + after.as_millis() as i64
}

/// The lease of a call just placed: no owner yet, [`PICKUP`] to find one.
pub(crate) fn queued(app: &App, tenant: &Tenant, call: &Call) -> Item {
    Lease {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call.id.clone(),
        owner: None,
        owner_url: None,
        expires_at_ms: expiry(app, PICKUP),
        status: call.status,
        agent_id: call.agent_id.clone(),
        to: call.to.clone(),
        started_at: call.started_at.clone(),
    }
    .item()
}

/// Reads a call's lease with its version.
pub(crate) async fn read(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
) -> Result<Option<(Lease, u64)>> {
    let Some(item) = app
        .table
        .get(CALL_LEASES_PK, &call_lease_sk(tenant, call_id))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((item.parse()?, item.version)))
}

/// Takes (or renews) the lease for `owner`, optionally recording the call's
/// new status. `None` when the call has no lease any more (it ended or was
/// swept) or another live runner holds it.
pub(crate) async fn hold(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
    owner: &str,
    status: Option<CallStatus>,
) -> Result<Option<u64>> {
    // Our own writes race (a renewal and the answer): re-read and retry.
    for _ in 0..4 {
        let Some((mut lease, version)) = read(app, tenant, call_id).await? else {
            return Ok(None);
        };
        let now = app.now().timestamp_millis();
        if lease.owner.as_deref().is_some_and(|o| o != owner) && lease.expires_at_ms > now {
            return Ok(None);
        }
        lease.owner = Some(owner.to_owned());
        lease.owner_url = Some(app.config.relay_internal_url.clone());
        lease.expires_at_ms = expiry(app, TERM);
        if let Some(status) = status {
            lease.status = status;
        }
        match app
            .table
            .put(lease.item(), Condition::VersionEquals(version))
            .await
        {
            Ok(item) => return Ok(Some(item.version)),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

/// The tenant's live calls (initiated or in progress), newest first: what the
/// relay streams to the live space.
pub async fn live(app: &App, tenant: &Tenant) -> Result<Vec<Lease>> {
    let query = Query::partition(live_calls(tenant))
        .on(Index::Gsi1)
        .backward();
    query_all_as(app.table.as_ref(), query).await
}

/// Ends every call whose lease lapsed as `failed` with `runner_lost`;
/// returns how many. A runner that renews meanwhile keeps its call (the end
/// is conditional on the lease's version).
pub async fn sweep(app: &App) -> Result<usize> {
    let now = app.now().timestamp_millis();
    let query = Query::partition(CALL_LEASES_PK).sort_key(SortKey::All);
    let mut lost = 0;
    let mut next = None;
    loop {
        let page = app.table.query(query.clone().after(next)).await?;
        for item in &page.items {
            let Ok(lease) = item.parse::<Lease>() else {
                tracing::error!(sk = %item.sk, "unreadable call lease");
                continue;
            };
            if lease.expires_at_ms > now {
                continue;
            }
            let tenant = lease.tenant();
            let ended = super::finish(app, &tenant, &lease.call_id, Some(item.version), |c, at| {
                c.end(EndReason::RunnerLost, at)
            })
            .await;
            match ended {
                Ok(Some(_)) => {
                    tracing::warn!(call = %lease.call_id, owner = ?lease.owner, "call runner lost");
                    lost += 1;
                }
                Ok(None) => {}
                Err(crate::error::Error::NotFound(_)) => {
                    // The call is gone: its lease goes too.
                    let _ = app.table.delete(&item.pk, &item.sk, Condition::None).await;
                }
                Err(e) => {
                    tracing::warn!(call = %lease.call_id, error = %e, "sweeping a lost call failed")
                }
            }
        }
        next = page.next;
        if next.is_none() {
            return Ok(lost);
        }
    }
}
