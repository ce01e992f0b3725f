//! The post-call job, run by the events worker for `call.started`,
//! `call.completed` and `call.failed`: the final transcript and the report on
//! the call, the task's status, the analytics counters and the task webhook.
//!
//! Idempotent: rewriting the transcript and report gives the same call, the
//! task moves only from `in_progress`, and the counters and the webhook are
//! each claimed once per event id, so a redelivered event changes nothing
//! twice.

use std::time::Duration;

use serde_json::{Value, json};

use super::super::events::Event;
use super::super::table_keys::*;
use crate::App;
use crate::domain::Tenant;
use crate::domain::agent::{Agent, AgentSpec};
use crate::domain::call::{Call, CallStatus};
use crate::domain::input::from_json;
use crate::domain::task::{TaskEvent, TaskStatus};
use crate::engine::report::{Report, analyse_offline};
use crate::error::{Error, Result};
use crate::services::webhooks;
use crate::store::{Condition, Item, StoreError, Write};

/// How long the once-per-event markers are kept (longer than any queue
/// keeps a message).
const MARKER_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// Handles one call event (other event types are not this job's).
pub async fn post_call(app: &App, event: &Event) -> Result<()> {
    let task_event = match event.event_type.as_str() {
        "call.started" => TaskEvent::CallStarted,
        "call.completed" => TaskEvent::CallCompleted,
        "call.failed" => TaskEvent::CallFailed,
        _ => return Ok(()),
    };
    let tenant = event.tenant();
    let Some(call_id) = event.subject_id() else {
        tracing::error!(event = %event.id, "call event without a call id");
        return Ok(());
    };
    let call = match task_event {
        TaskEvent::CallStarted => match super::load(app, &tenant, call_id).await {
            Ok((call, _)) => call,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        },
        _ => {
            let call = match write_record(app, &tenant, call_id, false).await {
                Ok(call) => call,
                Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            finish_task(app, &tenant, &call).await?;
            count(app, &tenant, event, &call).await?;
            crate::services::contacts::after_call(app, &tenant, &call).await?;
            call
        }
    };
    crate::services::campaigns::after_call(app, &tenant, &call).await?;
    notify_task(app, &tenant, event, task_event, &call).await
}

/// The post-call job's record keeping for one ended call, done now: its
/// transcript and report, its task's status. (Counters and webhooks stay
/// with the events, which still arrive.)
pub(crate) async fn settle(app: &App, tenant: &Tenant, call_id: &str) -> Result<()> {
    let call = write_record(app, tenant, call_id, false).await?;
    finish_task(app, tenant, &call).await
}

/// Writes the final transcript (from the stored entries) and the report onto
/// an ended call, unless they are there already (`rebuild` rewrites them).
pub(crate) async fn write_record(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
    rebuild: bool,
) -> Result<Call> {
    for _ in 0..8 {
        let (mut call, version) = super::load(app, tenant, call_id).await?;
        if !call.status.is_final()
            || (!rebuild && call.transcript.is_some() && call.report.is_some())
        {
            return Ok(call);
        }
        let transcript = super::stored_entries(app, tenant, call_id).await?;
        let agent = agent_of(app, tenant, &call).await?;
        let report = analyse(app, tenant, &agent, &call, transcript.clone()).await;
        call.transcript = Some(transcript);
        call.report = Some(report);
        match app
            .table
            .put(
                super::item(tenant, &call),
                Condition::VersionEquals(version),
            )
            .await
        {
            Ok(_) => return Ok(call),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "the call kept changing while its report was written; retry".into(),
    ))
}

/// The report: written by the agent's model when it has one (never in test
/// mode), by the offline analyser otherwise or when the model fails.
async fn analyse(
    app: &App,
    tenant: &Tenant,
    agent: &Agent,
    call: &Call,
    transcript: Vec<crate::engine::call::TranscriptEntry>,
) -> Report {
    let outcome = call.outcome(transcript);
    if let Ok(Some(model)) =
        crate::engine::llm::resolve::model_for(app, tenant, &agent.llm_model).await
    {
        match crate::engine::report::analyse_with_model(model.as_ref(), agent, &outcome).await {
            Ok(report) => return report,
            Err(e) => tracing::warn!(call = %call.id, error = %e,
                "the model could not write the report; the offline analyser did"),
        }
    }
    analyse_offline(agent, &outcome)
}

/// The call's agent; a deleted agent leaves a report without extraction.
async fn agent_of(app: &App, tenant: &Tenant, call: &Call) -> Result<Agent> {
    match super::super::agents::load(app, tenant, &call.agent_id).await {
        Ok((agent, _)) => Ok(agent),
        Err(Error::NotFound(_)) => {
            let body = json!({"name": "Deleted agent", "system_prompt": "-"});
            let spec = AgentSpec::parse(from_json(body)?)?;
            let now = app.now_rfc3339();
            Ok(spec.into_agent(call.agent_id.clone(), now.clone(), now))
        }
        Err(e) => Err(e),
    }
}

/// The task follows its call: `completed` or `failed` (only from
/// `in_progress`, and only for the task's current call).
async fn finish_task(app: &App, tenant: &Tenant, call: &Call) -> Result<()> {
    let Some(task_id) = &call.task_id else {
        return Ok(());
    };
    for _ in 0..8 {
        let (current, version) = match super::super::tasks::load(app, tenant, task_id).await {
            Ok(t) => t,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if current.status != TaskStatus::InProgress || current.call_id.as_deref() != Some(&call.id)
        {
            return Ok(());
        }
        let mut task = current.clone();
        task.finish(call.status == CallStatus::Completed)?;
        task.updated_at = app.now_rfc3339();
        let write = Write::Put(
            super::super::tasks::item(tenant, &task),
            Condition::VersionEquals(version),
        );
        match app.table.transact(vec![write]).await {
            Ok(()) => return Ok(()),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the task kept changing; retry".into()))
}

/// A once-per-event marker item.
fn marker(app: &App, tenant: &Tenant, event: &Event, step: &str) -> Item {
    Item::new(
        tenant.pk(),
        post_call_sk(&event.id, step),
        json!({"at": app.now_rfc3339()}),
    )
    .with_ttl(app.now().timestamp() + MARKER_TTL.as_secs() as i64)
}

/// The names a call is counted under, per scope (the org, its agent).
pub fn counter_names(call: &Call) -> Vec<String> {
    let outcome = call
        .report
        .as_ref()
        .and_then(|r| serde_json::to_value(r.outcome).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let mut names = Vec::new();
    for scope in ["ALL".to_owned(), format!("AGENT#{}", call.agent_id)] {
        names.push(format!("{scope}#calls"));
        names.push(format!("{scope}#status#{}", call.status.as_str()));
        names.push(format!("{scope}#outcome#{outcome}"));
    }
    names
}

/// Adds the ended call to its day's counters, once per event: the marker and
/// the increments are one transaction.
async fn count(app: &App, tenant: &Tenant, event: &Event, call: &Call) -> Result<()> {
    let day = call.started_at.get(..10).unwrap_or("unknown").to_owned();
    let pk = stats_pk(tenant, &day);
    let mut writes = vec![Write::Put(
        marker(app, tenant, event, "count"),
        Condition::MustNotExist,
    )];
    for name in counter_names(call) {
        writes.push(Write::Add {
            pk: pk.clone(),
            sk: name,
            delta: 1,
        });
    }
    writes.push(Write::Add {
        pk: pk.clone(),
        sk: "ALL#duration_seconds".into(),
        delta: call.duration_seconds.unwrap_or(0) as i64,
    });
    match app.table.transact(writes).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reads one analytics counter of a tenant's day (`ALL#status#completed`,
/// `AGENT#<id>#outcome#interested`, …).
pub async fn counter(app: &App, tenant: &Tenant, day: &str, name: &str) -> Result<i64> {
    Ok(app.table.counter(&stats_pk(tenant, day), name).await?)
}

/// Sends the task webhook for `which` when the task subscribed to it, once
/// per event.
async fn notify_task(
    app: &App,
    tenant: &Tenant,
    event: &Event,
    which: TaskEvent,
    call: &Call,
) -> Result<()> {
    let Some(task_id) = &call.task_id else {
        return Ok(());
    };
    let task = match super::super::tasks::load(app, tenant, task_id).await {
        Ok((t, _)) => t,
        Err(Error::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let Some(url) = task.wants(which) else {
        return Ok(());
    };
    let claim = marker(app, tenant, event, "webhook");
    match app.table.put(claim, Condition::MustNotExist).await {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let body = task_payload(which, &task.id, call);
    if let Err(e) = webhooks::enqueue_task_delivery(app, tenant, url, body).await {
        // Let the redelivered event try again.
        let _ = app
            .table
            .delete(
                &tenant.pk(),
                &post_call_sk(&event.id, "webhook"),
                Condition::None,
            )
            .await;
        return Err(e);
    }
    Ok(())
}

/// Most characters of each excerpt in a task webhook.
const EXCERPT_CHARS: usize = 500;

fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// The seed's task webhook payload.
pub fn task_payload(which: TaskEvent, task_id: &str, call: &Call) -> Value {
    let transcript = call
        .transcript
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let e = e.clone().redacted();
            let role = serde_json::to_value(e.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{role}: {}", e.text)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let report = call
        .report
        .as_ref()
        .map(|r| r.summary.as_str())
        .unwrap_or("");
    json!({
        "event_type": which.as_str(),
        "task_id": task_id,
        "call_id": call.id,
        "status": call.status.as_str(),
        "data": {
            "transcript_excerpt": excerpt(&transcript),
            "report_excerpt": excerpt(report),
        }
    })
}
