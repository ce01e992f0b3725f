//! Tasks (SPEC §8): single outbound calls, executed on request or when due.
//!
//! Storage: the task at `<tenant>` / `TASK#<id>`; in GSI1 under its status
//! ordered by priority (so pending tasks list highest first); in GSI2 under its
//! agent (so an agent with pending work cannot be deleted); and, while it is
//! pending with a `scheduled_at`, a due marker in the installation-wide
//! [`TASKS_DUE_PK`] partition the scheduler tick reads.

use serde_json::json;

use super::caller::Caller;
use super::page::{PageOf, PageRequest, page};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource};
use super::table_keys::*;
use super::views::{DeletedView, ExecuteView, TaskView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::task::{Task, TaskCreate, TaskPatch, TaskSpec, TaskStatus};
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, StoreError, StoreResult, Write};

/// Resource kind in sort keys.
pub const KIND: &str = "TASK";

/// The task's item with its index entries.
pub(crate) fn item(tenant: &Tenant, task: &Task) -> Item {
    let status = task.status.as_str();
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &task.id),
        serde_json::to_value(task).unwrap_or_default(),
    )
    .with_gsi1(
        tasks_by_status(tenant, status),
        priority_key(task.priority, &task.id),
    )
    .with_gsi2(
        super::agents::agent_refs(tenant, &task.agent_id),
        format!("{KIND}#{status}#{}", task.id),
    )
}

/// The due marker of a pending scheduled task.
fn due_marker(tenant: &Tenant, task: &Task) -> Option<Item> {
    let at = task.scheduled_at.as_deref()?;
    (task.status == TaskStatus::Pending).then(|| {
        Item::new(
            TASKS_DUE_PK,
            task_due_sk(at, tenant, &task.id),
            json!({"org_id": tenant.org_id, "mode": tenant.mode, "task_id": task.id}),
        )
    })
}

/// The writes that keep the due marker in step when `before` becomes `after`.
pub(crate) fn due_writes(
    tenant: &Tenant,
    before: Option<&Task>,
    after: Option<&Task>,
) -> Vec<Write> {
    let old = before.and_then(|t| due_marker(tenant, t));
    let new = after.and_then(|t| due_marker(tenant, t));
    let mut writes = Vec::new();
    if let Some(old) = &old
        && new.as_ref().is_none_or(|n| n.sk != old.sk)
    {
        writes.push(Write::Delete {
            pk: old.pk.clone(),
            sk: old.sk.clone(),
            condition: Condition::None,
        });
    }
    if let Some(new) = new
        && old.as_ref().is_none_or(|o| o.sk != new.sk)
    {
        writes.push(Write::Put(new, Condition::None));
    }
    writes
}

/// Reads a task of the tenant with its version; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Task, u64)> {
    load_resource(app, tenant, KIND, "task", id).await
}

/// `http://` webhook URLs reach loopback only where deliveries may (a
/// development server that lets outbound requests reach private addresses).
fn loopback_http(app: &App) -> bool {
    app.config.outbound_allow_private || !app.config.outbound_allow.trim().is_empty()
}

async fn check_agent(app: &App, tenant: &Tenant, spec: &TaskSpec) -> Result<()> {
    match super::agents::load(app, tenant, spec.agent_id()).await {
        Ok(_) => Ok(()),
        Err(Error::NotFound(_)) => Err(Error::field("agent_id", "no agent with this id exists")),
        Err(e) => Err(e),
    }
}

/// `GET /tasks?agent_id=&status=&limit=&offset=&cursor=`: by status in
/// priority order (highest first), else newest first; the total only when
/// unfiltered.
pub async fn list(
    app: &App,
    caller: &Caller,
    agent_id: Option<&str>,
    status: Option<TaskStatus>,
    req: &PageRequest,
) -> Result<PageOf<TaskView>> {
    let tenant = &caller.tenant;
    let query = match (agent_id, status) {
        (Some(agent), _) => {
            if !crate::domain::is_id(agent) {
                return Err(Error::field("agent_id", "must be an agent id"));
            }
            let prefix = match status {
                Some(s) => format!("{KIND}#{}#", s.as_str()),
                None => format!("{KIND}#"),
            };
            Query::partition(super::agents::agent_refs(tenant, agent))
                .on(Index::Gsi2)
                .prefix(prefix)
                .backward()
        }
        (None, Some(s)) => Query::partition(tasks_by_status(tenant, s.as_str())).on(Index::Gsi1),
        // Unfiltered, the page carries the total.
        (None, None) => {
            return list_counted::<Task, _>(app, tenant, KIND, None, req, TaskView::from).await;
        }
    };
    page(app.table.as_ref(), query, req, |_| true)
        .await?
        .parsed::<Task, _>(TaskView::from)
}

