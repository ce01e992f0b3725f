//! Storage shapes shared by the tenant-owned resources (agents, flows, tools,
//! channels, MCP servers, documents), written once.

use super::table_keys::resource_sk;
use crate::App;
use crate::domain::{Tenant, is_id};
use crate::error::{Error, Result};

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
