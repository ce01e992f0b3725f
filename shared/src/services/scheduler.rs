//! The scheduler tick (an EventBridge-scheduled function in AWS, a loop in the
//! local binary): executes the tasks that are due, ends the calls whose
//! runner was lost, restarts campaign dialers whose tick chain broke and
//! deletes the call recordings whose retention ended.

use serde::Deserialize;
use serde_json::Value;

use super::table_keys::TASKS_DUE_PK;
use crate::App;
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};
use crate::store::{Condition, Query, SortKey};

/// Most due tasks one tick starts (the next tick takes the rest).
pub const MAX_PER_TICK: usize = 100;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// Calls started for due tasks.
    pub started: Vec<String>,
    /// Calls ended as `runner_lost`.
    pub lost: usize,
    /// Campaign dialers whose tick chain was restarted.
    pub campaigns_restarted: usize,
    /// Call recordings deleted because their retention ended.
    pub recordings_expired: usize,
}

#[derive(Deserialize)]
struct Due {
    org_id: String,
    mode: Mode,
    task_id: String,
}

/// Runs one tick. Two ticks at once never start a task twice: each start is
/// the task's conditional move out of `pending` ([`super::calls::start_task_call`]).
pub async fn tick(app: &App) -> Result<TickReport> {
    let now = app.now_rfc3339();
    // Due markers sort by `scheduled_at`; `~` sorts after every id character.
    let query = Query::partition(TASKS_DUE_PK)
        .sort_key(SortKey::To(format!("{now}#~")))
        .limit(MAX_PER_TICK);
    let page = app.table.query(query).await?;
    let mut report = TickReport::default();
    for item in page.items {
        let Ok(due) = serde_json::from_value::<Due>(item.data.clone()) else {
            tracing::error!(sk = %item.sk, "unreadable due marker dropped");
            let _ = app.table.delete(&item.pk, &item.sk, Condition::None).await;
            continue;
        };
        let tenant = Tenant {
            org_id: due.org_id,
            mode: due.mode,
        };
        match super::calls::start_task_call(app, &tenant, &due.task_id).await {
            Ok(call_id) => report.started.push(call_id),
            // Another tick (or an execute request) won, or the task is gone.
            Err(Error::Conflict(_)) | Err(Error::NotFound(_)) => {
                let still_pending = super::tasks::load(app, &tenant, &due.task_id)
                    .await
                    .is_ok_and(|(t, _)| t.status == crate::domain::task::TaskStatus::Pending);
                if !still_pending {
                    let _ = app.table.delete(&item.pk, &item.sk, Condition::None).await;
                }
            }
            Err(e) => tracing::warn!(task = %due.task_id, error = %e, "starting a due task failed"),
        }
    }
    report.lost = super::calls::lease::sweep(app).await?;
    report.campaigns_restarted = super::campaigns::dialer::restart_stalled(app).await?;
    report.recordings_expired = super::calls::recording::sweep_expired(app).await?;
    Ok(report)
}

/// The tick as the scheduler function runs it: the EventBridge event's
/// content does not matter.
pub async fn on_schedule(app: &App, _event: Value) -> Result<Value> {
    let r = tick(app).await?;
    Ok(serde_json::json!({"started": r.started.len(), "lost": r.lost}))
}