/// Creates a task in a tenant.
pub async fn insert(app: &App, tenant: &Tenant, body: TaskCreate) -> Result<Task> {
    let spec = TaskSpec::parse(body.0, loopback_http(app))?;
    check_agent(app, tenant, &spec).await?;
    let now = app.now_rfc3339();
    let task = spec.into_task(app.new_id(), now.clone(), now);
    let due = due_writes(tenant, None, Some(&task));
    insert_counted(app, tenant, KIND, item(tenant, &task), due).await?;
    Ok(task)
}

/// `POST /tasks`.
pub async fn create(app: &App, caller: &Caller, body: TaskCreate) -> Result<TaskView> {
    Ok(insert(app, &caller.tenant, body).await?.into())
}

/// `GET /tasks/{id}`, with its agent.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<TaskView> {
    let (task, _) = load(app, &caller.tenant, id).await?;
    let agent = match super::agents::load(app, &caller.tenant, &task.agent_id).await {
        Ok((a, _)) => Some(a.into()),
        Err(Error::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let mut view = TaskView::from(task);
    view.agent = agent;
    Ok(view)
}

/// `PATCH /tasks/{id}`: pending tasks only (409 otherwise); the fields sent
/// change, the result is validated as a whole.
pub async fn update(app: &App, caller: &Caller, id: &str, patch: TaskPatch) -> Result<TaskView> {
    let tenant = &caller.tenant;
    let (current, version) = load(app, tenant, id).await?;
    current.check_editable()?;
    let spec = TaskSpec::parse(current.patched(patch), loopback_http(app))?;
    check_agent(app, tenant, &spec).await?;
    let mut updated = spec.into_task(
        current.id.clone(),
        current.created_at.clone(),
        app.now_rfc3339(),
    );
    updated.call_id = current.call_id.clone();
    let mut writes = vec![Write::Put(
        item(tenant, &updated),
        Condition::VersionEquals(version),
    )];
    writes.extend(due_writes(tenant, Some(&current), Some(&updated)));
    transact_or_state(app, tenant, id, writes).await?;
    Ok(updated.into())
}

/// `DELETE /tasks/{id}`: pending or failed tasks only.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    let tenant = &caller.tenant;
    let (task, version) = load(app, tenant, id).await?;
    task.check_deletable()?;
    let due = due_writes(tenant, Some(&task), None);
    let deleted = delete_counted(app, tenant, KIND, id, version, due).await;
    or_state(app, tenant, id, deleted).await?;
    Ok(DeletedView::of(id))
}

/// `POST /tasks/{id}/reset`: anything but pending → pending.
pub async fn reset(app: &App, caller: &Caller, id: &str) -> Result<TaskView> {
    let tenant = &caller.tenant;
    let (current, version) = load(app, tenant, id).await?;
    let mut task = current.clone();
    task.reset()?;
    task.updated_at = app.now_rfc3339();
    let mut writes = vec![Write::Put(
        item(tenant, &task),
        Condition::VersionEquals(version),
    )];
    writes.extend(due_writes(tenant, Some(&current), Some(&task)));
    transact_or_state(app, tenant, id, writes).await?;
    Ok(task.into())
}

/// `POST /tasks/{id}/execute`: places the task's call. Exactly one call
/// starts however many requests race: the task's move to `in_progress` and
/// the call's creation are one conditional write on the task's version.
pub async fn execute(app: &App, caller: &Caller, id: &str) -> Result<ExecuteView> {
    let call_id = super::calls::start_task_call(app, &caller.tenant, id).await?;
    Ok(ExecuteView {
        call_id,
        message: "Call initiated".into(),
    })
}

/// Applies `writes`; when the task changed meanwhile, a 409 that says what
/// it is now.
pub(crate) async fn transact_or_state(
    app: &App,
    tenant: &Tenant,
    id: &str,
    writes: Vec<Write>,
) -> Result<()> {
    or_state(app, tenant, id, app.table.transact(writes).await).await
}

/// `written`, the outcome of a write conditional on the task's version; when
/// the task changed meanwhile, a 409 that says what it is now.
async fn or_state(app: &App, tenant: &Tenant, id: &str, written: StoreResult<()>) -> Result<()> {
    match written {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => {
            let (now, _) = load(app, tenant, id).await?;
            Err(Error::Conflict(format!(
                "the task changed while this request ran (it is now {}); retry",
                now.status.as_str()
            )))
        }
        Err(e) => Err(e.into()),
    }
}
