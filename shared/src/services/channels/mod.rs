//! Channels (SPEC §7): carrier accounts, web widgets and the simulated
//! carrier; provider verification; web sessions ([`web`]).

pub mod web;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::caller::Caller;
use super::page::{PageOf, PageRequest};
use super::repository::{delete_counted, insert_counted, list_counted, load_resource};
use super::table_keys::*;
use super::views::{ChannelView, DeletedView, ProviderCheckView};
use crate::App;
use crate::domain::channel::{
    Channel, ChannelCreate, ChannelPatch, ChannelSpec, ChannelType, VerifyProviderInput,
    parse_credentials,
};
use crate::domain::input::{Checks, Field};
use crate::domain::{Mode, Tenant, is_id};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Write};
use crate::telephony::{self, Carrier, NoCarrier};

/// Resource kind in sort keys.
pub const KIND: &str = "CHANNEL";

/// Where a channel lives, as its global pointer item records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pointer {
    org_id: String,
    mode: Mode,
}

fn item(tenant: &Tenant, channel: &Channel) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &channel.id),
        serde_json::to_value(channel).unwrap_or_default(),
    )
}

fn pointer(tenant: &Tenant, channel_id: &str) -> Item {
    Item::new(
        channel_pointer_pk(channel_id),
        CHANNEL_POINTER_SK,
        json!({"org_id": tenant.org_id, "mode": tenant.mode}),
    )
}

/// Reads a channel of the tenant; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Channel, u64)> {
    load_resource(app, tenant, KIND, "channel", id).await
}

/// Finds a channel and its tenant from the id alone, through the channel's
/// global pointer. For routes with no caller (public web sessions, carrier
/// webhooks); everything else goes through [`load`].
pub async fn locate(app: &App, id: &str) -> Result<(Tenant, Channel)> {
    if !is_id(id) {
        return Err(Error::NotFound("channel"));
    }
    let ptr: Pointer = app
        .table
        .get(&channel_pointer_pk(id), CHANNEL_POINTER_SK)
        .await?
        .ok_or(Error::NotFound("channel"))?
        .parse()?;
    let tenant = Tenant {
        org_id: ptr.org_id,
        mode: ptr.mode,
    };
    let (channel, _) = load(app, &tenant, id).await?;
    Ok((tenant, channel))
}

/// The client of the channel's carrier account, signed in with its
/// credentials (opened here, never stored). A channel with no carrier
/// client (another carrier, a web or sim channel, no credentials) is a 409
/// saying why.
pub(crate) fn carrier(app: &App, channel: &Channel) -> Result<Box<dyn Carrier>> {
    let credentials = channel.open_credentials(&app.cipher)?;
    Ok(telephony::connect(&app.config, channel.kind, &credentials)?)
}

/// The public URL of the channel's carrier webhook `hook` (`status`,
/// `sms-status`, …), which SPEC §7 puts under `/telephony/{provider}/`.
pub(crate) fn webhook_url(app: &App, channel: &Channel, hook: &str) -> String {
    format!(
        "{}/api/v1/telephony/{}/{}/{hook}",
        app.config.public_url,
        channel.kind.as_str(),
        channel.id
    )
}

async fn check_references(app: &App, tenant: &Tenant, spec: &ChannelSpec) -> Result<()> {
    if let Some(agent_id) = spec.default_agent_id()
        && app
            .table
            .get(&tenant.pk(), &resource_sk(super::agents::KIND, agent_id))
            .await?
            .is_none()
    {
        return Err(Error::field(
            "default_agent_id",
            "no agent with this id exists",
        ));
    }
    Ok(())
}

/// `GET /channels?type=&limit=&offset=&cursor=` — newest first.
pub async fn list(
    app: &App,
    caller: &Caller,
    kind: Option<&str>,
    req: &PageRequest,
) -> Result<PageOf<ChannelView>> {
    let kind = match kind.filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(ChannelType::parse(k).ok_or_else(|| {
            Error::field(
                "type",
                "must be one of twilio, plivo, telnyx, vonage, exotel, web, sim",
            )
        })?),
    };
    let only = kind.map(|k| ("type", Value::from(k.as_str())));
    list_counted::<Channel, _>(app, &caller.tenant, KIND, only, req, ChannelView::from).await
}

