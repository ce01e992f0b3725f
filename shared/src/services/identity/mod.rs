//! Sign-up, sessions, organizations and users (SPEC §2), split by concern;
//! this module holds what they share: stored items, lookups, password rules and
//! hashing (through the auth-limits gate).

mod bootstrap;
mod members;
mod organizations;
mod sessions;
mod settings;

pub use bootstrap::{Bootstrapped, bootstrap, create_installation_org};
pub use members::{accept_invite, invite, list_users, remove_user, set_role};
pub use organizations::{create_org, list_orgs, update_org};
pub use sessions::{NewSession, authenticate_session, change_password, login, logout, me, signup};
pub use settings::{get_settings, provider_key, update_settings};

use serde_json::json;

use super::auth_limits;
use super::table_keys::*;
use super::views::{OrganizationView, SignedInView};
use crate::App;
use crate::domain::Role;
use crate::domain::identity::{Membership, Organization, User, WorkspaceSettings};
use crate::domain::input::{Checks, Field};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, StoreError, Write};

/// How long a session lasts.
pub const SESSION_DAYS: i64 = 14;
/// How long an invite can be accepted.
pub const INVITE_DAYS: i64 = 7;
const PASSWORD_MIN: usize = 10;
const PASSWORD_MAX: usize = 256;

/// What signup, login and accept-invite answer.
fn signed_in(user: &User, org: &Organization, role: Role) -> SignedInView {
    SignedInView {
        user: user.into(),
        organization: OrganizationView::of(org, None),
        role,
    }
}

fn password(f: &mut Checks, field: &str, input: Field<String>) -> Option<String> {
    let p = match input {
        Field::Value(p) => p,
        Field::Invalid(_) => {
            f.error(field, "must be a string");
            return None;
        }
        Field::Absent | Field::Null => {
            f.error(field, "is required");
            return None;
        }
    };
    if p.chars().count() < PASSWORD_MIN {
        f.error(field, format!("must be at least {PASSWORD_MIN} characters"));
        None
    } else if p.chars().count() > PASSWORD_MAX {
        f.error(field, format!("must be at most {PASSWORD_MAX} characters"));
        None
    } else {
        Some(p)
    }
}

async fn hash(password: &str) -> Result<String> {
    auth_limits::hash_password(password).await
}

async fn verify_password(password: &str, hash: &str) -> Result<bool> {
    auth_limits::verify_password(password, hash).await
}

fn org_item(org: &Organization) -> Item {
    Item::new(
        org_pk(&org.id),
        ORG_SK,
        serde_json::to_value(org).unwrap_or_default(),
    )
}

fn member_item(m: &Membership) -> Item {
    Item::new(
        org_pk(&m.org_id),
        member_sk(&m.user_id),
        serde_json::to_value(m).unwrap_or_default(),
    )
    .with_gsi1(user_index(&m.user_id), format!("ORG#{}", m.org_id))
}

fn user_item(u: &User) -> Item {
    Item::new(
        user_pk(&u.id),
        USER_SK,
        serde_json::to_value(u).unwrap_or_default(),
    )
}

/// Reads an org; absent is 404.
pub async fn get_org(app: &App, org_id: &str) -> Result<(Organization, u64)> {
    let item = app
        .table
        .get(&org_pk(org_id), ORG_SK)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    Ok((item.parse()?, item.version))
}

async fn get_user(app: &App, user_id: &str) -> Result<User> {
    app.table
        .get(&user_pk(user_id), USER_SK)
        .await?
        .ok_or(Error::NotFound("user"))?
        .parse()
        .map_err(Into::into)
}

async fn membership(app: &App, org_id: &str, user_id: &str) -> Result<Option<Membership>> {
    match app.table.get(&org_pk(org_id), &member_sk(user_id)).await? {
        Some(item) => Ok(Some(item.parse()?)),
        None => Ok(None),
    }
}

fn new_org(app: &App, id: String, name: String) -> Organization {
    let now = app.now_rfc3339();
    Organization {
        id,
        name,
        settings: WorkspaceSettings::default(),
        admin_count: 1,
        created_at: now.clone(),
        updated_at: now,
    }
}

/// Writes a new org with its first admin (and, for a new user, the user and
/// the e-mail claim) in one transaction. A taken e-mail is a 409.
async fn create_org_with_admin(
    app: &App,
    org: &Organization,
    user: &User,
    new_user: bool,
) -> Result<()> {
    let now = app.now_rfc3339();
    let member = Membership {
        org_id: org.id.clone(),
        user_id: user.id.clone(),
        role: Role::Admin,
        joined_at: now,
    };
    let mut writes = vec![
        Write::Put(org_item(org), Condition::MustNotExist),
        Write::Put(member_item(&member), Condition::MustNotExist),
    ];
    if new_user {
        writes.push(Write::Put(user_item(user), Condition::MustNotExist));
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
            Error::Conflict("an account with this e-mail already exists".into())
        }
        other => other.into(),
    })
}
