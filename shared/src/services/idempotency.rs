//! Stored responses for `Idempotency-Key` (SPEC §1): the same key and body
//! within 24 h replays the first response; another body is a 409.

use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::keys::idempotency_pk;
use crate::App;
use crate::error::{Error, Result};
use crate::store::{Condition, Item, StoreError};

/// How long a key is remembered.
pub const TTL_SECONDS: i64 = 24 * 3600;

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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    response: Option<StoredResponse>,
}

/// What to do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// First time: run it, then [`complete`] or [`release`].
    Run,
    /// Seen with the same body: send this again.
    Replay(StoredResponse),
}

fn key_parts(caller: &Caller, key: &str) -> (String, String) {
    (
        idempotency_pk(&caller.principal_id()),
        format!("{}#{}#{key}", caller.tenant.org_id, caller.tenant.pk()),
    )
}

/// Checks the key: reserves it for this request, or returns the response to
/// replay. `fingerprint` identifies the request (method, path, body hash).
pub async fn claim(app: &App, caller: &Caller, key: &str, fingerprint: &str) -> Result<Claim> {
    if key.is_empty() || key.len() > 255 {
        return Err(Error::BadRequest(
            "Idempotency-Key must be 1 to 255 characters".into(),
        ));
    }
    let (pk, sk) = key_parts(caller, key);
    let record = Record {
        fingerprint: fingerprint.to_owned(),
        response: None,
    };
    let item = Item::new(
        pk.clone(),
        sk.clone(),
        serde_json::to_value(&record).unwrap_or_default(),
    )
    .with_ttl(app.now().timestamp() + TTL_SECONDS);
    match app.table.put(item, Condition::MustNotExist).await {
        Ok(_) => Ok(Claim::Run),
        Err(StoreError::ConditionFailed) => {
            let Some(existing) = app.table.get(&pk, &sk).await? else {
                return Err(Error::Conflict(
                    "a request with this Idempotency-Key just expired; retry".into(),
                ));
            };
            let existing: Record = existing.parse()?;
            if existing.fingerprint != fingerprint {
                return Err(Error::Conflict(
                    "this Idempotency-Key was used with a different request".into(),
                ));
            }
            match existing.response {
                Some(r) => Ok(Claim::Replay(r)),
                None => Err(Error::Conflict(
                    "a request with this Idempotency-Key is still in progress".into(),
                )),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Stores the response of a claimed request.
pub async fn complete(
    app: &App,
    caller: &Caller,
    key: &str,
    fingerprint: &str,
    response: StoredResponse,
) -> Result<()> {
    let (pk, sk) = key_parts(caller, key);
    let record = Record {
        fingerprint: fingerprint.to_owned(),
        response: Some(response),
    };
    let item = Item::new(pk, sk, serde_json::to_value(&record).unwrap_or_default())
        .with_ttl(app.now().timestamp() + TTL_SECONDS);
    app.table.put(item, Condition::MustExist).await?;
    Ok(())
}

/// Forgets a claim whose request failed on our side, so the client may retry.
pub async fn release(app: &App, caller: &Caller, key: &str) -> Result<()> {
    let (pk, sk) = key_parts(caller, key);
    app.table.delete(&pk, &sk, Condition::None).await?;
    Ok(())
}
