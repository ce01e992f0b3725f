//! Sign-up, login, logout, the current user, session checks and password changes.

use super::*;
use crate::App;
use crate::crypto::{decoy_password_hash, random_token, token_hash};
use crate::domain::identity::{Membership, User};
use crate::domain::input::Checks;
use crate::domain::{Email, Mode, Tenant, rfc3339};
use crate::error::{Error, Result};
use crate::services::auth_limits;
use crate::services::caller::{Caller, Principal};
use crate::services::repository::query_all;
use crate::services::table_keys::*;
use crate::services::views::{
    LoggedOutView, LoginInput, MeView, OrganizationView, PasswordChangeInput, PasswordChangedView,
    SignedInView, SignupInput, UserView,
};
use crate::store::{Condition, Index, Item, Query};

/// A new session's secret, to set as the `sb_session` cookie.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value (shown once; only its hash is stored).
    pub token: String,
    /// Seconds until it expires.
    pub max_age: i64,
}

pub(super) async fn new_session(app: &App, user_id: &str, org_id: &str) -> Result<NewSession> {
    let token = format!("sbs_{}", random_token(32));
    let now = app.now();
    let expires = now + chrono::Duration::days(SESSION_DAYS);
    let session = crate::domain::identity::Session {
        id: app.new_id(),
        user_id: user_id.to_owned(),
        org_id: org_id.to_owned(),
        created_at: rfc3339(now),
        expires_at: rfc3339(expires),
    };
    let item = Item::new(
        session_pk(&token_hash(&token)),
        SESSION_SK,
        serde_json::to_value(&session).unwrap_or_default(),
    )
    .with_gsi1(user_index(user_id), format!("SESSION#{}", session.id))
    .with_ttl(expires.timestamp());
    app.table.put(item, Condition::MustNotExist).await?;
    Ok(NewSession {
        token,
        max_age: SESSION_DAYS * 86_400,
    })
}

/// `POST /auth/signup {org_name, name, email, password}`.
pub async fn signup(app: &App, body: SignupInput) -> Result<(SignedInView, NewSession)> {
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a signup field");
    let org_name = f.req_str("org_name", body.org_name, 200);
    let name = f.req_str("name", body.name, 200);
    let email = f.req_parsed("email", body.email, Email::parse);
    let password = password(&mut f, "password", body.password);
    f.finish()?;
    let (Some(org_name), Some(name), Some(email), Some(password)) =
        (org_name, name, email, password)
    else {
        return Err(Error::Internal(
            "signup fields missing after validation".into(),
        ));
    };
    if app
        .table
        .get(&email_pk(email.as_str()), EMAIL_SK)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(
            "an account with this e-mail already exists".into(),
        ));
    }
    let user = User {
        id: app.new_id(),
        email,
        name,
        password_hash: hash(&password).await?,
        created_at: app.now_rfc3339(),
    };
    let org = new_org(app, app.new_id(), org_name);
    create_org_with_admin(app, &org, &user, true).await?;
    let session = new_session(app, &user.id, &org.id).await?;
    Ok((signed_in(&user, &org, Role::Admin), session))
}

/// `POST /auth/login {email, password}`. Wrong e-mail and wrong password
/// answer the same, in the same time.
pub async fn login(app: &App, body: LoginInput) -> Result<(SignedInView, NewSession)> {
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a login field");
    let email = f.req_str("email", body.email, 254);
    let password = f.req_str("password", body.password, PASSWORD_MAX);
    f.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(Error::Internal(
            "login fields missing after validation".into(),
        ));
    };
    let invalid = || Error::Unauthorized("invalid e-mail or password".into());
    auth_limits::check_email(app, &email).await?;
    let user = match Email::parse(&email) {
        Ok(email) => match app.table.get(&email_pk(email.as_str()), EMAIL_SK).await? {
            Some(claim) => {
                let id = claim.data["user_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                Some(get_user(app, &id).await?)
            }
            None => None,
        },
        Err(_) => None,
    };
    let Some(user) = user else {
        verify_password(&password, decoy_password_hash()).await?;
        auth_limits::login_failed(app, &email).await?;
        return Err(invalid());
    };
    if !verify_password(&password, &user.password_hash).await? {
        auth_limits::login_failed(app, &email).await?;
        return Err(invalid());
    }
    let orgs = app
        .table
        .query(
            Query::partition(user_index(&user.id))
                .on(Index::Gsi1)
                .prefix("ORG#")
                .limit(1),
        )
        .await?;
    let membership: Membership = orgs
        .items
        .first()
        .ok_or_else(|| Error::Forbidden("this account belongs to no organization".into()))?
        .parse()?;
    let (org, _) = get_org(app, &membership.org_id).await?;
    let session = new_session(app, &user.id, &org.id).await?;
    Ok((signed_in(&user, &org, membership.role), session))
}

