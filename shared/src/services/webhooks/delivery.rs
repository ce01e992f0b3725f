//! Delivery records and the webhook queue: enqueueing (idempotent per record
//! id), the fan-out of an event to the org's endpoints, and one attempt of
//! the worker (sign, POST through the guarded client, record, decide).

use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{endpoints_of, load_endpoint, task_secret_of};
use crate::App;
use crate::app::MAX_RECEIVES;
use crate::domain::webhook::{Delivery, DeliveryAttempt, DeliveryStatus};
use crate::domain::{Mode, Tenant};
use crate::engine::signing::WebhookSecret;
use crate::error::{Error, Result};
use crate::net::{Method, NetError, OutboundRequest};
use crate::services::events::Event;
use crate::services::table_keys::*;
use crate::store::{Condition, Item, StoreError};

/// Resource kind of delivery records in sort keys.
pub const KIND: &str = "WHDELIVERY";
/// The queue deliveries travel on.
pub const QUEUE: &str = "webhooks";
/// How long an endpoint has to answer (SPEC §13).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a response body a delivery record keeps.
pub const EXCERPT_BYTES: usize = 1024;
/// Attempts per (re)delivery: the queue's receive count, after which the
/// message is in the dead-letter queue (`MAX_RECEIVES`, `maxReceiveCount`).
pub const MAX_ATTEMPTS: u32 = MAX_RECEIVES;
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2 * 3600);
/// How long delivery records are kept.
const RETENTION_SECS: i64 = 30 * 24 * 3600;

/// The webhook queue's message: which record to attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    /// The delivery record.
    pub delivery_id: String,
    /// Its org.
    pub org_id: String,
    /// Its partition.
    pub mode: Mode,
    /// Who receives it: the endpoint id, or a task URL's origin. Workers
    /// bound how many deliveries to one receiver run at once by it.
    #[serde(default)]
    pub receiver: String,
}

/// What the queue should do with a message after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// Delete it: delivered, or nothing left to do.
    Done,
    /// Keep it hidden this long, then try again.
    Retry(Duration),
    /// The last attempt failed: make it visible now so the queue moves it
    /// to its dead-letter queue (the record already says `failed`).
    DeadLetter,
}

impl Attempted {
    /// The visibility to give a message that is kept (`None`: delete it).
    pub fn keep_for(self) -> Option<Duration> {
        match self {
            Attempted::Done => None,
            Attempted::Retry(after) => Some(after),
            Attempted::DeadLetter => Some(Duration::ZERO),
        }
    }
}

fn tenant_of(org_id: &str, mode: Mode) -> Tenant {
    Tenant {
        org_id: org_id.to_owned(),
        mode,
    }
}

fn item(app: &App, tenant: &Tenant, d: &Delivery) -> Item {
    let index = match &d.webhook_id {
        Some(w) => webhook_deliveries_index(tenant, w),
        None => task_deliveries_index(tenant),
    };
    let created = chrono::DateTime::parse_from_rfc3339(&d.created_at)
        .map(|t| t.timestamp())
        .unwrap_or_else(|_| app.now().timestamp());
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &d.id),
        serde_json::to_value(d).unwrap_or_default(),
    )
    .with_gsi1(index, resource_sk(KIND, &d.id))
    .with_ttl(created + RETENTION_SECS)
}

/// Reads a delivery record of the tenant with its version.
pub(super) async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Delivery, u64)> {
    crate::services::repository::load_resource(app, tenant, KIND, "delivery", id).await
}

/// Re-reads the record and applies `change` under its version, a few times
/// if a concurrent writer (a duplicate message, a redeliver) got there
/// first. `change` returns false to leave the record as it is.
async fn update(
    app: &App,
    tenant: &Tenant,
    id: &str,
    mut change: impl FnMut(&mut Delivery) -> bool,
) -> Result<Option<Delivery>> {
    for _ in 0..4 {
        let (mut d, version) = load(app, tenant, id).await?;
        if !change(&mut d) {
            return Ok(None);
        }
        match app
            .table
            .put(item(app, tenant, &d), Condition::VersionEquals(version))
            .await
        {
            Ok(_) => return Ok(Some(d)),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "the delivery was changed concurrently; retry".into(),
    ))
}

/// Stores `delivery` (unless a record with its id exists) and queues it
/// once: a record whose message was already sent is left alone, so calling
/// this again for the same id enqueues nothing twice.
pub(super) async fn enqueue(app: &App, tenant: &Tenant, delivery: Delivery) -> Result<()> {
    let id = delivery.id.clone();
    match app
        .table
        .put(item(app, tenant, &delivery), Condition::MustNotExist)
        .await
    {
        Ok(_) => {}
        Err(StoreError::ConditionFailed) => {
            if load(app, tenant, &id).await?.0.enqueued {
                return Ok(());
            }
        }
        Err(e) => return Err(e.into()),
    }
    send(app, tenant, &delivery).await
}

