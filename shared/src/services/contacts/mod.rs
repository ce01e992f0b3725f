//! CRM contacts (SPEC §12): CRUD with a phone and an e-mail each unique per
//! org, search, and the do-not-call list the dialer reads ([`dialer`]).
//!
//! A contact's phone and e-mail are claim items keyed by their value
//! (`CONTACTPHONE#<e164>`, `CONTACTEMAIL#<email>`), and each word of its name
//! an index item (`CONTACTNAME#<word>#<id>`). All of them are written in the
//! same conditional transaction as the contact, so two contacts can never
//! share a phone however many requests race, a changed phone moves its claim
//! atomically, and an exact or prefix lookup is a key read, not a scan.

mod dialer;
mod search;

pub use dialer::{after_call, is_do_not_call, link_by_phone, mark_do_not_call};
pub use search::{ContactFilter, list};

use serde_json::json;

use super::caller::Caller;
use super::repository::{delete_counted, insert_counted, load_resource};
use super::table_keys::*;
use super::views::{ContactView, DeletedView};
use crate::App;
use crate::domain::Tenant;
use crate::domain::contact::{Contact, ContactCreate, ContactPatch, ContactSpec};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, StoreError, Write};

/// Resource kind in sort keys.
pub const KIND: &str = "CONTACT";

fn item(tenant: &Tenant, contact: &Contact) -> Item {
    let item = Item::new(
        tenant.pk(),
        resource_sk(KIND, &contact.id),
        serde_json::to_value(contact).unwrap_or_default(),
    );
    // Only do-not-call contacts are in this index, so `?do_not_call=true`
    // reads just them.
    if contact.do_not_call {
        item.with_gsi2(contacts_dnc_index(tenant), resource_sk(KIND, &contact.id))
    } else {
        item
    }
}

fn phone_claim(tenant: &Tenant, contact: &Contact, phone: &str) -> Item {
    Item::new(
        tenant.pk(),
        contact_phone_sk(phone),
        json!({"contact_id": contact.id, "do_not_call": contact.do_not_call}),
    )
}

fn email_claim(tenant: &Tenant, contact: &Contact, email: &str) -> Item {
    Item::new(
        tenant.pk(),
        contact_email_sk(email),
        json!({"contact_id": contact.id}),
    )
}

fn name_item(tenant: &Tenant, contact: &Contact, word: &str, words: &[String]) -> Item {
    Item::new(
        tenant.pk(),
        contact_name_sk(word, &contact.id),
        json!({"contact_id": contact.id, "word": word, "words": words}),
    )
}

fn delete(pk: String, sk: String) -> Write {
    Write::Delete {
        pk,
        sk,
        condition: Condition::None,
    }
}

/// The writes besides the contact item that take a contact from `old` to
/// `new` (either may be absent): its phone and e-mail claims (a new claim
/// must not exist yet) and its name words.
fn index_writes(tenant: &Tenant, old: Option<&Contact>, new: Option<&Contact>) -> Vec<Write> {
    let mut writes = Vec::new();
    let old_phone = old.and_then(|c| c.phone.as_ref()).map(|p| p.as_str());
    let new_phone = new.and_then(|c| c.phone.as_ref()).map(|p| p.as_str());
    if let Some(p) = old_phone.filter(|p| Some(*p) != new_phone) {
        writes.push(delete(tenant.pk(), contact_phone_sk(p)));
    }
    if let (Some(c), Some(p)) = (new, new_phone) {
        // The claim carries the do-not-call flag, so it is rewritten with
        // every change of the contact that keeps it.
        let condition = if old_phone == Some(p) {
            Condition::MustExist
        } else {
            Condition::MustNotExist
        };
        writes.push(Write::Put(phone_claim(tenant, c, p), condition));
    }
    let old_email = old.and_then(|c| c.email.as_ref()).map(|e| e.as_str());
    let new_email = new.and_then(|c| c.email.as_ref()).map(|e| e.as_str());
    if old_email != new_email {
        if let Some(e) = old_email {
            writes.push(delete(tenant.pk(), contact_email_sk(e)));
        }
        if let (Some(c), Some(e)) = (new, new_email) {
            writes.push(Write::Put(
                email_claim(tenant, c, e),
                Condition::MustNotExist,
            ));
        }
    }
    let old_words = old.map(Contact::name_terms).unwrap_or_default();
    let new_words = new.map(Contact::name_terms).unwrap_or_default();
    if old_words != new_words {
        if let Some(o) = old {
            for w in old_words.iter().filter(|w| !new_words.contains(w)) {
                writes.push(delete(tenant.pk(), contact_name_sk(w, &o.id)));
            }
        }
        if let Some(c) = new {
            for w in &new_words {
                let word = name_item(tenant, c, w, &new_words);
                writes.push(Write::Put(word, Condition::None));
            }
        }
    }
    writes
}

/// Why a contact write did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clash {
    /// Another contact holds the phone.
    Phone,
    /// Another contact holds the e-mail.
    Email,
    /// The contact changed (or was created or deleted) meanwhile.
    Changed,
}

