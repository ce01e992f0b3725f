//! SHIM — replaced by helper "crm"'s contacts CRM when its branch merges.
//!
//! The three seam functions the campaign dialer calls (SESSION20.md), with
//! their exact signatures and the least behaviour the dialer relies on: a
//! contact per phone number in the tenant, found or created; a do-not-call
//! flag on it. Keys here are the shim's own (`SHIMCONTACT#<phone>`); the
//! integrator deletes this file in favour of crm's module.

use serde_json::json;

use crate::App;
use crate::domain::Tenant;
use crate::error::{Error, Result};
use crate::store::{Condition, Item, StoreError};

fn sk(phone: &str) -> String {
    format!("SHIMCONTACT#{phone}")
}

/// Finds the tenant's contact with `phone`, creating it when missing
/// (race-safe: a conditional create); returns its id.
pub async fn link_by_phone(
    app: &App,
    tenant: &Tenant,
    phone: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<String> {
    for _ in 0..4 {
        if let Some(item) = app.table.get(&tenant.pk(), &sk(phone)).await? {
            return item
                .data
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| Error::Internal("contact without an id".into()));
        }
        let id = app.new_id();
        let item = Item::new(
            tenant.pk(),
            sk(phone),
            json!({"id": id, "phone": phone, "name": name, "email": email, "do_not_call": null}),
        );
        match app.table.put(item, Condition::MustNotExist).await {
            Ok(_) => return Ok(id),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the contact kept changing; retry".into()))
}

/// Whether `phone` is do-not-call in the tenant (one keyed read).
pub async fn is_do_not_call(app: &App, tenant: &Tenant, phone: &str) -> Result<bool> {
    Ok(app
        .table
        .get(&tenant.pk(), &sk(phone))
        .await?
        .is_some_and(|i| i.data.get("do_not_call").is_some_and(|v| !v.is_null())))
}

/// Marks `phone` do-not-call (creating its contact when missing); idempotent.
pub async fn mark_do_not_call(app: &App, tenant: &Tenant, phone: &str, reason: &str) -> Result<()> {
    link_by_phone(app, tenant, phone, None, None).await?;
    for _ in 0..4 {
        let Some(mut item) = app.table.get(&tenant.pk(), &sk(phone)).await? else {
            continue;
        };
        if item.data.get("do_not_call").is_some_and(|v| !v.is_null()) {
            return Ok(());
        }
        item.data["do_not_call"] = json!({"at": app.now_rfc3339(), "reason": reason});
        let version = item.version;
        match app.table.put(item, Condition::VersionEquals(version)).await {
            Ok(_) => return Ok(()),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the contact kept changing; retry".into()))
}