/// `POST /auth/logout`: ends this session.
pub async fn logout(app: &App, caller: &Caller) -> Result<LoggedOutView> {
    if let Principal::Session { token_hash, .. } = &caller.principal {
        app.table
            .delete(&session_pk(token_hash), SESSION_SK, Condition::None)
            .await?;
    }
    Ok(LoggedOutView { logged_out: true })
}

/// `GET /auth/me`.
pub async fn me(app: &App, caller: &Caller) -> Result<MeView> {
    let (org, _) = get_org(app, caller.org_id()).await?;
    let user = match &caller.principal {
        Principal::Session { user_id, .. } => Some(UserView::from(&get_user(app, user_id).await?)),
        Principal::ApiKey { .. } => None,
    };
    let key_id = match &caller.principal {
        Principal::ApiKey { key_id, .. } => Some(key_id.clone()),
        Principal::Session { .. } => None,
    };
    Ok(MeView {
        user,
        api_key_id: key_id,
        organization: OrganizationView::of(&org, None),
        role: caller.role,
        mode: caller.tenant.mode,
    })
}

/// Resolves a session cookie to a caller. `org_override` (the
/// `X-Organization-Id` header) picks another of the user's orgs.
pub async fn authenticate_session(
    app: &App,
    token: &str,
    org_override: Option<&str>,
    mode: Mode,
) -> Result<Option<Caller>> {
    let hash = token_hash(token);
    let Some(item) = app.table.get(&session_pk(&hash), SESSION_SK).await? else {
        return Ok(None);
    };
    let session: crate::domain::identity::Session = item.parse()?;
    let org_id = org_override.unwrap_or(&session.org_id);
    let Some(member) = membership(app, org_id, &session.user_id).await? else {
        // Not a member of the org asked for: treat like an unknown org.
        return Err(Error::NotFound("organization"));
    };
    let caller = Caller {
        principal: Principal::Session {
            user_id: session.user_id,
            token_hash: hash,
        },
        role: member.role,
        tenant: Tenant {
            org_id: org_id.to_owned(),
            mode,
        },
    };
    Ok(Some(caller.entering(app).await?))
}

/// `POST /settings/password {current_password, new_password}`: also ends the
/// user's other sessions, since a password change usually means "lock others out".
pub async fn change_password(
    app: &App,
    caller: &Caller,
    body: PasswordChangeInput,
) -> Result<PasswordChangedView> {
    let user_id = caller.require_session()?.to_owned();
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a password change field");
    let current = f.req_str("current_password", body.current_password, PASSWORD_MAX);
    let new = password(&mut f, "new_password", body.new_password);
    f.finish()?;
    let (Some(current), Some(new)) = (current, new) else {
        return Err(Error::Internal(
            "password fields missing after validation".into(),
        ));
    };
    let item = app
        .table
        .get(&user_pk(&user_id), USER_SK)
        .await?
        .ok_or(Error::NotFound("user"))?;
    let mut user: User = item.parse()?;
    if !verify_password(&current, &user.password_hash).await? {
        return Err(Error::field(
            "current_password",
            "is not your current password",
        ));
    }
    user.password_hash = hash(&new).await?;
    app.table
        .put(user_item(&user), Condition::VersionEquals(item.version))
        .await?;
    let this_session = match &caller.principal {
        Principal::Session { token_hash, .. } => session_pk(token_hash),
        Principal::ApiKey { .. } => String::new(),
    };
    let sessions = Query::partition(user_index(&user_id))
        .on(Index::Gsi1)
        .prefix("SESSION#");
    let mut ended = 0u32;
    for s in query_all(app.table.as_ref(), sessions).await? {
        if s.pk != this_session {
            app.table.delete(&s.pk, &s.sk, Condition::None).await?;
            ended += 1;
        }
    }
    Ok(PasswordChangedView {
        changed: true,
        other_sessions_ended: ended,
    })
}
