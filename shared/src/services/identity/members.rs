//! The org's users: listing, invites, roles and removal.

use serde_json::json;

use super::sessions::new_session;
use super::*;
use crate::App;
use crate::crypto::{random_token, token_hash};
use crate::domain::identity::{Invite, Membership, User};
use crate::domain::input::Checks;
use crate::domain::{Email, Role, rfc3339};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::repository::query_all;
use crate::services::table_keys::*;
use crate::services::views::{
    AcceptInviteInput, DeletedView, InviteInput, InviteView, MemberView, RoleInput, SignedInView,
};
use crate::store::{Condition, Item, Query, StoreError, Write};

/// `POST /auth/accept-invite {token, name, password}`: joins the org (creating
/// the account if the e-mail is new; an existing account must give its password).
pub async fn accept_invite(
    app: &App,
    body: AcceptInviteInput,
) -> Result<(SignedInView, NewSession)> {
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not an invitation field");
    let token = f.req_str("token", body.token, 200);
    let name = f.opt_str("name", body.name, 200);
    let password = password(&mut f, "password", body.password);
    f.finish()?;
    let (Some(token), Some(password)) = (token, password) else {
        return Err(Error::Internal(
            "invite fields missing after validation".into(),
        ));
    };
    let invite_key = invite_pk(&token_hash(&token));
    let item = app
        .table
        .get(&invite_key, INVITE_SK)
        .await?
        .ok_or_else(|| {
            Error::field(
                "token",
                "is not a valid invitation (it may have expired or been used)",
            )
        })?;
    let invite: Invite = item.parse()?;
    let (org, org_version) = get_org(app, &invite.org_id).await?;
    let existing = app
        .table
        .get(&email_pk(invite.email.as_str()), EMAIL_SK)
        .await?;
    let (user, new_user) = match existing {
        Some(claim) => {
            let user = get_user(app, claim.data["user_id"].as_str().unwrap_or_default()).await?;
            if !verify_password(&password, &user.password_hash).await? {
                return Err(Error::Unauthorized(
                    "this e-mail already has an account: give its password to join".into(),
                ));
            }
            (user, false)
        }
        None => {
            let Some(name) = name else {
                return Err(Error::field("name", "is required for a new account"));
            };
            let user = User {
                id: app.new_id(),
                email: invite.email.clone(),
                name,
                password_hash: hash(&password).await?,
                created_at: app.now_rfc3339(),
            };
            (user, true)
        }
    };
    if membership(app, &org.id, &user.id).await?.is_some() {
        return Err(Error::Conflict(
            "already a member of this organization".into(),
        ));
    }
    let member = Membership {
        org_id: org.id.clone(),
        user_id: user.id.clone(),
        role: invite.role,
        joined_at: app.now_rfc3339(),
    };
    let mut org_after = org.clone();
    if invite.role == Role::Admin {
        org_after.admin_count += 1;
    }
    let mut writes = vec![
        Write::Delete {
            pk: invite_key,
            sk: INVITE_SK.into(),
            condition: Condition::MustExist,
        },
        Write::Put(member_item(&member), Condition::MustNotExist),
        Write::Put(org_item(&org_after), Condition::VersionEquals(org_version)),
    ];
    if new_user {
        writes.push(Write::Put(user_item(&user), Condition::MustNotExist));
        writes.push(Write::Put(
            Item::new(
                email_pk(user.email.as_str()),
                EMAIL_SK,
                json!({"user_id": user.id}),
            ),
            Condition::MustNotExist,
        ));
    }
    app.table.transact(writes).await.map_err(|e| match e {
        StoreError::ConditionFailed => {
            Error::Conflict("the invitation was used or changed meanwhile; retry".into())
        }
        other => other.into(),
    })?;
    let session = new_session(app, &user.id, &org.id).await?;
    Ok((signed_in(&user, &org_after, invite.role), session))
}

fn member_view(user: &User, m: Membership) -> MemberView {
    MemberView {
        user: user.into(),
        role: m.role,
        joined_at: m.joined_at,
    }
}

/// `GET /users`: the org's members with roles.
pub async fn list_users(app: &App, caller: &Caller) -> Result<Vec<MemberView>> {
    caller.require_session()?;
    let query = Query::partition(org_pk(caller.org_id())).prefix("MEMBER#");
    let mut out = Vec::new();
    for item in query_all(app.table.as_ref(), query).await? {
        let m: Membership = item.parse()?;
        if let Ok(user) = get_user(app, &m.user_id).await {
            out.push(member_view(&user, m));
        }
    }
    Ok(out)
}