/// Sends the queue message of `delivery` and notes that it was sent.
async fn send(app: &App, tenant: &Tenant, delivery: &Delivery) -> Result<()> {
    let id = delivery.id.as_str();
    let receiver = match &delivery.webhook_id {
        Some(w) => w.clone(),
        None => reqwest::Url::parse(&delivery.url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| delivery.url.clone()),
    };
    let message = DeliveryMessage {
        delivery_id: id.to_owned(),
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        receiver,
    };
    let body = serde_json::to_string(&message).map_err(|e| Error::Internal(e.to_string()))?;
    app.queue(QUEUE)?.send(&body, Duration::ZERO).await?;
    update(app, tenant, id, |d| {
        !std::mem::replace(&mut d.enqueued, true)
    })
    .await?;
    Ok(())
}

/// The id of what `event` causes for `other` (a delivery to an endpoint, an
/// automation's run): a UUIDv7 with the event's time and bits hashed from
/// the pair, so handling an event twice names the same record.
pub(crate) fn derived_id(app: &App, event_id: &str, other: &str) -> String {
    let millis = uuid::Uuid::parse_str(event_id)
        .ok()
        .and_then(|u| u.get_timestamp())
        .map(|t| {
            let (secs, nanos) = t.to_unix();
            secs * 1000 + u64::from(nanos) / 1_000_000
        })
        .unwrap_or_else(|| app.now().timestamp_millis().max(0) as u64);
    let digest = Sha256::digest(format!("{event_id}\n{other}").as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

/// Fans `event` out to its org's active endpoints subscribed to its type:
/// one delivery record and one queue message per endpoint, at most once per
/// (event, endpoint) however often the event is handled. Returns how many
/// endpoints it is for.
pub(crate) async fn fan_out(app: &App, event: &Event) -> Result<usize> {
    let tenant = tenant_of(&event.org_id, event.mode);
    let body = json!({
        "type": event.event_type,
        "timestamp": event.created_at,
        "data": event.data,
    });
    let mut count = 0;
    for endpoint in endpoints_of(app, &tenant).await? {
        if !endpoint.wants(&event.event_type) {
            continue;
        }
        let delivery = Delivery::new(
            derived_id(app, &event.id, &endpoint.id),
            Some(endpoint.id.clone()),
            Some(event.id.clone()),
            event.event_type.clone(),
            endpoint.url.clone(),
            body.clone(),
            app.now_rfc3339(),
        );
        enqueue(app, &tenant, delivery).await?;
        count += 1;
    }
    Ok(count)
}

/// The wait before attempt `attempt + 1`: `base × 5^(attempt-1)`, capped,
/// with "equal jitter" (half fixed, half random) so endpoints that failed
/// together do not retry together.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(12);
    let full = base
        .saturating_mul(5u32.saturating_pow(exp))
        .min(MAX_BACKOFF);
    let half = full / 2;
    let jitter_ms = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

/// The secret a delivery is signed with now, or why it can no longer be sent.
async fn secret_for(
    app: &App,
    tenant: &Tenant,
    d: &Delivery,
) -> Result<std::result::Result<WebhookSecret, String>> {
    let sealed = match &d.webhook_id {
        Some(w) => match load_endpoint(app, tenant, w).await {
            Ok((endpoint, _)) => endpoint.secret,
            Err(Error::NotFound(_)) => return Ok(Err("the webhook endpoint was deleted".into())),
            Err(e) => return Err(e),
        },
        None => task_secret_of(app, tenant).await?,
    };
    let text = sealed
        .open(&app.cipher)
        .map_err(|e| Error::Internal(format!("opening a webhook secret: {e}")))?;
    WebhookSecret::parse(&text)
        .map(Ok)
        .map_err(|e| Error::Internal(format!("a stored webhook secret is invalid: {e}")))
}

/// One attempt of the delivery a webhook-queue message names; `attempt` is
/// the message's receive count (1 on the first). The record is updated with
/// the attempt either way; the result says what the queue does next.
/// `Err` is a store failure: the message is retried as any failed one.
pub async fn deliver(app: &App, body: &str, attempt: u32) -> Result<Attempted> {
    let message: DeliveryMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "dropping a malformed webhook message");
            return Ok(Attempted::Done);
        }
    };
    let tenant = tenant_of(&message.org_id, message.mode);
    let d = match load(app, &tenant, &message.delivery_id).await {
        Ok((d, _)) => d,
        Err(Error::NotFound(_)) => return Ok(Attempted::Done),
        Err(e) => return Err(e),
    };
    if d.status != DeliveryStatus::Pending {
        // A duplicate message of a finished delivery.
        return Ok(Attempted::Done);
    }
    let secret = match secret_for(app, &tenant, &d).await? {
        Ok(s) => s,
        Err(reason) => {
            finish(app, &tenant, &d.id, attempt_without_response(app, &reason)).await?;
            return Ok(Attempted::Done);
        }
    };
    let payload = serde_json::to_vec(&d.payload).map_err(|e| Error::Internal(e.to_string()))?;
    let mut request = OutboundRequest::new(Method::POST, d.url.clone())
        .header("content-type", "application/json")
        .timeout(TIMEOUT)
        .without_redirects()
        .body_excerpt(EXCERPT_BYTES);
    for (name, value) in secret.headers(&d.id, app.now().timestamp(), &payload) {
        request = request.header(name, value);
    }
    let request = request.body(payload);
    let at = app.now_rfc3339();
    let started = Instant::now();
    let result = app.net.send(request).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (status_code, error, excerpt, refused) = match &result {
        Ok(r) => {
            let error = (!(200..300).contains(&r.status))
                .then(|| format!("the endpoint answered {}", r.status));
            (Some(r.status), error, Some(r.text()), false)
        }
        Err(e) => {
            let refused = matches!(
                e,
                NetError::Blocked { .. } | NetError::InvalidUrl(_) | NetError::InvalidRequest(_)
            );
            (None, Some(e.to_string()), None, refused)
        }
    };
    let record = DeliveryAttempt {
        at: at.clone(),
        status_code,
        latency_ms,
        error: error.clone(),
    };
    let outcome = if error.is_none() {
        Attempted::Done
    } else if refused {
        // The destination itself is refused: retrying cannot help.
        Attempted::Done
    } else if attempt >= MAX_ATTEMPTS {
        Attempted::DeadLetter
    } else {
        Attempted::Retry(backoff(app.config.webhook_retry_base, attempt))
    };
    let next_at = match outcome {
        Attempted::Retry(after) => Some(crate::domain::rfc3339(
            app.now() + chrono::Duration::milliseconds(after.as_millis() as i64),
        )),
        _ => None,
    };
    let delivered = error.is_none();
    update(app, &tenant, &d.id, |d| {
        if d.status != DeliveryStatus::Pending {
            return false;
        }
        d.record(record.clone());
        d.enqueued = true;
        d.response_excerpt = excerpt.clone();
        d.next_attempt_at = next_at.clone();
        if delivered {
            d.status = DeliveryStatus::Delivered;
            d.delivered_at = Some(at.clone());
        } else if !matches!(outcome, Attempted::Retry(_)) {
            d.status = DeliveryStatus::Failed;
        }
        true
    })
    .await?;
    tracing::info!(
        delivery = %d.id,
        attempt,
        status = ?status_code,
        latency_ms,
        ?outcome,
        "webhook delivery attempt"
    );
    Ok(outcome)
}

