//! The caller's organizations and their public shape.

use super::settings::apply_settings;
use super::*;
use crate::App;
use crate::domain::Role;
use crate::domain::identity::Membership;
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::repository::query_all;
use crate::services::table_keys::*;
use crate::services::views::{
    ORGANIZATION_ECHOED, OrganizationInput, OrganizationPatchInput, OrganizationView,
};
use crate::store::{Condition, Index, Query};

/// `GET /organizations`: the caller's orgs.
pub async fn list_orgs(app: &App, caller: &Caller) -> Result<Vec<OrganizationView>> {
    let user_id = caller.require_session()?;
    let query = Query::partition(user_index(user_id))
        .on(Index::Gsi1)
        .prefix("ORG#");
    let mut out = Vec::new();
    for item in query_all(app.table.as_ref(), query).await? {
        let m: Membership = item.parse()?;
        if let Ok((org, _)) = get_org(app, &m.org_id).await {
            out.push(OrganizationView::of(&org, Some(m.role)));
        }
    }
    Ok(out)
}

/// `POST /organizations {name}`: a new org with the caller as its admin.
pub async fn create_org(
    app: &App,
    caller: &Caller,
    body: OrganizationInput,
) -> Result<OrganizationView> {
    let user_id = caller.require_session()?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not an organization field");
    let name = f.req_str("name", body.name, 200);
    f.finish()?;
    let user = get_user(app, user_id).await?;
    let org = new_org(app, app.new_id(), name.unwrap_or_default());
    create_org_with_admin(app, &org, &user, false).await?;
    Ok(OrganizationView::of(&org, Some(Role::Admin)))
}

/// `PATCH /organizations/{id} {name?, settings?}` (admin of that org).
pub async fn update_org(
    app: &App,
    caller: &Caller,
    org_id: &str,
    body: OrganizationPatchInput,
) -> Result<OrganizationView> {
    let user_id = caller.require_session()?;
    let member = membership(app, org_id, user_id)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    if member.role != Role::Admin {
        return Err(Error::Forbidden("this needs the admin role".into()));
    }
    let (mut org, version) = get_org(app, org_id).await?;
    let mut f = Checks::new();
    f.unknown_except(
        body.unknown.keys(),
        &ORGANIZATION_ECHOED,
        "is not an organization field",
    );
    if let Some(name) = f.opt_str("name", body.name, 200) {
        org.name = name;
    }
    match body.settings {
        Field::Value(settings) => apply_settings(app, &mut org, settings, &mut f),
        Field::Invalid(_) => f.error("settings", "must be an object"),
        Field::Absent | Field::Null => {}
    }
    f.finish()?;
    org.updated_at = app.now_rfc3339();
    app.table
        .put(org_item(&org), Condition::VersionEquals(version))
        .await?;
    app.org_limits.forget(&org.id);
    Ok(OrganizationView::of(&org, None))
}