/// `POST /users/invite {email, role}` (admin) → the token, shown once.
pub async fn invite(app: &App, caller: &Caller, body: InviteInput) -> Result<InviteView> {
    let user_id = caller.require_session()?.to_owned();
    caller.require_admin()?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not an invitation field");
    let email = f.req_parsed("email", body.email, Email::parse);
    let role = f
        .opt_parsed("role", body.role, |s| {
            Role::parse(s).ok_or_else(|| "must be admin or agent".to_owned())
        })
        .unwrap_or(Role::Agent);
    f.finish()?;
    let Some(email) = email else {
        return Err(Error::Internal(
            "invite e-mail missing after validation".into(),
        ));
    };
    if let Some(claim) = app.table.get(&email_pk(email.as_str()), EMAIL_SK).await?
        && membership(
            app,
            caller.org_id(),
            claim.data["user_id"].as_str().unwrap_or_default(),
        )
        .await?
        .is_some()
    {
        return Err(Error::Conflict("this person is already a member".into()));
    }
    let token = format!("sbi_{}", random_token(32));
    let expires = app.now() + chrono::Duration::days(INVITE_DAYS);
    let invite = Invite {
        id: app.new_id(),
        org_id: caller.org_id().to_owned(),
        email,
        role,
        invited_by: user_id,
        expires_at: rfc3339(expires),
    };
    let item = Item::new(
        invite_pk(&token_hash(&token)),
        INVITE_SK,
        serde_json::to_value(&invite).unwrap_or_default(),
    )
    .with_gsi1(format!("ORG#{}#INVITES", invite.org_id), invite.id.clone())
    .with_ttl(expires.timestamp());
    app.table.put(item, Condition::MustNotExist).await?;
    Ok(InviteView {
        invite_url: format!("{}/accept-invite?token={token}", app.config.public_url),
        id: invite.id,
        email: invite.email,
        role: invite.role,
        token,
        expires_at: invite.expires_at,
    })
}

/// Changes a member's role or removes them, keeping at least one admin: the
/// org item's version guards the admin count against concurrent changes.
async fn change_member(
    app: &App,
    caller: &Caller,
    user_id: &str,
    new_role: Option<Role>,
) -> Result<Membership> {
    caller.require_session()?;
    caller.require_admin()?;
    let item = app
        .table
        .get(&org_pk(caller.org_id()), &member_sk(user_id))
        .await?
        .ok_or(Error::NotFound("user"))?;
    let member: Membership = item.parse()?;
    let (mut org, org_version) = get_org(app, caller.org_id()).await?;
    let was_admin = member.role == Role::Admin;
    let is_admin = new_role == Some(Role::Admin);
    if was_admin && !is_admin {
        if org.admin_count <= 1 {
            return Err(Error::Conflict(
                "the organization must keep at least one admin".into(),
            ));
        }
        org.admin_count -= 1;
    } else if !was_admin && is_admin {
        org.admin_count += 1;
    }
    let mut updated = member.clone();
    let member_write = match new_role {
        Some(role) => {
            updated.role = role;
            Write::Put(
                member_item(&updated),
                Condition::VersionEquals(item.version),
            )
        }
        None => Write::Delete {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            condition: Condition::VersionEquals(item.version),
        },
    };
    app.table
        .transact(vec![
            member_write,
            Write::Put(org_item(&org), Condition::VersionEquals(org_version)),
        ])
        .await?;
    Ok(updated)
}

/// `POST /users/{id}/role {role}` (admin; never demotes the last admin).
pub async fn set_role(
    app: &App,
    caller: &Caller,
    user_id: &str,
    body: RoleInput,
) -> Result<MemberView> {
    // The role first: a member who may not do this learns nothing more.
    caller.require_admin()?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a role change field");
    let role = f.req_parsed("role", body.role, |s| {
        Role::parse(s).ok_or_else(|| "must be admin or agent".to_owned())
    });
    f.finish()?;
    let m = change_member(app, caller, user_id, role).await?;
    let user = get_user(app, user_id).await?;
    Ok(member_view(&user, m))
}

/// `DELETE /users/{id}` (admin; never the last admin).
pub async fn remove_user(app: &App, caller: &Caller, user_id: &str) -> Result<DeletedView> {
    change_member(app, caller, user_id, None).await?;
    Ok(DeletedView::of(user_id))
}
