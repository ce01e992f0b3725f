//! Automations (SPEC §12, admin only): the `/automations` routes' use cases
//! and the run log. Running them on events is [`run`]'s.
//!
//! An automation is one tenant resource item (`AUTOMATION#<id>`, counted);
//! its runs are items `AUTORUN#<automation>#<run>` that expire after
//! [`run::RETENTION_SECS`].

mod run;

pub use run::on_event;

use super::caller::Caller;
use super::page::{PageOf, PageRequest, page};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource};
use super::table_keys::*;
use super::views::{AutomationRunView, AutomationView, DeletedView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::automation::{
    Action, Automation, AutomationInput, AutomationPatch, AutomationSpec, MAX_AUTOMATIONS, Run,
};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Query, StoreError};

/// Resource kind in sort keys.
pub const KIND: &str = "AUTOMATION";

fn item(tenant: &Tenant, a: &Automation) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &a.id),
        serde_json::to_value(a).unwrap_or_default(),
    )
}

/// Reads an automation of the tenant; anything else is 404.
async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Automation, u64)> {
    load_resource(app, tenant, KIND, "automation", id).await
}

/// Checks a body and that each `assign` action's user is in the org (422
/// naming the action otherwise).
async fn checked(app: &App, caller: &Caller, body: AutomationPatch) -> Result<AutomationSpec> {
    let spec = AutomationSpec::parse(body, &app.net)?;
    for (i, action) in spec.actions.iter().enumerate() {
        if let Action::Assign {
            user_id: Some(user),
            ..
        } = action
            && !super::conversations::is_member(app, caller.org_id(), user).await?
        {
            return Err(Error::field(
                format!("actions[{i}].user_id"),
                "is not a user of this organization",
            ));
        }
    }
    Ok(spec)
}

/// `GET /automations` (admin): newest first.
pub async fn list(app: &App, caller: &Caller, req: &PageRequest) -> Result<PageOf<AutomationView>> {
    caller.require_admin()?;
    list_counted(app, &caller.tenant, KIND, None, req, |a: Automation| {
        AutomationView::from(a)
    })
    .await
}

/// `POST /automations` (admin).
pub async fn create(app: &App, caller: &Caller, body: AutomationInput) -> Result<AutomationView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let spec = checked(app, caller, body.0).await?;
    if app.table.counter(&tenant.pk(), &count_sk(KIND)).await? >= MAX_AUTOMATIONS {
        return Err(Error::Conflict(format!(
            "an organization can have at most {MAX_AUTOMATIONS} automations; delete one first"
        )));
    }
    let now = app.now_rfc3339();
    let a = Automation {
        id: app.new_id(),
        name: spec.name,
        active: spec.active,
        trigger: spec.trigger,
        actions: spec.actions,
        created_at: now.clone(),
        updated_at: now,
    };
    insert_counted(app, tenant, KIND, item(tenant, &a), vec![]).await?;
    Ok(a.into())
}

/// `GET /automations/{id}` (admin).
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<AutomationView> {
    caller.require_admin()?;
    Ok(load(app, &caller.tenant, id).await?.0.into())
}

/// Stores `new` over the automation read at `version`; 409 when it changed
/// meanwhile.
async fn store(app: &App, tenant: &Tenant, new: &Automation, version: u64) -> Result<()> {
    match app
        .table
        .put(item(tenant, new), Condition::VersionEquals(version))
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(Error::Conflict(
            "the automation was changed meanwhile; read it and retry".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `PATCH /automations/{id}` (admin): the fields sent replace the stored
/// ones, and the result is checked as a whole.
pub async fn update(
    app: &App,
    caller: &Caller,
    id: &str,
    body: AutomationPatch,
) -> Result<AutomationView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (old, version) = load(app, tenant, id).await?;
    let spec = checked(app, caller, old.patched(body)).await?;
    let new = Automation {
        name: spec.name,
        active: spec.active,
        trigger: spec.trigger,
        actions: spec.actions,
        updated_at: app.now_rfc3339(),
        ..old
    };
    store(app, tenant, &new, version).await?;
    Ok(new.into())
}

/// `POST /automations/{id}/toggle` (admin): active ↔ inactive.
pub async fn toggle(app: &App, caller: &Caller, id: &str) -> Result<AutomationView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (old, version) = load(app, tenant, id).await?;
    let new = Automation {
        active: !old.active,
        updated_at: app.now_rfc3339(),
        ..old
    };
    store(app, tenant, &new, version).await?;
    Ok(new.into())
}

/// `DELETE /automations/{id}` (admin). Its run log expires with its runs.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (_, version) = load(app, tenant, id).await?;
    match delete_counted(app, tenant, KIND, id, version, vec![]).await {
        Ok(()) => Ok(DeletedView::of(id)),
        Err(StoreError::ConditionFailed) => Err(Error::Conflict(
            "the automation was changed meanwhile; retry".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `GET /automations/{id}/runs` (admin): newest first.
pub async fn runs(
    app: &App,
    caller: &Caller,
    id: &str,
    req: &PageRequest,
) -> Result<PageOf<AutomationRunView>> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    load(app, tenant, id).await?;
    let query = Query::partition(tenant.pk())
        .prefix(automation_runs_prefix(id))
        .backward();
    page(app.table.as_ref(), query, req, |_| true)
        .await?
        .parsed(|r: Run| AutomationRunView::from(r))
}