fn attempt_without_response(app: &App, reason: &str) -> DeliveryAttempt {
    DeliveryAttempt {
        at: app.now_rfc3339(),
        status_code: None,
        latency_ms: 0,
        error: Some(reason.to_owned()),
    }
}

/// Marks a pending delivery failed with `attempt` as its last.
async fn finish(app: &App, tenant: &Tenant, id: &str, attempt: DeliveryAttempt) -> Result<()> {
    update(app, tenant, id, |d| {
        if d.status != DeliveryStatus::Pending {
            return false;
        }
        d.record(attempt.clone());
        d.status = DeliveryStatus::Failed;
        d.next_attempt_at = None;
        true
    })
    .await?;
    Ok(())
}

/// Puts a finished delivery back on the queue (attempts start over).
pub(super) async fn requeue(app: &App, tenant: &Tenant, id: &str) -> Result<Delivery> {
    let mut busy = false;
    let changed = update(app, tenant, id, |d| {
        if d.status == DeliveryStatus::Pending {
            busy = true;
            return false;
        }
        d.status = DeliveryStatus::Pending;
        d.enqueued = false;
        d.next_attempt_at = None;
        d.delivered_at = None;
        true
    })
    .await?;
    let Some(d) = changed.filter(|_| !busy) else {
        return Err(Error::Conflict(
            "the delivery is already queued; wait for it to finish".into(),
        ));
    };
    send(app, tenant, &d).await?;
    Ok(load(app, tenant, id).await?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_fivefold_with_bounded_jitter() {
        let base = Duration::from_secs(30);
        for attempt in 1..=4 {
            let full = base * 5u32.pow(attempt - 1);
            for _ in 0..50 {
                let d = backoff(base, attempt);
                assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
            }
        }
        assert!(backoff(base, 30) <= MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn the_dead_letter_outcome_makes_the_message_visible_at_once() {
        assert_eq!(Attempted::Done.keep_for(), None);
        assert_eq!(Attempted::DeadLetter.keep_for(), Some(Duration::ZERO));
        let d = Duration::from_secs(3);
        assert_eq!(Attempted::Retry(d).keep_for(), Some(d));
    }
}