/// Creates a channel in a tenant with its global pointer (also used to seed
/// test mode).
pub async fn insert(app: &App, tenant: &Tenant, body: ChannelCreate) -> Result<Channel> {
    let spec = ChannelSpec::parse(body.0, &BTreeSet::new())?;
    check_references(app, tenant, &spec).await?;
    let now = app.now_rfc3339();
    let channel = spec.into_channel(
        app.new_id(),
        &BTreeMap::new(),
        &app.cipher,
        now.clone(),
        now,
    );
    let pointer = Write::Put(pointer(tenant, &channel.id), Condition::MustNotExist);
    insert_counted(app, tenant, KIND, item(tenant, &channel), vec![pointer]).await?;
    Ok(channel)
}

/// `POST /channels` (admin).
pub async fn create(app: &App, caller: &Caller, body: ChannelCreate) -> Result<ChannelView> {
    caller.require_admin()?;
    Ok(insert(app, &caller.tenant, body).await?.into())
}

/// `GET /channels/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<ChannelView> {
    Ok(load(app, &caller.tenant, id).await?.0.into())
}

/// `PATCH /channels/{id}` (admin): only the fields sent change. Within
/// `credentials`, only the names sent change (`null` removes one); a change
/// of `type` starts the credentials afresh, since another carrier's keys mean
/// nothing to the new one.
pub async fn update(
    app: &App,
    caller: &Caller,
    id: &str,
    patch: ChannelPatch,
) -> Result<ChannelView> {
    caller.require_admin()?;
    let (current, version) = load(app, &caller.tenant, id).await?;
    let merged = current.patched(patch);
    let same_type = matches!(&merged.kind, Field::Value(k) if k == current.kind.as_str());
    let kept = if same_type {
        current.credentials.clone()
    } else {
        BTreeMap::new()
    };
    let kept_names: BTreeSet<String> = kept.keys().cloned().collect();
    let spec = ChannelSpec::parse(merged, &kept_names)?;
    check_references(app, &caller.tenant, &spec).await?;
    let updated = spec.into_channel(
        current.id.clone(),
        &kept,
        &app.cipher,
        current.created_at.clone(),
        app.now_rfc3339(),
    );
    app.table
        .put(
            item(&caller.tenant, &updated),
            Condition::VersionEquals(version),
        )
        .await?;
    Ok(updated.into())
}

/// `DELETE /channels/{id}` (admin): the channel and its pointer go together.
pub async fn delete(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let (channel, version) = load(app, &caller.tenant, id).await?;
    let pointer = Write::Delete {
        pk: channel_pointer_pk(&channel.id),
        sk: CHANNEL_POINTER_SK.into(),
        condition: Condition::None,
    };
    delete_counted(
        app,
        &caller.tenant,
        KIND,
        &channel.id,
        version,
        vec![pointer],
    )
    .await?;
    Ok(DeletedView::of(id))
}

/// `POST /channels/providers/verify {type, credentials}` (admin) →
/// `{valid, phone_numbers}`: asks the carrier whether the credentials work
/// and which numbers the account has. Nothing is stored.
pub async fn verify_provider(
    app: &App,
    caller: &Caller,
    body: VerifyProviderInput,
) -> Result<ProviderCheckView> {
    caller.require_admin()?;
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a field of a provider check");
    let kind = f.req_parsed("type", body.kind, |s| {
        ChannelType::parse(s)
            .ok_or_else(|| "must be one of twilio, plivo, telnyx, vonage, exotel".to_owned())
    });
    if let Some(kind) = kind
        && !kind.is_carrier()
    {
        f.error(
            "type",
            format!(
                "{} channels have no provider account to verify",
                kind.as_str()
            ),
        );
    }
    if matches!(body.credentials, Field::Absent | Field::Null) {
        f.error("credentials", "is required");
    }
    let creds = parse_credentials(&mut f, body.credentials, kind, &BTreeSet::new());
    f.finish()?;
    let Some(kind) = kind else {
        return Err(Error::field("type", "is required"));
    };
    let carrier = match telephony::connect(&app.config, kind, &creds.set) {
        Ok(carrier) => carrier,
        Err(NoCarrier::Unsupported(_)) => {
            return Err(Error::field(
                "type",
                format!("verification for {} is not supported yet", kind.as_str()),
            ));
        }
        Err(e @ NoCarrier::NoCredentials(_)) => {
            return Err(Error::field("credentials", e.to_string()));
        }
    };
    let numbers = carrier.phone_numbers().await?;
    Ok(ProviderCheckView {
        valid: numbers.is_some(),
        phone_numbers: numbers.unwrap_or_default(),
    })
}
