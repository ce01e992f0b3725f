//! API keys (SPEC §2) and the per-key rate limit (SPEC §1).

use super::caller::{Caller, Principal};
use super::repository::query_all;
use super::table_keys::*;
use super::views::{ApiKeyInput, ApiKeyView, DeletedView, NewApiKeyView};
use crate::App;
use crate::crypto::{random_token, token_hash};
use crate::domain::identity::{ApiKey, DEFAULT_RATE_LIMIT, Organization};
use crate::domain::input::Checks;
use crate::domain::{Mode, Role, Tenant};
use crate::error::{Error, Result};
use crate::store::{Condition, Index, Item, Query, Write};

/// Characters of a key shown as its prefix (`sb_` + 5).
const PREFIX_LEN: usize = 8;

fn new_key_view(key: &ApiKey, secret: String) -> NewApiKeyView {
    NewApiKeyView {
        api_key: key.into(),
        key: secret,
    }
}

fn key_item(k: &ApiKey) -> Item {
    Item::new(
        api_key_pk(&k.key_hash),
        API_KEY_SK,
        serde_json::to_value(k).unwrap_or_default(),
    )
    .with_gsi1(org_api_keys(&k.org_id), k.id.clone())
}

fn new_secret() -> String {
    format!("sb_{}", random_token(32))
}

fn describe(app: &App, org_id: &str, name: &str, secret: &str) -> ApiKey {
    ApiKey {
        id: app.new_id(),
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        prefix: secret.chars().take(PREFIX_LEN).collect(),
        last4: secret
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
        key_hash: token_hash(secret),
        created_at: app.now_rfc3339(),
        last_used_at: None,
    }
}

/// Stores a given secret as a key of `org_id` (bootstrap path).
pub async fn store_key(app: &App, org_id: &str, name: &str, secret: &str) -> Result<ApiKey> {
    let key = describe(app, org_id, name, secret);
    app.table
        .put(key_item(&key), Condition::MustNotExist)
        .await?;
    Ok(key)
}

/// Creates a key for an org; returns it and its secret.
pub async fn create_for_org(app: &App, org_id: &str, name: &str) -> Result<(ApiKey, String)> {
    let secret = new_secret();
    Ok((store_key(app, org_id, name, &secret).await?, secret))
}

/// `GET /api-keys` (session): masked.
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<ApiKeyView>> {
    caller.require_session()?;
    caller.require_admin()?;
    let query = Query::partition(org_api_keys(caller.org_id())).on(Index::Gsi1);
    query_all(app.table.as_ref(), query)
        .await?
        .iter()
        .map(|item| Ok(ApiKeyView::from(&item.parse::<ApiKey>()?)))
        .collect()
}

/// `POST /api-keys {name}` (session, admin): the secret is in this response only.
pub async fn create(app: &App, caller: &Caller, body: ApiKeyInput) -> Result<NewApiKeyView> {
    caller.require_session()?;
    caller.require_admin()?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not an API key field");
    let name = f.req_str("name", body.name, 100);
    f.finish()?;
    let (key, secret) = create_for_org(app, caller.org_id(), &name.unwrap_or_default()).await?;
    Ok(new_key_view(&key, secret))
}

async fn find(app: &App, caller: &Caller, id: &str) -> Result<Item> {
    let page = app
        .table
        .query(
            Query::partition(org_api_keys(caller.org_id()))
                .on(Index::Gsi1)
                .sort_key(crate::store::SortKey::Between(id.into(), id.into()))
                .limit(1),
        )
        .await?;
    page.items
        .into_iter()
        .next()
        .ok_or(Error::NotFound("API key"))
}

/// `DELETE /api-keys/{id}`: the key stops working on the next request.
pub async fn revoke(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_session()?;
    caller.require_admin()?;
    let item = find(app, caller, id).await?;
    app.table
        .delete(&item.pk, &item.sk, Condition::None)
        .await?;
    Ok(DeletedView::of(id))
}

/// `POST /api-keys/{id}/regenerate`: a new secret, the old one revoked, atomically.
pub async fn regenerate(app: &App, caller: &Caller, id: &str) -> Result<NewApiKeyView> {
    caller.require_session()?;
    caller.require_admin()?;
    let item = find(app, caller, id).await?;
    let old: ApiKey = item.parse()?;
    let secret = new_secret();
    let mut key = describe(app, &old.org_id, &old.name, &secret);
    key.id = old.id.clone();
    app.table
        .transact(vec![
            Write::Delete {
                pk: item.pk,
                sk: item.sk,
                condition: Condition::VersionEquals(item.version),
            },
            Write::Put(key_item(&key), Condition::MustNotExist),
        ])
        .await?;
    Ok(new_key_view(&key, secret))
}

pub use super::rate_limit::RateState;

/// The org's requests-per-minute limit (cached for a second), or `None` when
/// the org no longer exists.
async fn org_limit(app: &App, org_id: &str) -> Result<Option<u32>> {
    if let Some(limit) = app.org_limits.get(org_id) {
        return Ok(Some(limit));
    }
    let Some(org) = app.table.get(&org_pk(org_id), ORG_SK).await? else {
        return Ok(None);
    };
    let limit = match org.parse::<Organization>()?.settings.rate_limit_per_minute {
        0 => DEFAULT_RATE_LIMIT,
        n => n,
    };
    app.org_limits.put(org_id, limit);
    Ok(Some(limit))
}

/// Resolves an API key to a caller, counting the request against the key's
/// limit (see [`super::rate_limit`]). The key itself is read on every request,
/// so a revoked key stops working at once in every instance.
pub async fn authenticate(
    app: &App,
    secret: &str,
    mode: Mode,
) -> Result<Option<(Caller, RateState)>> {
    if !secret.starts_with("sb_") {
        return Ok(None);
    }
    let key_hash = token_hash(secret);
    let Some(item) = app.table.get(&api_key_pk(&key_hash), API_KEY_SK).await? else {
        return Ok(None);
    };
    let key: ApiKey = item.parse()?;
    let Some(limit) = org_limit(app, &key.org_id).await? else {
        return Ok(None);
    };
    let now = app.now();
    let state = app
        .rate
        .take(app.table.as_ref(), &key.id, limit, now.timestamp())
        .await?;
    // Record use at most once a minute: a write per request would double the
    // cost of every call for a timestamp nobody needs to the second.
    let stale = key
        .last_used_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_none_or(|t| (now - t.to_utc()).num_seconds() >= 60);
    if stale {
        let mut updated = key.clone();
        updated.last_used_at = Some(app.now_rfc3339());
        // Losing this race to a concurrent request or a revoke is fine.
        let _ = app
            .table
            .put(key_item(&updated), Condition::VersionEquals(item.version))
            .await;
    }
    let caller = Caller {
        principal: Principal::ApiKey {
            key_id: key.id,
            key_hash,
        },
        role: Role::Admin,
        tenant: Tenant {
            org_id: key.org_id,
            mode,
        },
    }
    .entering(app)
    .await?;
    Ok(Some((caller, state)))
}
