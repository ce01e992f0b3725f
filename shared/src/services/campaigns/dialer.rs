//! The dialer: ticks driven by the `campaigns` queue (a worker function in
//! AWS, a loop locally). A tick of a running campaign inside its calling
//! window claims due contacts and places their calls through the call path
//! every call takes (a call item, its lease, the `calls` queue).
//!
//! Guarantees, each a conditional write:
//! * a contact is dialed at most once per attempt: its claim is conditional
//!   on the version the tick read, so two ticks at once (or a redelivered
//!   message) place one call;
//! * never more than `max_concurrent_calls` live calls per campaign, nor the
//!   org's `max_concurrent_campaign_calls` across campaigns: each call takes
//!   one numbered slot of each in the same transaction. Slots are leases:
//!   renewed by the call runner while the call lives, released when the
//!   call ends ([`super::slots`]), and free again once expired
//!   when the process holding the call died.
//!
//! One tick chain per campaign: the tick message carries the campaign's
//! token sequence; only the message with the current sequence runs, and it
//! sends the next. A chain broken by a crash is restarted by the scheduler
//! ([`restart_stalled`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::calls::{self, lease, runner};
use super::super::repository::query_all;
use super::super::table_keys::*;
use super::{contacts, slots};
use crate::App;
use crate::domain::call::{Call, Direction};
use crate::domain::campaign::contact::{CampaignContact, ContactStatus};
use crate::domain::campaign::{Campaign, CampaignStatus};
use crate::domain::{Mode, Tenant};
use crate::engine::call::EndReason;
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, SortKey, StoreError, Write};

/// The queue the ticks travel on.
pub const QUEUE: &str = "campaigns";
/// Pause between ticks while there is work to do.
const BUSY: Duration = Duration::from_millis(200);
/// Pause between ticks while only live calls remain.
const WAITING: Duration = Duration::from_secs(1);
/// The longest a queue delays a message (SQS's limit).
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A chain whose next tick is this late is restarted.
const STALLED: Duration = Duration::from_secs(10);

/// A tick message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickMessage {
    /// The org.
    pub org_id: String,
    /// Live or test partition.
    pub mode: Mode,
    /// The campaign.
    pub campaign_id: String,
    /// The token sequence this message runs at.
    pub seq: u64,
}

/// The campaign's dialer token.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Token {
    seq: u64,
    /// When the next tick is due (unix milliseconds).
    next_at_ms: i64,
}

async fn token(app: &App, tenant: &Tenant, id: &str) -> Result<(Token, Option<u64>)> {
    match app.table.get(&tenant.pk(), &campaign_tick_sk(id)).await? {
        Some(i) => Ok((i.parse()?, Some(i.version))),
        None => Ok((Token::default(), None)),
    }
}

async fn send(app: &App, tenant: &Tenant, id: &str, seq: u64, delay: Duration) -> Result<()> {
    let msg = TickMessage {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        campaign_id: id.to_owned(),
        seq,
    };
    let body = serde_json::to_string(&msg).map_err(|e| Error::Internal(e.to_string()))?;
    app.queue(QUEUE)?
        .send_for(&tenant.org_id, &body, delay.min(MAX_DELAY))
        .await?;
    Ok(())
}

/// Asks for a tick now (the campaign started, got contacts, a slot freed).
/// It joins the campaign's chain: whichever message of the current sequence
/// runs first ticks; the others find the sequence moved on.
pub async fn kick(app: &App, tenant: &Tenant, id: &str) -> Result<()> {
    let (t, _) = token(app, tenant, id).await?;
    send(app, tenant, id, t.seq, Duration::ZERO).await
}

