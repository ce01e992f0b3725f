//! Storage shapes shared by the tenant-owned resources (agents, flows, tools,
//! channels, MCP servers, documents), written once: read one, list a page with
//! its total, create and delete together with the per-kind counter that makes
//! that total one read, and read every page of a query.

use serde_json::Value;

use super::page::{PageOf, PageRequest, page};
use super::table_keys::{count_sk, resource_prefix, resource_sk};
use crate::App;
use crate::domain::{Tenant, is_id};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Query, StoreResult, Table, Write};

/// Reads one resource of `kind` in the tenant with its version. Anything else
/// — a malformed id, another tenant's id, a deleted resource — is the same
/// 404 naming `what`, so another org's ids reveal nothing.
pub async fn load_resource<T: serde::de::DeserializeOwned>(
    app: &App,
    tenant: &Tenant,
    kind: &str,
    what: &'static str,
    id: &str,
) -> Result<(T, u64)> {
    if !is_id(id) {
        return Err(Error::NotFound(what));
    }
    let item = app
        .table
        .get(&tenant.pk(), &resource_sk(kind, id))
        .await?
        .ok_or(Error::NotFound(what))?;
    Ok((item.parse()?, item.version))
}

/// Stores a new resource `item` of `kind` (which must not exist yet), the
/// `also` writes that belong to it (a name claim, a global pointer), and one
/// more on the tenant's counter of `kind`, all or none. The store error is
/// returned as is, so a caller whose `also` holds a condition can say which
/// claim failed.
pub async fn insert_counted(
    app: &App,
    tenant: &Tenant,
    kind: &str,
    item: Item,
    also: Vec<Write>,
) -> StoreResult<()> {
    let put = Write::Put(item, Condition::MustNotExist);
    app.table
        .transact(counted(put, also, tenant, kind, 1))
        .await
}

/// Deletes the resource `id` of `kind` if it is still at `version`, the
/// `also` writes that go with it, and one off the tenant's counter of `kind`,
/// all or none. The store error is returned as is, so a caller can say what
/// changed meanwhile.
pub async fn delete_counted(
    app: &App,
    tenant: &Tenant,
    kind: &str,
    id: &str,
    version: u64,
    also: Vec<Write>,
) -> StoreResult<()> {
    let delete = Write::Delete {
        pk: tenant.pk(),
        sk: resource_sk(kind, id),
        condition: Condition::VersionEquals(version),
    };
    app.table
        .transact(counted(delete, also, tenant, kind, -1))
        .await
}

/// `first`, then `also`, then `delta` on the tenant's counter of `kind`.
fn counted(first: Write, also: Vec<Write>, tenant: &Tenant, kind: &str, delta: i64) -> Vec<Write> {
    let mut writes = Vec::with_capacity(also.len() + 2);
    writes.push(first);
    writes.extend(also);
    writes.push(Write::Add {
        pk: tenant.pk(),
        sk: count_sk(kind),
        delta,
    });
    writes
}

/// One page of the tenant's resources of `kind`, newest first, each shown
/// through `view`. With `only = Some((field, value))` just those whose stored
/// `field` equals `value` (`enabled`, `type`); without, the page carries the
/// total, kept in step with creates and deletes so it costs one read.
pub async fn list_counted<T, V>(
    app: &App,
    tenant: &Tenant,
    kind: &str,
    only: Option<(&str, Value)>,
    req: &PageRequest,
    view: impl Fn(T) -> V,
) -> Result<PageOf<V>>
where
    T: serde::de::DeserializeOwned,
{
    let query = Query::partition(tenant.pk())
        .prefix(resource_prefix(kind))
        .backward();
    let keep = |i: &Item| {
        only.as_ref()
            .is_none_or(|(field, value)| i.data.get(*field) == Some(value))
    };
    let mut out = page(app.table.as_ref(), query, req, keep).await?;
    if only.is_none() {
        let count = app.table.counter(&tenant.pk(), &count_sk(kind)).await?;
        out.total = Some(count.max(0) as u64);
    }
    out.parsed(view)
}

/// Every item `query` matches, reading page after page: for the collections
/// that are small by construction (an org's keys or members, a user's orgs
/// and sessions, an agent's assignments, a document's chunks).
pub async fn query_all(table: &dyn Table, query: Query) -> Result<Vec<Item>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = table.query(query.clone().after(cursor)).await?;
        out.extend(page.items);
        cursor = page.next;
        if cursor.is_none() {
            return Ok(out);
        }
    }
}

/// [`query_all`], each item read as `T`.
pub async fn query_all_as<T: serde::de::DeserializeOwned>(
    table: &dyn Table,
    query: Query,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for item in query_all(table, query).await? {
        out.push(item.parse()?);
    }
    Ok(out)
}
