//! Sign-up, sessions, organizations and users (SPEC §2).

use serde_json::{Map, Value, json};

use super::auth_limits;
use super::caller::{Caller, Principal};
use super::keys::*;
use crate::App;
use crate::crypto::{self, decoy_password_hash, random_token, token_hash};
use crate::domain::fields::Fields;
use crate::domain::identity::{Invite, Membership, Organization, User, WorkspaceSettings};
use crate::domain::{Email, Mode, Role, Tenant, rfc3339};
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, StoreError, Write};

/// How long a session lasts.
pub const SESSION_DAYS: i64 = 14;
/// How long an invite can be accepted.
pub const INVITE_DAYS: i64 = 7;
const PASSWORD_MIN: usize = 10;
const PASSWORD_MAX: usize = 256;

/// A new session's secret, to set as the `sb_session` cookie.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value (shown once; only its hash is stored).
    pub token: String,
    /// Seconds until it expires.
    pub max_age: i64,
}

/// The public shape of a user.
pub fn user_view(user: &User) -> Value {
    json!({"id": user.id, "email": user.email, "name": user.name, "created_at": user.created_at})
}

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

fn password(f: &mut Fields<'_>, field: &str) -> Option<String> {
    match f.raw(field) {
        Some(Value::String(p)) if p.chars().count() < PASSWORD_MIN => {
            f.error(field, format!("must be at least {PASSWORD_MIN} characters"));
            None
        }
        Some(Value::String(p)) if p.chars().count() > PASSWORD_MAX => {
            f.error(field, format!("must be at most {PASSWORD_MAX} characters"));
            None
        }
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            f.error(field, "must be a string");
            None
        }
        None => {
            f.error(field, "is required");
            None
        }
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

async fn new_session(app: &App, user_id: &str, org_id: &str) -> Result<NewSession> {
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

/// `POST /auth/signup {org_name, name, email, password}`.
pub async fn signup(app: &App, body: &Map<String, Value>) -> Result<(Value, NewSession)> {
    let mut f = Fields::new(body);
    let org_name = f.req_str("org_name", 200);
    let name = f.req_str("name", 200);
    let email = if f.raw("email").is_none() {
        f.error("email", "is required");
        None
    } else {
        f.opt_parsed("email", Email::parse)
    };
    let password = password(&mut f, "password");
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
    Ok((
        json!({"user": user_view(&user), "organization": org_view(app, &org), "role": "admin"}),
        session,
    ))
}

/// `POST /auth/login {email, password}`. Wrong e-mail and wrong password
/// answer the same, in the same time.
pub async fn login(app: &App, body: &Map<String, Value>) -> Result<(Value, NewSession)> {
    let mut f = Fields::new(body);
    let email = f.req_str("email", 254);
    let password = f.req_str("password", PASSWORD_MAX);
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
    Ok((
        json!({"user": user_view(&user), "organization": org_view(app, &org), "role": membership.role}),
        session,
    ))
}

/// `POST /auth/logout`: ends this session.
pub async fn logout(app: &App, caller: &Caller) -> Result<Value> {
    if let Principal::Session { token_hash, .. } = &caller.principal {
        app.table
            .delete(&session_pk(token_hash), SESSION_SK, Condition::None)
            .await?;
    }
    Ok(json!({"logged_out": true}))
}

/// `GET /auth/me`.
pub async fn me(app: &App, caller: &Caller) -> Result<Value> {
    let (org, _) = get_org(app, caller.org_id()).await?;
    let user = match &caller.principal {
        Principal::Session { user_id, .. } => Some(user_view(&get_user(app, user_id).await?)),
        Principal::ApiKey { .. } => None,
    };
    let key_id = match &caller.principal {
        Principal::ApiKey { key_id } => Some(key_id.clone()),
        Principal::Session { .. } => None,
    };
    Ok(
        json!({"user": user, "api_key_id": key_id, "organization": org_view(app, &org), "role": caller.role, "mode": caller.tenant.mode}),
    )
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

/// `POST /auth/accept-invite {token, name, password}`: joins the org (creating
/// the account if the e-mail is new; an existing account must give its password).
pub async fn accept_invite(app: &App, body: &Map<String, Value>) -> Result<(Value, NewSession)> {
    let mut f = Fields::new(body);
    let token = f.req_str("token", 200);
    let name = f.opt_str("name", 200);
    let password = password(&mut f, "password");
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
    Ok((
        json!({"user": user_view(&user), "organization": org_view(app, &org_after), "role": invite.role}),
        session,
    ))
}

/// `POST /settings/password {current_password, new_password}`: also ends the
/// user's other sessions, since a password change usually means "lock others out".
pub async fn change_password(
    app: &App,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Value> {
    let user_id = caller.require_session()?.to_owned();
    let mut f = Fields::new(body);
    let current = f.req_str("current_password", PASSWORD_MAX);
    let new = password(&mut f, "new_password");
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
    let mut cursor = None;
    let mut ended = 0;
    loop {
        let page = app
            .table
            .query(
                Query::partition(user_index(&user_id))
                    .on(Index::Gsi1)
                    .prefix("SESSION#")
                    .after(cursor),
            )
            .await?;
        for s in page.items.iter().filter(|s| s.pk != this_session) {
            app.table.delete(&s.pk, &s.sk, Condition::None).await?;
            ended += 1;
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    Ok(json!({"changed": true, "other_sessions_ended": ended}))
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

fn apply_settings(
    app: &App,
    org: &mut Organization,
    body: &Map<String, Value>,
    errors: &mut Fields<'_>,
) {
    let mut f = Fields::new(body);
    if let Some(name) = f.opt_str("name", 200) {
        org.name = name;
    }
    if let Some(tz) = f.opt_parsed("timezone", |s| {
        let ok = s == "UTC"
            || (s.contains('/')
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c)));
        if ok {
            Ok(s.to_owned())
        } else {
            Err("must be an IANA time zone such as Europe/London".into())
        }
    }) {
        org.settings.timezone = tz;
    }
    if let Some(lang) = f.opt_str("default_language", 35) {
        org.settings.default_language = lang;
    }
    if let Some(hours) = f.opt_json("business_hours") {
        org.settings.business_hours = hours;
    }
    let valid_hhmm = |s: &str| {
        s.len() == 5
            && s.as_bytes()[2] == b':'
            && s[..2].parse::<u8>().is_ok_and(|h| h < 24)
            && s[3..].parse::<u8>().is_ok_and(|m| m < 60)
    };
    for (day, ranges) in &org.settings.business_hours {
        if !["mon", "tue", "wed", "thu", "fri", "sat", "sun"].contains(&day.as_str()) {
            f.error(
                format!("business_hours.{day}"),
                "days are mon, tue, wed, thu, fri, sat, sun",
            );
        }
        for (i, r) in ranges.iter().enumerate() {
            if !valid_hhmm(&r.start) || !valid_hhmm(&r.end) || r.start >= r.end {
                f.error(
                    format!("business_hours.{day}.{i}"),
                    "needs start and end as HH:MM with start before end",
                );
            }
        }
    }
    if let Some(limit) = f.opt_int("rate_limit_per_minute", 1..=1_000_000) {
        org.settings.rate_limit_per_minute = limit as u32;
    }
    match f.raw("provider_keys") {
        Some(Value::Object(keys)) => {
            for (provider, secret) in keys {
                match secret {
                    // null removes a key; a string sets it (write-only).
                    Value::Null => {
                        org.settings.provider_keys.remove(provider);
                    }
                    Value::String(s) if !s.trim().is_empty() && s.len() <= 4096 => {
                        org.settings
                            .provider_keys
                            .insert(provider.clone(), app.cipher.seal(s.trim()));
                    }
                    _ => f.error(
                        format!("provider_keys.{provider}"),
                        "must be a non-empty string, or null to remove it",
                    ),
                }
            }
        }
        Some(_) => f.error("provider_keys", "must be an object of provider name to key"),
        None => {}
    }
    for (k, v) in f.into_errors() {
        errors.error(k, v);
    }
}

/// `GET /settings/workspace`.
pub async fn get_settings(app: &App, caller: &Caller) -> Result<Value> {
    let (org, _) = get_org(app, caller.org_id()).await?;
    let view = org_view(app, &org);
    let mut settings = view["settings"].clone();
    settings["name"] = view["name"].clone();
    Ok(settings)
}

/// `POST /settings/workspace` (admin).
pub async fn update_settings(
    app: &App,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Value> {
    caller.require_admin()?;
    let (mut org, version) = get_org(app, caller.org_id()).await?;
    let mut f = Fields::new(body);
    apply_settings(app, &mut org, body, &mut f);
    f.finish()?;
    org.updated_at = app.now_rfc3339();
    app.table
        .put(org_item(&org), Condition::VersionEquals(version))
        .await?;
    app.org_limits.forget(&org.id);
    get_settings(app, caller).await
}

/// A provider key in clear, for the engine (never for API responses).
pub async fn provider_key(app: &App, org_id: &str, provider: &str) -> Result<Option<String>> {
    let (org, _) = get_org(app, org_id).await?;
    match org.settings.provider_keys.get(provider) {
        Some(sealed) => app.cipher.open(sealed).map(Some).map_err(Error::Internal),
        None => Ok(None),
    }
}

/// `GET /users`: the org's members with roles.
pub async fn list_users(app: &App, caller: &Caller) -> Result<Vec<Value>> {
    caller.require_session()?;
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = app
            .table
            .query(
                Query::partition(org_pk(caller.org_id()))
                    .prefix("MEMBER#")
                    .after(cursor),
            )
            .await?;
        for item in &page.items {
            let m: Membership = item.parse()?;
            if let Ok(user) = get_user(app, &m.user_id).await {
                let mut v = user_view(&user);
                v["role"] = json!(m.role);
                v["joined_at"] = json!(m.joined_at);
                out.push(v);
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// `POST /users/invite {email, role}` (admin) → the token, shown once.
pub async fn invite(app: &App, caller: &Caller, body: &Map<String, Value>) -> Result<Value> {
    let user_id = caller.require_session()?.to_owned();
    caller.require_admin()?;
    let mut f = Fields::new(body);
    let email = if f.raw("email").is_none() {
        f.error("email", "is required");
        None
    } else {
        f.opt_parsed("email", Email::parse)
    };
    let role = f
        .opt_parsed("role", |s| {
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
    Ok(json!({
        "id": invite.id, "email": invite.email, "role": invite.role, "token": token,
        "invite_url": format!("{}/accept-invite?token={token}", app.config.public_url), "expires_at": invite.expires_at,
    }))
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
    body: &Map<String, Value>,
) -> Result<Value> {
    // The role first: a member who may not do this learns nothing more.
    caller.require_admin()?;
    let mut f = Fields::new(body);
    let role = if f.raw("role").is_none() {
        f.error("role", "is required");
        None
    } else {
        f.opt_parsed("role", |s| {
            Role::parse(s).ok_or_else(|| "must be admin or agent".to_owned())
        })
    };
    f.finish()?;
    let m = change_member(app, caller, user_id, role).await?;
    let user = get_user(app, user_id).await?;
    let mut v = user_view(&user);
    v["role"] = json!(m.role);
    Ok(v)
}

/// `DELETE /users/{id}` (admin; never the last admin).
pub async fn remove_user(app: &App, caller: &Caller, user_id: &str) -> Result<Value> {
    change_member(app, caller, user_id, None).await?;
    Ok(json!({"deleted": true, "id": user_id}))
}

/// Creates an org with an admin (random password) and an API key, without
/// HTTP — the CLI path of self-hosting (`switchboard create-org`).
pub async fn create_installation_org(app: &App, org_name: &str, email: &str) -> Result<Value> {
    let (org_id, email, password) = new_org_and_admin(app, org_name, email).await?;
    let (_, key) = super::api_keys::create_for_org(app, &org_id, "default").await?;
    Ok(json!({"org_id": org_id, "email": email, "password": password, "api_key": key}))
}

async fn new_org_and_admin(
    app: &App,
    org_name: &str,
    email: &str,
) -> Result<(String, String, String)> {
    let email = Email::parse(email).map_err(|e| Error::field("email", e))?;
    let password = random_token(12);
    let user = User {
        id: app.new_id(),
        email,
        name: "Admin".into(),
        password_hash: hash(&password).await?,
        created_at: app.now_rfc3339(),
    };
    let org = new_org(app, app.new_id(), org_name.to_owned());
    create_org_with_admin(app, &org, &user, true).await?;
    Ok((org.id, user.email.as_str().to_owned(), password))
}

/// What [`bootstrap`] made.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The org.
    pub org_id: String,
    /// Admin's e-mail.
    pub email: String,
    /// Admin's generated password (only when the admin was just created).
    pub password: Option<String>,
    /// The API key, when one was created now.
    pub api_key: Option<String>,
    /// False when the installation was already set up.
    pub created: bool,
}

/// First-start setup without HTTP: a default org, an admin and an API key.
/// With `api_key` given, that exact key is made to exist (for scripts). Safe
/// to run on every start: it does nothing the second time.
pub async fn bootstrap(
    app: &App,
    org_name: &str,
    email: &str,
    api_key: Option<&str>,
) -> Result<Bootstrapped> {
    let marker = app.table.get(SYSTEM_PK, "BOOTSTRAP").await?;
    let (org_id, email, password, created) = match marker {
        Some(m) => (
            m.data["org_id"].as_str().unwrap_or_default().to_owned(),
            m.data["email"].as_str().unwrap_or_default().to_owned(),
            None,
            false,
        ),
        None => {
            let (org_id, email, password) = new_org_and_admin(app, org_name, email).await?;
            let marker = Item::new(
                SYSTEM_PK,
                "BOOTSTRAP",
                json!({"org_id": org_id, "email": email}),
            );
            app.table.put(marker, Condition::MustNotExist).await?;
            (org_id, email, Some(password), true)
        }
    };
    let api_key = match api_key {
        Some(key) => {
            if !key.starts_with("sb_") || key.len() < 20 {
                return Err(Error::field(
                    "SWITCHBOARD_BOOTSTRAP_API_KEY",
                    "must start with sb_ and be at least 20 characters",
                ));
            }
            if app
                .table
                .get(&api_key_pk(&token_hash(key)), API_KEY_SK)
                .await?
                .is_none()
            {
                super::api_keys::store_key(app, &org_id, "bootstrap", key).await?;
            }
            None
        }
        None if created => Some(
            super::api_keys::create_for_org(app, &org_id, "default")
                .await?
                .1,
        ),
        None => None,
    };
    Ok(Bootstrapped {
        org_id,
        email,
        password,
        api_key,
        created,
    })
}