/// Handles one message of the campaigns queue.
pub async fn handle_message(app: &App, body: &str) -> Result<()> {
    let msg: TickMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "dropping a malformed campaigns message");
            return Ok(());
        }
    };
    let tenant = Tenant {
        org_id: msg.org_id.clone(),
        mode: msg.mode,
    };
    let (t, version) = token(app, &tenant, &msg.campaign_id).await?;
    if t.seq != msg.seq {
        return Ok(());
    }
    let outcome = tick(app, &tenant, &msg.campaign_id).await?;
    let Some(delay) = outcome.next else {
        return Ok(());
    };
    let next = Token {
        seq: t.seq + 1,
        next_at_ms: app.now().timestamp_millis() + delay.as_millis() as i64,
    };
    let item = Item::new(
        tenant.pk(),
        campaign_tick_sk(&msg.campaign_id),
        serde_json::to_value(&next).unwrap_or_default(),
    );
    let condition = version.map_or(Condition::MustNotExist, Condition::VersionEquals);
    match app.table.put(item, condition).await {
        Ok(_) => send(app, &tenant, &msg.campaign_id, next.seq, delay).await,
        // Another message of this sequence ticked too and moved the chain on.
        Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Restarts the chain of every running campaign whose next tick is overdue
/// (its process died between ticks); returns how many.
pub async fn restart_stalled(app: &App) -> Result<usize> {
    let items = query_all(app.table.as_ref(), Query::partition(RUNNING_CAMPAIGNS_PK)).await?;
    let now = app.now().timestamp_millis();
    let mut restarted = 0;
    for item in items {
        #[derive(Deserialize)]
        struct Running {
            org_id: String,
            mode: Mode,
            campaign_id: String,
        }
        let Ok(r) = item.parse::<Running>() else {
            continue;
        };
        let tenant = Tenant {
            org_id: r.org_id,
            mode: r.mode,
        };
        let (t, _) = token(app, &tenant, &r.campaign_id).await?;
        if t.next_at_ms + (STALLED.as_millis() as i64) < now {
            send(app, &tenant, &r.campaign_id, t.seq, Duration::ZERO).await?;
            restarted += 1;
        }
    }
    Ok(restarted)
}

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickOutcome {
    /// Calls placed.
    pub dialed: Vec<String>,
    /// Contacts skipped as do-not-call.
    pub skipped_dnc: usize,
    /// Whether the campaign completed.
    pub completed: bool,
    /// When the next tick should run; `None` when the campaign is not
    /// running any more.
    pub next: Option<Duration>,
}

/// The org's limit on live campaign calls.
async fn org_limit(app: &App, tenant: &Tenant) -> Result<u32> {
    let (org, _) = super::super::identity::get_org(app, &tenant.org_id).await?;
    Ok(org.settings.max_concurrent_campaign_calls)
}

/// One tick of campaign `id`.
pub async fn tick(app: &App, tenant: &Tenant, id: &str) -> Result<TickOutcome> {
    let mut out = TickOutcome::default();
    let campaign = match super::load(app, tenant, id).await {
        Ok((c, _)) => c,
        Err(Error::NotFound(_)) => return Ok(out),
        Err(e) => return Err(e),
    };
    if campaign.status != CampaignStatus::Running {
        return Ok(out);
    }
    let now = app.now();
    if !campaign.schedule.is_open(now) {
        let opens = campaign.schedule.next_open(now);
        out.next = Some(opens.map_or(MAX_DELAY, |t| until(now, t)));
        return Ok(out);
    }
    let now_ms = now.timestamp_millis();
    let campaign_pk = campaign_slots_pk(tenant, id);
    let org_pk = org_campaign_slots_pk(tenant);
    let free = slots::free_slots(app, &campaign_pk, campaign.max_concurrent_calls, now_ms).await?;
    let org_free = if free.is_empty() {
        Vec::new()
    } else {
        slots::free_slots(app, &org_pk, org_limit(app, tenant).await?, now_ms).await?
    };
    let room = free.len().min(org_free.len());
    let due_before = format!("{}#~", crate::domain::rfc3339(now));
    if room > 0 {
        let query = Query::partition(campaign_due(tenant, id))
            .on(Index::Gsi1)
            .sort_key(SortKey::To(due_before.clone()))
            .limit(room);
        let due = app.table.query(query).await?.items;
        let line = Line::pick(app, tenant, &campaign).await?;
        let mut slots = free.into_iter().zip(org_free);
        for item in due {
            let contact: CampaignContact = item.parse()?;
            if super::super::contacts::is_do_not_call(app, tenant, &contact.phone).await? {
                if skip_dnc(app, tenant, contact, item.version).await? {
                    out.skipped_dnc += 1;
                }
                continue;
            }
            let Some((slot, org_slot)) = slots.next() else {
                break;
            };
            let slots = Slots {
                campaign_pk: &campaign_pk,
                campaign: slot,
                org_pk: &org_pk,
                org: org_slot,
            };
            match dial(app, tenant, &campaign, &line, contact, item.version, slots).await {
                Ok(Some(call_id)) => out.dialed.push(call_id),
                Ok(None) => {}
                Err(e) => tracing::warn!(campaign = %id, error = %e, "dialing a contact failed"),
            }
        }
    }
    // What is left decides when to look again, or that it is over. Live
    // calls are read before and after the due contacts: a contact moves
    // between the two sets only by a dial or a settled call, so one that
    // moved during the reads is seen in one of them (a call placed, run and
    // settled between two reads a few milliseconds apart cannot happen: its
    // settling goes through the events queue).
    let live_before = in_flight(app, tenant, id).await?;
    let first_due = app
        .table
        .query(
            Query::partition(campaign_due(tenant, id))
                .on(Index::Gsi1)
                .limit(1),
        )
        .await?
        .items
        .into_iter()
        .next();
    let live = live_before || in_flight(app, tenant, id).await?;
    out.next = match (&first_due, live) {
        _ if !out.dialed.is_empty() || out.skipped_dnc > 0 => Some(BUSY),
        (Some(i), _) if i.gsi1.as_ref().is_some_and(|k| k.sk <= due_before) => Some(BUSY),
        (Some(i), live) => {
            let at = i
                .parse::<CampaignContact>()
                .ok()
                .and_then(|c| c.next_attempt_at)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| until(now, t.with_timezone(&Utc)));
            let wait = at.unwrap_or(WAITING);
            Some(if live { wait.min(WAITING) } else { wait })
        }
        (None, true) => Some(WAITING),
        (None, false) => {
            out.completed = super::complete(app, tenant, id).await?;
            None
        }
    };
    Ok(out)
}

fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO).min(MAX_DELAY)
}

/// Whether any contact of the campaign has a live call.
async fn in_flight(app: &App, tenant: &Tenant, id: &str) -> Result<bool> {
    for status in [ContactStatus::Queued, ContactStatus::Calling] {
        let query = Query::partition(campaign_contacts_by_status(tenant, id, status.as_str()))
            .on(Index::Gsi2)
            .limit(1);
        if !app.table.query(query).await?.items.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Marks a due contact `skipped_dnc` (unless another tick moved it).
async fn skip_dnc(
    app: &App,
    tenant: &Tenant,
    before: CampaignContact,
    version: u64,
) -> Result<bool> {
    let mut after = before.clone();
    after.status = ContactStatus::SkippedDnc;
    after.next_attempt_at = None;
    after.updated_at = app.now_rfc3339();
    let mut writes = vec![Write::Put(
        contacts::item(tenant, &after),
        Condition::VersionEquals(version),
    )];
    writes.extend(contacts::counter_writes(tenant, Some(&before), &after));
    match app.table.transact(writes).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The CRM contact of a campaign contact, found or created by phone, unless
/// it is linked already (then `None`).
pub(crate) async fn link_crm(
    app: &App,
    tenant: &Tenant,
    c: &CampaignContact,
) -> Result<Option<String>> {
    if c.crm_contact_id.is_some() {
        return Ok(None);
    }
    let id = super::super::contacts::link_by_phone(
        app,
        tenant,
        &c.phone,
        c.name.as_deref(),
        c.email.as_deref(),
    )
    .await?;
    Ok(Some(id))
}

/// How a campaign's calls go out: the campaign's channel, else the org's line.
struct Line {
    channel_id: Option<String>,
    from: String,
    simulated: bool,
}

impl Line {
    async fn pick(app: &App, tenant: &Tenant, c: &Campaign) -> Result<Line> {
        use crate::domain::channel::ChannelType;
        if let Some(id) = &c.channel_id
            && let Ok((ch, _)) = super::super::channels::load(app, tenant, id).await
        {
            return Ok(Line {
                channel_id: Some(ch.id.clone()),
                from: ch
                    .phone_numbers
                    .first()
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_else(|| calls::SIM_CALLER_ID.to_owned()),
                simulated: tenant.mode == Mode::Test || ch.kind == ChannelType::Sim,
            });
        }
        let (channel_id, from, simulated) = calls::pick_line(app, tenant).await?;
        Ok(Line {
            channel_id,
            from,
            simulated,
        })
    }
}

/// The slots a call takes.
struct Slots<'a> {
    campaign_pk: &'a str,
    campaign: slots::FreeSlot,
    org_pk: &'a str,
    org: slots::FreeSlot,
}

/// The variables of a contact's call: the campaign's defaults, the
/// contact's own over them, its name and e-mail.
fn call_context(campaign: &Campaign, c: &CampaignContact) -> Map<String, Value> {
    let mut context = campaign.context_defaults.clone();
    context.extend(c.variables.clone());
    if let Some(name) = &c.name {
        context.insert("customer_name".into(), Value::String(name.clone()));
        context.insert("name".into(), Value::String(name.clone()));
    }
    if let Some(email) = &c.email {
        context.insert("email".into(), Value::String(email.clone()));
    }
    context
}

/// Claims `before` (read at `version`) and places its call: the contact's
/// move to `queued`, the call, its lease and both slots are one conditional
/// transaction. `None` when another tick won the contact or a slot.
async fn dial(
    app: &App,
    tenant: &Tenant,
    campaign: &Campaign,
    line: &Line,
    before: CampaignContact,
    version: u64,
    slots: Slots<'_>,
) -> Result<Option<String>> {
    let crm = link_crm(app, tenant, &before).await?;
    let now = app.now_rfc3339();
    let call_id = app.new_id();
    let call = Call {
        campaign_id: Some(campaign.id.clone()),
        contact_id: Some(before.id.clone()),
        channel_id: line.channel_id.clone(),
        context: call_context(campaign, &before),
        ..Call::placed(
            call_id.clone(),
            Direction::Outbound,
            campaign.agent_id.clone(),
            line.from.clone(),
            before.phone.clone(),
            line.simulated,
            now.clone(),
        )
    };
    let mut after = before.clone();
    after.status = ContactStatus::Queued;
    after.attempts += 1;
    after.last_call_id = Some(call_id.clone());
    after.next_attempt_at = None;
    after.slots = Some([slots.campaign.index, slots.org.index]);
    if let Some(id) = crm {
        after.crm_contact_id = Some(id);
    }
    after.updated_at = now;
    let expires = app.now().timestamp_millis() + lease::PICKUP.as_millis() as i64;
    let mut writes = vec![Write::Put(
        contacts::item(tenant, &after),
        Condition::VersionEquals(version),
    )];
    writes.extend(contacts::counter_writes(tenant, Some(&before), &after));
    writes.push(Write::Put(
        calls::item(tenant, &call),
        Condition::MustNotExist,
    ));
    writes.push(Write::Put(
        lease::queued(app, tenant, &call),
        Condition::MustNotExist,
    ));
    writes.push(slots::slot_write(
        slots.campaign_pk,
        slots.campaign,
        &call_id,
        expires,
    ));
    writes.push(slots::slot_write(
        slots.org_pk,
        slots.org,
        &call_id,
        expires,
    ));
    match app.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    if let Err(e) = runner::enqueue(app, tenant, &call_id).await {
        // Never leave a call nobody will run: it fails now; the post-call
        // job settles the contact (and retries it per the policy).
        tracing::error!(call = %call_id, error = %e, "could not hand a campaign call to a runner");
        calls::finish(app, tenant, &call_id, None, |c, at| {
            c.end(EndReason::Error, at)
        })
        .await?;
        return Ok(None);
    }
    Ok(Some(call_id))
}
