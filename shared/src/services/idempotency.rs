//! Stored responses for `Idempotency-Key` (SPEC §1): the same key and body
//! within 24 h replays the first response; another body is a 409.
//!
//! Three rules keep the record honest:
//! * a claim is a **lease** of [`LEASE_SECONDS`]: a request that crashed
//!   before answering blocks its key only that long, then a retry takes over;
//! * what is kept of a response is **sealed** with the app's cipher, never
//!   stored in clear;
//! * a response that carried a secret shown once (a new API key, an invite
//!   token, a session cookie) or that was too large to keep is **withheld**:
//!   a retry learns that the request already succeeded (409, with the id of
//!   what it created) instead of running it again or seeing the secret again.

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::table_keys::idempotency_pk;
use crate::App;
use crate::error::{Error, Result};
use crate::store::{Condition, Item, StoreError};

/// How long a key is remembered.
pub const TTL_SECONDS: i64 = 24 * 3600;

/// How long a claim holds its key without an answer: longer than any request
/// runs (the local server and API Gateway both stop a request within 30 s).
pub const LEASE_SECONDS: i64 = 60;

/// A finished response kept for replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: Option<String>,
    /// Body.
    pub body: String,
}

/// Why a finished response is not replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithheldReason {
    /// It carried a secret that is shown only once.
    OneTimeSecret,
    /// It was larger than a record keeps.
    TooLarge,
}

/// What is remembered of a request that finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The response, replayed as it was.
    Response(StoredResponse),
    /// The request succeeded; its response is not replayed.
    Withheld {
        /// The status it answered.
        status: u16,
        /// The id of what it created, when the response named one.
        resource_id: Option<String>,
        /// Why it is not replayed.
        reason: WithheldReason,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    /// Unix seconds until which the claiming request owns the key.
    #[serde(default)]
    lease_until: i64,
    /// The [`Outcome`] as JSON, sealed with the app's cipher.
    #[serde(default)]
    sealed: Option<String>,
    /// Records written before outcomes were sealed kept the response in
    /// clear here; such a request finished, but its body is not replayed.
    #[serde(default, skip_serializing)]
    response: Option<serde_json::Value>,
}

/// Proof that this request holds the key: the record version it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    version: u64,
}

/// What to do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First time (or the previous holder's lease ran out): run it, then
    /// [`complete`] or [`release`] with this lease.
    Run(Lease),
    /// Seen with the same body and finished: answer this.
    Done(Outcome),
}

fn key_parts(caller: &Caller, key: &str) -> (String, String) {
    (
        idempotency_pk(&caller.principal_id()),
        format!("{}#{}#{key}", caller.tenant.org_id, caller.tenant.pk()),
    )
}

fn record_item(app: &App, pk: &str, sk: &str, record: &Record) -> Result<Item> {
    let data = serde_json::to_value(record)
        .map_err(|e| Error::Internal(format!("encoding an idempotency record: {e}")))?;
    Ok(Item::new(pk, sk, data).with_ttl(app.now().timestamp() + TTL_SECONDS))
}

/// Checks the key: leases it to this request, or returns what the request
/// already answered. `fingerprint` identifies the request (method, path,
/// body hash).
pub async fn claim(app: &App, caller: &Caller, key: &str, fingerprint: &str) -> Result<Claim> {
    if key.is_empty() || key.len() > 255 {
        return Err(Error::BadRequest(
            "Idempotency-Key must be 1 to 255 characters".into(),
        ));
    }
    let (pk, sk) = key_parts(caller, key);
    let now = app.now().timestamp();
    let fresh = Record {
        fingerprint: fingerprint.to_owned(),
        lease_until: now + LEASE_SECONDS,
        sealed: None,
        response: None,
    };
    let item = record_item(app, &pk, &sk, &fresh)?;
    let existing = match app.table.put(item.clone(), Condition::MustNotExist).await {
        Ok(written) => {
            return Ok(Claim::Run(Lease {
                version: written.version,
            }));
        }
        Err(StoreError::ConditionFailed) => app.table.get(&pk, &sk).await?,
        Err(e) => return Err(e.into()),
    };
    let Some(existing) = existing else {
        return Err(Error::Conflict(
            "a request with this Idempotency-Key just expired; retry".into(),
        ));
    };
    let record: Record = existing.parse()?;
    if record.fingerprint != fingerprint {
        return Err(Error::Conflict(
            "this Idempotency-Key was used with a different request".into(),
        ));
    }
    if let Some(sealed) = &record.sealed {
        let json = app
            .cipher
            .open(sealed)
            .map_err(|e| Error::Internal(format!("opening an idempotency record: {e}")))?;
        let outcome = serde_json::from_str(&json)
            .map_err(|e| Error::Internal(format!("corrupt idempotency record: {e}")))?;
        return Ok(Claim::Done(outcome));
    }
    if let Some(legacy) = &record.response {
        return Ok(Claim::Done(Outcome::Withheld {
            status: legacy["status"].as_u64().unwrap_or(200) as u16,
            resource_id: None,
            reason: WithheldReason::OneTimeSecret,
        }));
    }
    if record.lease_until > now {
        return Err(Error::Conflict(format!(
            "a request with this Idempotency-Key is still in progress; retry after {} s",
            record.lease_until - now
        )));
    }
    // The holder's lease ran out (it crashed or was cut off): take over,
    // unless another retry took over first.
    match app
        .table
        .put(item, Condition::VersionEquals(existing.version))
        .await
    {
        Ok(written) => Ok(Claim::Run(Lease {
            version: written.version,
        })),
        Err(StoreError::ConditionFailed) => Err(Error::Conflict(
            "a request with this Idempotency-Key is still in progress".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Stores what a claimed request answered, sealed. Fails with a conflict
/// when the lease was lost to a retry that took over (that retry's answer
/// is the one kept).
pub async fn complete(
    app: &App,
    caller: &Caller,
    key: &str,
    lease: Lease,
    fingerprint: &str,
    outcome: &Outcome,
) -> Result<()> {
    let (pk, sk) = key_parts(caller, key);
    let json = serde_json::to_string(outcome)
        .map_err(|e| Error::Internal(format!("encoding an idempotent response: {e}")))?;
    let record = Record {
        fingerprint: fingerprint.to_owned(),
        lease_until: 0,
        sealed: Some(app.cipher.seal(&json)),
        response: None,
    };
    let item = record_item(app, &pk, &sk, &record)?;
    match app
        .table
        .put(item, Condition::VersionEquals(lease.version))
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(Error::Conflict(
            "the Idempotency-Key lease ran out and another request took it over".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Forgets a claim whose request failed on our side, so the client may
/// retry at once (a no-op when the lease was already taken over).
pub async fn release(app: &App, caller: &Caller, key: &str, lease: Lease) -> Result<()> {
    let (pk, sk) = key_parts(caller, key);
    match app
        .table
        .delete(&pk, &sk, Condition::VersionEquals(lease.version))
        .await
    {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
