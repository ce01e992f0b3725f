//! The caller's organizations and their public shape.

use serde_json::{Map, Value, json};

use super::settings::apply_settings;
use super::*;
use crate::App;
use crate::crypto::{self};
use crate::domain::Role;
use crate::domain::fields::Fields;
use crate::domain::identity::{Membership, Organization};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::table_keys::*;
use crate::store::{Condition, Index, Query};

/// The public shape of an org: provider keys masked, counters hidden.
pub fn org_view(app: &App, org: &Organization) -> Value {
    let keys: Map<String, Value> = org
        .settings
        .provider_keys
        .iter()
        .map(|(k, sealed)| {
            let shown = app
                .cipher
                .open(sealed)
                .map(|s| crypto::mask(&s))
                .unwrap_or_else(|_| "••••".into());
            (k.clone(), Value::String(shown))
        })
        .collect();
    let mut settings = serde_json::to_value(&org.settings).unwrap_or(Value::Null);
    settings["provider_keys"] = Value::Object(keys);
    json!({"id": org.id, "name": org.name, "settings": settings, "created_at": org.created_at, "updated_at": org.updated_at})
}

/// `GET /organizations`: the caller's orgs.
pub async fn list_orgs(app: &App, caller: &Caller) -> Result<Vec<Value>> {
    let user_id = caller.require_session()?;
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .table
            .query(
                Query::partition(user_index(user_id))
                    .on(Index::Gsi1)
                    .prefix("ORG#")
                    .after(cursor),
            )
            .await?;
        for item in &page.items {
            let m: Membership = item.parse()?;
            if let Ok((org, _)) = get_org(app, &m.org_id).await {
                let mut v = org_view(app, &org);
                v["role"] = json!(m.role);
                out.push(v);
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// `POST /organizations {name}`: a new org with the caller as its admin.
pub async fn create_org(app: &App, caller: &Caller, body: &Map<String, Value>) -> Result<Value> {
    let user_id = caller.require_session()?;
    let mut f = Fields::new(body);
    let name = f.req_str("name", 200);
    f.finish()?;
    let user = get_user(app, user_id).await?;
    let org = new_org(app, app.new_id(), name.unwrap_or_default());
    create_org_with_admin(app, &org, &user, false).await?;
    let mut v = org_view(app, &org);
    v["role"] = json!(Role::Admin);
    Ok(v)
}

/// `PATCH /organizations/{id} {name?, settings?}` (admin of that org).
pub async fn update_org(
    app: &App,
    caller: &Caller,
    org_id: &str,
    body: &Map<String, Value>,
) -> Result<Value> {
    let user_id = caller.require_session()?;
    let member = membership(app, org_id, user_id)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    if member.role != Role::Admin {
        return Err(Error::Forbidden("this needs the admin role".into()));
    }
    let (mut org, version) = get_org(app, org_id).await?;
    let mut f = Fields::new(body);
    if let Some(name) = f.opt_str("name", 200) {
        org.name = name;
    }
    if let Some(Value::Object(settings)) = f.raw("settings") {
        apply_settings(app, &mut org, settings, &mut f);
    } else if f.raw("settings").is_some() {
        f.error("settings", "must be an object");
    }
    f.finish()?;
    org.updated_at = app.now_rfc3339();
    app.table
        .put(org_item(&org), Condition::VersionEquals(version))
        .await?;
    app.org_limits.forget(&org.id);
    Ok(org_view(app, &org))
}
