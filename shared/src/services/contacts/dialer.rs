//! What the dialers (campaigns, the post-call job) need of the CRM: a contact
//! for a phone number, found or created however many callers race; whether a
//! number may be called (one read of its phone claim); and marking a number
//! do-not-call, keeping when and why it was first marked.

use super::{Clash, claim, load, store_new, store_update};
use crate::App;
use crate::domain::call::{Call, Direction};
use crate::domain::contact::{Contact, ContactSpec, phone_arg};
use crate::domain::{E164, Email, Tenant};
use crate::engine::report::Outcome;
use crate::error::{Error, Result};
use crate::services::table_keys::contact_phone_sk;

/// How many times a find-or-create goes round when it keeps losing races (each
/// round either finds the contact a racer created or creates it).
const ROUNDS: usize = 8;

/// The phone's claim: its contact and whether it is do-not-call.
async fn claimed(app: &App, tenant: &Tenant, phone: &E164) -> Result<Option<(String, bool)>> {
    let claim = claim(app, tenant, &contact_phone_sk(phone.as_str())).await?;
    Ok(claim.map(|c| (c.contact_id, c.do_not_call)))
}

/// A new contact for `phone` (not stored yet).
fn new_contact(app: &App, phone: E164, name: Option<String>, email: Option<Email>) -> Contact {
    let now = app.now_rfc3339();
    let spec = ContactSpec {
        name,
        phone: Some(phone),
        email,
        company: None,
        tags: Vec::new(),
        attributes: Default::default(),
        do_not_call: false,
        do_not_call_reason: None,
    };
    spec.into_contact(app.new_id(), None, now.clone(), now)
}

/// The id of the tenant's contact with `phone` (normalised to E.164),
/// created with `name` and `email` when there is none. Race-safe: the phone
/// claim is created in the contact's transaction, so concurrent calls for one
/// number all answer the same contact. An `email` that another contact holds
/// is left off the new contact (the phone decides who this is).
pub async fn link_by_phone(
    app: &App,
    tenant: &Tenant,
    phone: &str,
    name: Option<&str>,
    email: Option<&str>,
) -> Result<String> {
    let phone = phone_arg(phone)?;
    let name = name.map(str::trim).filter(|n| !n.is_empty()).map(|n| {
        n.chars()
            .take(crate::domain::contact::MAX_TEXT_CHARS)
            .collect()
    });
    let mut email = match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(Email::parse(e).map_err(|reason| Error::field("email", reason))?),
        None => None,
    };
    for _ in 0..ROUNDS {
        if let Some((id, _)) = claimed(app, tenant, &phone).await? {
            return Ok(id);
        }
        let contact = new_contact(app, phone.clone(), name.clone(), email.clone());
        match store_new(app, tenant, &contact).await? {
            Ok(()) => return Ok(contact.id),
            Err(Clash::Email) => email = None,
            // A racer created it: the next round finds it.
            Err(Clash::Phone | Clash::Changed) => {}
        }
    }
    Err(Error::Conflict(
        "the contact kept changing while it was linked; retry".into(),
    ))
}

/// Whether `phone` must not be called in this tenant: one read of its claim.
pub async fn is_do_not_call(app: &App, tenant: &Tenant, phone: &str) -> Result<bool> {
    let phone = phone_arg(phone)?;
    Ok(claimed(app, tenant, &phone)
        .await?
        .is_some_and(|(_, dnc)| dnc))
}

/// Marks `phone` do-not-call, creating its contact when there is none.
/// Idempotent: a number already marked keeps the time and reason it was
/// first marked with.
pub async fn mark_do_not_call(app: &App, tenant: &Tenant, phone: &str, reason: &str) -> Result<()> {
    let phone = phone_arg(phone)?;
    let reason: String = reason
        .trim()
        .chars()
        .take(crate::domain::contact::MAX_REASON_CHARS)
        .collect();
    for _ in 0..ROUNDS {
        let result = match claimed(app, tenant, &phone).await? {
            Some((_, true)) => return Ok(()),
            Some((id, false)) => {
                let (current, version) = match load(app, tenant, &id).await {
                    Ok(c) => c,
                    // Deleted since the claim was read: go round.
                    Err(Error::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let now = app.now_rfc3339();
                let mut updated = current.clone();
                updated.do_not_call = true;
                updated.do_not_call_at = Some(now.clone());
                updated.do_not_call_reason = Some(reason.clone());
                updated.updated_at = now;
                store_update(app, tenant, &current, version, &updated).await?
            }
            None => {
                let mut contact = new_contact(app, phone.clone(), None, None);
                contact.do_not_call = true;
                contact.do_not_call_at = Some(contact.created_at.clone());
                contact.do_not_call_reason = Some(reason.clone());
                store_new(app, tenant, &contact).await?
            }
        };
        // Otherwise a racer changed the contact or created it: read again.
        if result.is_ok() {
            return Ok(());
        }
    }
    Err(Error::Conflict(
        "the contact kept changing while it was marked do-not-call; retry".into(),
    ))
}

/// The post-call hook: a callee who asked not to be called again (the
/// report's outcome `do_not_call`, in any call) has their number marked
/// do-not-call. Idempotent, so a redelivered `call.completed` changes nothing.
pub async fn after_call(app: &App, tenant: &Tenant, call: &Call) -> Result<()> {
    if call.report.as_ref().map(|r| r.outcome) != Some(Outcome::DoNotCall) {
        return Ok(());
    }
    // The callee's number: the one dialed, or the one that called in.
    let number = match call.direction {
        Direction::Outbound => &call.to,
        Direction::Inbound => &call.from,
        Direction::Web => return Ok(()),
    };
    if E164::parse(number).is_err() {
        tracing::warn!(call = %call.id, "a do-not-call request from a number that is not E.164");
        return Ok(());
    }
    let reason = format!("asked not to be called again (call {})", call.id);
    mark_do_not_call(app, tenant, number, &reason).await
}
