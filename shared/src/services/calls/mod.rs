//! Calls (SPEC §10): placing them, reading them, ending them.
//!
//! Storage: the call at `<tenant>` / `CALL#<id>` (ids are UUIDv7, so the
//! primary order is start order and a date range is a key range); in GSI1
//! under its task; in GSI2 under its agent with its status (live calls keep
//! the agent from being deleted). Each transcript entry is its own item
//! (`CALLEVENT#<call>#<seq>`), written as it is said, so a live call's
//! transcript can be read and a finished one rebuilt. A running call holds a
//! lease ([`lease`]).

pub mod drain;
mod held;
pub mod lease;
pub mod media;
pub mod post_call;
pub mod recording;
pub mod runner;
pub mod voice;
pub mod web_chat;

use serde_json::Value;

use super::caller::Caller;
use super::live::hub::{self, LiveEvent};
use super::page::{PageOf, PageRequest, page};
use super::repository::{load_resource, query_all_as};
use super::table_keys::*;
use super::views::{CallView, ProcessedTranscriptView, TranscriptView};
use crate::App;
use crate::domain::call::{Call, CallStatus, Direction};
use crate::domain::channel::ChannelType;
use crate::domain::{Mode, Tenant};
use crate::engine::call::{EndReason, TranscriptEntry};
use crate::engine::report::Report;
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, SortKey, StoreError, Write};

pub use post_call::post_call;

/// Resource kind in sort keys.
pub const KIND: &str = "CALL";

/// The caller id of simulated calls with no channel number.
pub const SIM_CALLER_ID: &str = "+15555550100";

/// The call's item with its index entries.
pub(crate) fn item(tenant: &Tenant, call: &Call) -> Item {
    let item = Item::new(
        tenant.pk(),
        resource_sk(KIND, &call.id),
        serde_json::to_value(call).unwrap_or_default(),
    )
    .with_gsi2(
        super::agents::agent_refs(tenant, &call.agent_id),
        format!("{KIND}#{}#{}", call.status.as_str(), call.id),
    );
    match &call.task_id {
        Some(task) => item.with_gsi1(task_calls(tenant, task), resource_sk(KIND, &call.id)),
        None => item,
    }
}

/// Reads a call of the tenant with its version; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Call, u64)> {
    load_resource(app, tenant, KIND, "call", id).await
}