impl Clash {
    /// What the client hears: 409 naming the value another contact holds.
    fn error(self, contact: &Contact) -> Error {
        let shown = |v: Option<&str>| v.unwrap_or_default().to_owned();
        Error::Conflict(match self {
            Clash::Phone => format!(
                "a contact with phone {} already exists",
                shown(contact.phone.as_ref().map(|p| p.as_str()))
            ),
            Clash::Email => format!(
                "a contact with email {} already exists",
                shown(contact.email.as_ref().map(|e| e.as_str()))
            ),
            Clash::Changed => "the contact was changed concurrently; retry".into(),
        })
    }
}

/// After a failed conditional write of `contact`: which claim another
/// contact holds, if one does.
async fn clash(app: &App, tenant: &Tenant, contact: &Contact) -> Result<Clash> {
    if let Some(phone) = &contact.phone
        && let Some(held) = claim(app, tenant, &contact_phone_sk(phone.as_str())).await?
        && held.contact_id != contact.id
    {
        return Ok(Clash::Phone);
    }
    if let Some(email) = &contact.email
        && let Some(held) = claim(app, tenant, &contact_email_sk(email.as_str())).await?
        && held.contact_id != contact.id
    {
        return Ok(Clash::Email);
    }
    Ok(Clash::Changed)
}

/// What a phone or e-mail claim holds.
#[derive(Debug, serde::Deserialize)]
struct Claim {
    /// The contact that has the phone or e-mail.
    contact_id: String,
    /// Whether that contact is do-not-call (phone claims only).
    #[serde(default)]
    do_not_call: bool,
}

/// Reads the claim at `sk` (`CONTACTPHONE#…`, `CONTACTEMAIL#…`).
async fn claim(app: &App, tenant: &Tenant, sk: &str) -> Result<Option<Claim>> {
    match app.table.get(&tenant.pk(), sk).await? {
        Some(item) => Ok(Some(item.parse()?)),
        None => Ok(None),
    }
}

/// Reads a contact of the tenant; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Contact, u64)> {
    load_resource(app, tenant, KIND, "contact", id).await
}

/// Stores a new contact with its claims, all or none; `Err(clash)` when a
/// claim is held.
async fn store_new(app: &App, tenant: &Tenant, contact: &Contact) -> Result<Result<(), Clash>> {
    let also = index_writes(tenant, None, Some(contact));
    match insert_counted(app, tenant, KIND, item(tenant, contact), also).await {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::ConditionFailed) => Ok(Err(clash(app, tenant, contact).await?)),
        Err(e) => Err(e.into()),
    }
}

/// Replaces the contact stored at `version` by `updated`, moving its claims
/// and name words in the same transaction; `Err(clash)` when that failed.
async fn store_update(
    app: &App,
    tenant: &Tenant,
    current: &Contact,
    version: u64,
    updated: &Contact,
) -> Result<Result<(), Clash>> {
    let mut writes = vec![Write::Put(
        item(tenant, updated),
        Condition::VersionEquals(version),
    )];
    writes.extend(index_writes(tenant, Some(current), Some(updated)));
    match app.table.transact(writes).await {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::ConditionFailed) => Ok(Err(clash(app, tenant, updated).await?)),
        Err(e) => Err(e.into()),
    }
}

/// Creates a contact in a tenant from a create body.
pub async fn insert(app: &App, tenant: &Tenant, body: ContactCreate) -> Result<Contact> {
    let spec = ContactSpec::parse(body.0)?;
    let now = app.now_rfc3339();
    let contact = spec.into_contact(app.new_id(), None, now.clone(), now);
    store_new(app, tenant, &contact)
        .await?
        .map_err(|c| c.error(&contact))?;
    Ok(contact)
}

/// `POST /contacts`.
pub async fn create(app: &App, caller: &Caller, body: ContactCreate) -> Result<ContactView> {
    Ok(insert(app, &caller.tenant, body).await?.into())
}

/// `GET /contacts/{id}`.
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<ContactView> {
    Ok(load(app, &caller.tenant, id).await?.0.into())
}

/// `PATCH /contacts/{id}`: the fields sent change (`null` clears one), the
/// result is validated whole; a changed phone or e-mail moves its claim.
pub async fn update(
    app: &App,
    caller: &Caller,
    id: &str,
    patch: ContactPatch,
) -> Result<ContactView> {
    let tenant = &caller.tenant;
    let (current, version) = load(app, tenant, id).await?;
    let spec = ContactSpec::parse(current.patched(patch))?;
    let updated = spec.into_contact(
        current.id.clone(),
        Some(&current),
        current.created_at.clone(),
        app.now_rfc3339(),
    );
    store_update(app, tenant, &current, version, &updated)
        .await?
        .map_err(|c| c.error(&updated))?;
    Ok(updated.into())
}

/// `DELETE /contacts/{id}` (admin): the contact, its claims and name words.
pub async fn remove(app: &App, caller: &Caller, id: &str) -> Result<DeletedView> {
    caller.require_admin()?;
    let tenant = &caller.tenant;
    let (contact, version) = load(app, tenant, id).await?;
    let also = index_writes(tenant, Some(&contact), None);
    delete_counted(app, tenant, KIND, &contact.id, version, also).await?;
    Ok(DeletedView::of(id))
}