/// The call a `call.*` event is about, as stored now, with its tenant;
/// `None` when the event names no call or the call is gone (nothing to do).
pub async fn of_event(
    app: &App,
    event: &crate::services::events::Event,
) -> Result<Option<(Tenant, Call)>> {
    let tenant = event.tenant();
    let Some(id) = event.subject_id() else {
        return Ok(None);
    };
    match load(app, &tenant, id).await {
        Ok((call, _)) => Ok(Some((tenant, call))),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How a new call reaches its callee: the simulated carrier in test mode, on
/// a `sim` channel, or when the org has no telephony; else the channel.
pub(crate) async fn pick_line(
    app: &App,
    tenant: &Tenant,
) -> Result<(Option<String>, String, bool)> {
    let query = Query::partition(tenant.pk()).prefix(resource_prefix(super::channels::KIND));
    let channels: Vec<crate::domain::channel::Channel> =
        query_all_as(app.table.as_ref(), query).await?;
    let voice = |c: &&crate::domain::channel::Channel| c.kind != ChannelType::Web;
    let sim = channels
        .iter()
        .filter(voice)
        .find(|c| c.kind == ChannelType::Sim);
    let telephony = channels
        .iter()
        .filter(voice)
        .find(|c| c.kind != ChannelType::Sim);
    let from = |c: &crate::domain::channel::Channel| {
        c.phone_numbers
            .first()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_else(|| SIM_CALLER_ID.to_owned())
    };
    Ok(match (tenant.mode, sim, telephony) {
        (Mode::Live, None, Some(t)) => (Some(t.id.clone()), from(t), false),
        (_, Some(s), _) => (Some(s.id.clone()), from(s), true),
        _ => (None, SIM_CALLER_ID.to_owned(), true),
    })
}

/// Moves task `task_id` from `pending` to `in_progress` and creates its call,
/// in one conditional write, then hands the call to a runner. A request that
/// loses a race for the same task gets a 409, so exactly one call starts.
pub async fn start_task_call(app: &App, tenant: &Tenant, task_id: &str) -> Result<String> {
    let call_id = place_task_call(app, tenant, task_id).await?;
    if let Err(e) = runner::enqueue(app, tenant, &call_id).await {
        // Never leave a call nobody will run: it fails now, its task with it.
        tracing::error!(call = %call_id, error = %e, "could not hand the call to a runner");
        finish(app, tenant, &call_id, None, |c, at| {
            c.end(EndReason::Error, at)
        })
        .await?;
        return Err(Error::Unavailable(
            "the call could not be handed to a call runner; try again".into(),
        ));
    }
    Ok(call_id)
}

/// [`start_task_call`] without the hand-over: the caller runs the call.
pub(crate) async fn place_task_call(app: &App, tenant: &Tenant, task_id: &str) -> Result<String> {
    let (current, version) = super::tasks::load(app, tenant, task_id).await?;
    let call_id = app.new_id();
    let mut task = current.clone();
    task.start(&call_id)?;
    let (agent, _) = super::agents::load(app, tenant, &task.agent_id).await?;
    if !agent.enabled {
        return Err(Error::Conflict(
            "the task's agent is disabled; enable it to place calls".into(),
        ));
    }
    let (channel_id, from, simulated) = pick_line(app, tenant).await?;
    let now = app.now_rfc3339();
    task.updated_at = now.clone();
    let call = Call {
        task_id: Some(task.id.clone()),
        channel_id,
        context: task.context_data.clone(),
        starting_message: task.starting_message.clone(),
        ..Call::placed(
            call_id.clone(),
            Direction::Outbound,
            task.agent_id.clone(),
            from,
            task.to_number.as_str().to_owned(),
            simulated,
            now,
        )
    };
    let mut writes = vec![
        Write::Put(
            super::tasks::item(tenant, &task),
            Condition::VersionEquals(version),
        ),
        Write::Put(item(tenant, &call), Condition::MustNotExist),
        Write::Put(lease::queued(app, tenant, &call), Condition::MustNotExist),
    ];
    writes.extend(super::tasks::due_writes(
        tenant,
        Some(&current),
        Some(&task),
    ));
    match app.table.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(Error::Conflict(
                "the task is no longer pending: another request executed or changed it".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(call_id)
}

/// Ends call `id` with `end` (a state-machine step) unless it already ended,
/// removes its lease (only if still at `lease_version`, when given: a sweep
/// must not end a call whose runner just renewed) and emits `call.completed`
/// or `call.failed`. Returns the ended call, or `None` when it had ended
/// before (someone else's ending won).
pub(crate) async fn finish(
    app: &App,
    tenant: &Tenant,
    id: &str,
    lease_version: Option<u64>,
    end: impl Fn(&mut Call, String) -> Result<()>,
) -> Result<Option<Call>> {
    for _ in 0..8 {
        let (mut call, version) = load(app, tenant, id).await?;
        if call.status.is_final() {
            return Ok(None);
        }
        let now = app.now_rfc3339();
        end(&mut call, now.clone())?;
        call.updated_at = now;
        let writes = vec![
            Write::Put(item(tenant, &call), Condition::VersionEquals(version)),
            Write::Delete {
                pk: CALL_LEASES_PK.into(),
                sk: call_lease_sk(tenant, id),
                condition: lease_version.map_or(Condition::None, Condition::VersionEquals),
            },
        ];
        match app.table.transact(writes).await {
            Ok(()) => {
                // A runner of this process stops talking at once.
                runner::signal_stop(id);
                runner::forget(id);
                // Viewers here see the end, then the call's channel goes.
                let ended = LiveEvent::Status {
                    status: call.status,
                    end_reason: call.end_reason,
                };
                hub::publish(id, ended);
                hub::close(id);
                let event = if call.status == CallStatus::Completed {
                    "call.completed"
                } else {
                    "call.failed"
                };
                let data = serde_json::to_value(CallView::new(call.clone(), None))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                super::events::emit(app, tenant, event, data).await?;
                return Ok(Some(call));
            }
            Err(StoreError::ConditionFailed) if lease_version.is_some() => return Ok(None),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "the call kept changing while it was being ended; retry".into(),
    ))
}

/// The transcript as stored: the final one once the post-call job wrote it,
/// else the entries written so far.
pub async fn full_transcript_of(
    app: &App,
    tenant: &Tenant,
    call: &Call,
) -> Result<Vec<TranscriptEntry>> {
    match &call.transcript {
        Some(t) => Ok(t.clone()),
        None => stored_entries(app, tenant, &call.id).await,
    }
}

/// The transcript as the call's views show it: whispers keep their place but
/// not their words, which only the live space reads
/// ([`TranscriptEntry::redacted`]).
pub async fn transcript_of(
    app: &App,
    tenant: &Tenant,
    call: &Call,
) -> Result<Vec<TranscriptEntry>> {
    let entries = full_transcript_of(app, tenant, call).await?;
    Ok(entries.into_iter().map(TranscriptEntry::redacted).collect())
}

/// Every transcript entry stored for a call, in order.
pub async fn stored_entries(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
) -> Result<Vec<TranscriptEntry>> {
    super::live::follow::entries_after(app, tenant, call_id, 0).await
}

/// Filters of `GET /calls`.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Only calls in this status.
    pub status: Option<CallStatus>,
    /// Only calls this way.
    pub direction: Option<Direction>,
    /// Only this agent's calls.
    pub agent_id: Option<String>,
    /// Only this task's calls.
    pub task_id: Option<String>,
    /// Only this campaign's calls.
    pub campaign_id: Option<String>,
    /// Started at or after (RFC 3339, UTC, milliseconds).
    pub from: Option<String>,
    /// Started at or before.
    pub to: Option<String>,
}

/// The smallest (`fill` = `0`) or largest (`f`) UUIDv7 of millisecond `ms`.
fn id_bound(ms: i64, fill: char) -> String {
    let hex = format!("{:012x}", ms.max(0));
    let tail: String = std::iter::repeat_n(fill, 4).collect();
    let last: String = std::iter::repeat_n(fill, 12).collect();
    format!("{}-{}-{tail}-{tail}-{last}", &hex[..8], &hex[8..12])
}

/// `GET /calls`, newest first. A task or agent filter reads that index; a
/// date range reads that key range; the other filters are applied while
/// paging.
pub async fn list(
    app: &App,
    caller: &Caller,
    f: &CallFilter,
    req: &PageRequest,
) -> Result<PageOf<CallView>> {
    let tenant = &caller.tenant;
    for (field, id) in [
        ("agent_id", &f.agent_id),
        ("task_id", &f.task_id),
        ("campaign_id", &f.campaign_id),
    ] {
        if id.as_deref().is_some_and(|id| !crate::domain::is_id(id)) {
            return Err(Error::field(field, "must be an id"));
        }
    }
    let query = if let Some(task) = &f.task_id {
        Query::partition(task_calls(tenant, task)).on(Index::Gsi1)
    } else if let Some(agent) = &f.agent_id {
        let prefix = match f.status {
            Some(s) => format!("{KIND}#{}#", s.as_str()),
            None => format!("{KIND}#"),
        };
        Query::partition(super::agents::agent_refs(tenant, agent))
            .on(Index::Gsi2)
            .prefix(prefix)
    } else {
        let ms = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
        };
        // Ids are UUIDv7: a second of slack either side covers clock skew
        // between the id and `started_at`, which the filter checks exactly.
        let lo = ms(&f.from).map(|m| resource_sk(KIND, &id_bound(m - 1_000, '0')));
        let hi = ms(&f.to).map(|m| resource_sk(KIND, &id_bound(m + 1_000, 'f')));
        let sk = match (lo, hi) {
            (None, None) => SortKey::Prefix(resource_prefix(KIND)),
            (Some(lo), None) => SortKey::Between(lo, format!("{KIND}#~")),
            (None, Some(hi)) => SortKey::Between(resource_prefix(KIND), hi),
            (Some(lo), Some(hi)) => SortKey::Between(lo, hi),
        };
        Query::partition(tenant.pk()).sort_key(sk)
    }
    .backward();
    let keep = |i: &Item| {
        let s = |k: &str| i.data.get(k).and_then(Value::as_str);
        let status_ok = f.status.is_none_or(|st| s("status") == Some(st.as_str()));
        let direction_ok = f.direction.is_none_or(|d| {
            serde_json::to_value(d)
                .ok()
                .as_ref()
                .and_then(Value::as_str)
                == s("direction")
        });
        let agent_ok = f
            .agent_id
            .as_deref()
            .is_none_or(|a| s("agent_id") == Some(a));
        let campaign_ok = f
            .campaign_id
            .as_deref()
            .is_none_or(|c| s("campaign_id") == Some(c));
        let started = s("started_at").unwrap_or("");
        let from_ok = f.from.as_deref().is_none_or(|from| started >= from);
        let to_ok = f.to.as_deref().is_none_or(|to| started <= to);
        status_ok && direction_ok && agent_ok && campaign_ok && from_ok && to_ok
    };
    let out = page(app.table.as_ref(), query, req, keep).await?;
    let mut calls = Vec::with_capacity(out.items.len());
    for i in &out.items {
        calls.push(CallView::new(i.parse::<Call>()?, None));
    }
    Ok(PageOf {
        items: calls,
        next_cursor: out.next_cursor,
        total: None,
        limit: out.limit,
        offset: out.offset,
    })
}

/// `GET /calls/{id}`: with transcript, report and metrics.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<CallView> {
    let (call, _) = load(app, &caller.tenant, id).await?;
    let transcript = transcript_of(app, &caller.tenant, &call).await?;
    Ok(CallView::new(call, Some(transcript)))
}

/// `GET /calls/{id}/transcript`.
pub async fn transcript(app: &App, caller: &Caller, id: &str) -> Result<TranscriptView> {
    let (call, _) = load(app, &caller.tenant, id).await?;
    let transcript = transcript_of(app, &caller.tenant, &call).await?;
    Ok(TranscriptView {
        call_id: call.id,
        status: call.status,
        transcript,
    })
}

/// `POST /calls/{id}/transcript`: rebuilds the transcript, the extracted data
/// and the report from the stored call events (ended calls only).
pub async fn reprocess(app: &App, caller: &Caller, id: &str) -> Result<ProcessedTranscriptView> {
    let (call, _) = load(app, &caller.tenant, id).await?;
    if !call.status.is_final() {
        return Err(Error::Conflict(
            "the call is still live; its transcript is processed when it ends".into(),
        ));
    }
    let call = post_call::write_record(app, &caller.tenant, id, true).await?;
    let report = call
        .report
        .clone()
        .ok_or_else(|| Error::Internal("report not written".into()))?;
    Ok(ProcessedTranscriptView {
        call_id: call.id,
        transcript: call
            .transcript
            .unwrap_or_default()
            .into_iter()
            .map(TranscriptEntry::redacted)
            .collect(),
        extracted_data: report.extracted_data.clone(),
        report,
    })
}

/// `GET /calls/{id}/report`: the stored report, written now if it is missing.
pub async fn report(app: &App, caller: &Caller, id: &str) -> Result<Report> {
    let (call, _) = load(app, &caller.tenant, id).await?;
    if let Some(report) = call.report {
        return Ok(report);
    }
    if !call.status.is_final() {
        return Err(Error::Conflict(
            "the call is still live; its report is written when it ends".into(),
        ));
    }
    let call = post_call::write_record(app, &caller.tenant, id, false).await?;
    call.report
        .ok_or_else(|| Error::Internal("report not written".into()))
}

/// Ends a live call through the API: `end` hangs up (`completed`,
/// `ended_by_user`; a call not yet answered fails as `cancelled`), `cancel`
/// marks it `failed`. A call that already ended is a 409.
pub async fn stop(app: &App, caller: &Caller, id: &str, cancel: bool) -> Result<CallView> {
    let tenant = &caller.tenant;
    let (call, _) = load(app, tenant, id).await?;
    if call.status.is_final() {
        return Err(Error::Conflict(format!(
            "the call already ended ({})",
            call.status.as_str()
        )));
    }
    // Who holds the call, read before the end removes the lease.
    let holder = lease::read(app, tenant, id).await?.map(|(lease, _)| lease);
    let ended = finish(app, tenant, id, None, |c, at| {
        if cancel {
            c.transition(CallStatus::Failed)?;
            c.end_reason = Some(EndReason::Cancelled);
            c.ended_at = Some(at);
            Ok(())
        } else if c.status == CallStatus::Initiated {
            c.end(EndReason::Cancelled, at)
        } else {
            c.end(EndReason::EndedByUser, at)
        }
    })
    .await?;
    let Some(call) = ended else {
        return Err(Error::Conflict("the call already ended".into()));
    };
    if let Some(holder) = holder {
        super::live::control::stop_holder(app, tenant, id, &holder).await;
    }
    let transcript = transcript_of(app, tenant, &call).await?;
    Ok(CallView::new(call, Some(transcript)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_bounds_bracket_the_uuids_of_their_millisecond() {
        let ms = 1_733_300_000_123_i64;
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            (ms / 1000) as u64,
            ((ms % 1000) * 1_000_000) as u32,
        ))
        .to_string();
        assert!(id_bound(ms, '0') <= id && id <= id_bound(ms, 'f'), "{id}");
        assert!(id_bound(ms + 1, '0') > id);
        assert!(id_bound(ms - 1, 'f') < id);
    }
}
