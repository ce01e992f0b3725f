//! Outgoing SMS (a person's reply, the AI's answer): never lost. The
//! message is stored first with `delivery: queued`, then a job on the
//! outbound-delivery queue (the webhook queue: the same retry timer, the
//! same dead-letter queue, no second worker to deploy) hands it to the
//! channel's carrier (Twilio's Messages API). A transient failure (the
//! carrier unreachable, 5xx, 429) is retried with the webhook backoff;
//! after the last attempt, or at once when the carrier refuses the message
//! (a 4xx with its code), the message is `failed` with the reason. The job
//! is idempotent: a message the carrier already took (its id noted) is not
//! sent again.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::App;
use crate::domain::conversation::{Delivery, DeliveryStatus, Message};
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};
use crate::services::table_keys::*;
use crate::services::webhooks::delivery::{MAX_ATTEMPTS, QUEUE, backoff};
use crate::store::{Condition, Item, StoreError};
use crate::telephony::{Carrier, SendFailure, Sms};

/// How long a sent message's SID finds it (Twilio's status callbacks come
/// within hours; days are far beyond).
const SENT_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often a delivery update retries when the message changed meanwhile.
const RETRIES: usize = 8;

/// A queued SMS: which stored message to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsJob {
    /// The tenant's organization.
    pub org_id: String,
    /// The tenant's mode.
    pub mode: Mode,
    /// The message's conversation.
    pub conversation_id: String,
    /// The message.
    pub message_id: String,
    /// When it was written (part of its key).
    pub created_at: String,
}

/// How an SMS job travels on the shared queue: `{"sms": {…}}`, which no
/// webhook delivery body has.
#[derive(Serialize, Deserialize)]
struct Envelope {
    sms: SmsJob,
}

impl SmsJob {
    /// The SMS job a queue message carries; `None` for any other message
    /// (a webhook delivery).
    pub fn of_body(body: &str) -> Option<SmsJob> {
        serde_json::from_str::<Envelope>(body).ok().map(|e| e.sms)
    }

    fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }

    fn message_sk(&self) -> String {
        message_sk(&self.conversation_id, &self.created_at, &self.message_id)
    }
}

/// What a sent message's SID points to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sent {
    pub(crate) conversation_id: String,
    pub(crate) message_id: String,
    pub(crate) created_at: String,
}

impl Sent {
    pub(crate) fn message_sk(&self) -> String {
        message_sk(&self.conversation_id, &self.created_at, &self.message_id)
    }
}

/// Queues the sending of `m`, stored already with `delivery: queued`. When
/// the queue cannot take it, the message is marked `failed` (so it never
/// sits `queued` forever) and the error returned.
pub(crate) async fn enqueue(app: &App, tenant: &Tenant, m: &Message) -> Result<()> {
    let job = SmsJob {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        conversation_id: m.conversation_id.clone(),
        message_id: m.id.clone(),
        created_at: m.created_at.clone(),
    };
    let body = json!({ "sms": job }).to_string();
    let sent = match app.queue(QUEUE) {
        Ok(q) => q.send(&body, Duration::ZERO).await.map_err(Error::from),
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        let reason = "the message could not be queued for sending".to_owned();
        update_delivery(app, tenant, &job.message_sk(), |d| {
            d.advance(DeliveryStatus::Failed, Some(reason.clone()))
        })
        .await?;
        return Err(e);
    }
    Ok(())
}

/// Applies `change` to the delivery of the message at `sk` (version-checked,
/// retried when it changed meanwhile); the message when it changed.
pub(crate) async fn update_delivery(
    app: &App,
    tenant: &Tenant,
    sk: &str,
    change: impl Fn(&mut Delivery) -> bool,
) -> Result<Option<Message>> {
    for _ in 0..RETRIES {
        let Some(item) = app.table.get(&tenant.pk(), sk).await? else {
            return Err(Error::NotFound("message"));
        };
        let version = item.version;
        let mut m: Message = item.parse()?;
        let Some(d) = m.delivery.as_mut() else {
            return Ok(None);
        };
        if !change(d) {
            return Ok(None);
        }
        let new = Item::new(
            tenant.pk(),
            sk.to_owned(),
            serde_json::to_value(&m).unwrap_or_default(),
        );
        match app.table.put(new, Condition::VersionEquals(version)).await {
            Ok(_) => return Ok(Some(m)),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("the message kept changing; retry".into()))
}

/// Where a message of the conversation goes: the carrier account of its
/// channel, the channel's number the customer texted, and their phone.
struct Route {
    carrier: Box<dyn Carrier>,
    from: String,
    to: String,
    status_callback: String,
}

/// The route of the conversation's messages, or why there is none (a
/// reason for the message, never a credential).
async fn route(
    app: &App,
    tenant: &Tenant,
    conversation_id: &str,
) -> Result<std::result::Result<Route, String>> {
    let (c, _) = match super::load(app, tenant, conversation_id).await {
        Ok(found) => found,
        Err(Error::NotFound(_)) => return Ok(Err("the conversation was deleted".into())),
        Err(e) => return Err(e),
    };
    let Some(channel_id) = c.channel_id else {
        return Ok(Err("the conversation has no channel to send on".into()));
    };
    let channel = match crate::services::channels::load(app, tenant, &channel_id).await {
        Ok((channel, _)) => channel,
        Err(Error::NotFound(_)) => return Ok(Err("the conversation's channel was deleted".into())),
        Err(e) => return Err(e),
    };
    // A 409 here says why the channel has no carrier: the message's reason.
    let carrier = match crate::services::channels::carrier(app, &channel) {
        Ok(carrier) => carrier,
        Err(Error::Conflict(reason)) => return Ok(Err(reason)),
        Err(e) => return Err(e),
    };
    // The number the customer wrote to, while the channel still has it.
    let texted = c
        .channel_number
        .as_deref()
        .and_then(|n| channel.phone_numbers.iter().find(|p| p.as_str() == n));
    let Some(from) = texted.or(channel.phone_numbers.first()) else {
        return Ok(Err("the channel has no phone number to send from".into()));
    };
    let phone = match &c.contact_id {
        Some(id) => match crate::services::contacts::load(app, tenant, id).await {
            Ok((contact, _)) => contact.phone,
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let Some(to) = phone else {
        return Ok(Err("the contact has no phone number".into()));
    };
    Ok(Ok(Route {
        carrier,
        from: from.as_str().to_owned(),
        to: to.as_str().to_owned(),
        status_callback: crate::services::channels::webhook_url(app, &channel, "sms-status"),
    }))
}

/// One attempt (`attempt` from 1) at sending the job's message. `Ok(None)`:
/// done (sent, failed for good, or nothing to send); `Ok(Some(d))`: try
/// again after `d`; `Err`: a store failure, retried as any failed message.
pub async fn send_sms(app: &App, job: &SmsJob, attempt: u32) -> Result<Option<Duration>> {
    let tenant = job.tenant();
    let sk = job.message_sk();
    let Some(item) = app.table.get(&tenant.pk(), &sk).await? else {
        return Ok(None);
    };
    let m: Message = item.parse()?;
    match &m.delivery {
        Some(d) if d.status == DeliveryStatus::Queued && d.provider_id.is_none() => {}
        _ => return Ok(None),
    }
    let (tenant_at, sk_at) = (&tenant, &sk);
    let fail = |reason: String| async move {
        tracing::info!(message = %job.message_id, %reason, "SMS failed");
        update_delivery(app, tenant_at, sk_at, |d| {
            d.advance(DeliveryStatus::Failed, Some(reason.clone()))
        })
        .await
        .map(|_| None)
    };
    let route = match route(app, &tenant, &m.conversation_id).await? {
        Ok(route) => route,
        Err(reason) => return fail(reason).await,
    };
    let sms = Sms {
        to: &route.to,
        from: &route.from,
        body: &m.content,
        status_callback: &route.status_callback,
    };
    match route.carrier.send_sms(&sms).await {
        Ok(sid) => {
            let pointer = Sent {
                conversation_id: m.conversation_id.clone(),
                message_id: m.id.clone(),
                created_at: m.created_at.clone(),
            };
            let item = Item::new(
                tenant.pk(),
                sms_out_sk(&sid),
                serde_json::to_value(&pointer).unwrap_or_default(),
            )
            .with_ttl(app.now().timestamp() + SENT_FOR.as_secs() as i64);
            app.table.put(item, Condition::None).await?;
            update_delivery(app, &tenant, &sk, |d| {
                let first = d.provider_id.is_none();
                if first {
                    d.provider_id = Some(sid.clone());
                }
                first
            })
            .await?;
            Ok(None)
        }
        Err(SendFailure::Transient(reason)) if attempt < MAX_ATTEMPTS => {
            tracing::warn!(message = %job.message_id, attempt, %reason, "SMS will be retried");
            Ok(Some(backoff(app.config.webhook_retry_base, attempt)))
        }
        Err(SendFailure::Transient(reason)) => {
            fail(format!("{reason} (gave up after {attempt} attempts)")).await
        }
        Err(SendFailure::Refused(reason)) => fail(reason).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sms_jobs_read_as_sms_jobs() {
        let job = SmsJob {
            org_id: "o".into(),
            mode: Mode::Live,
            conversation_id: "c".into(),
            message_id: "m".into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let body = json!({ "sms": job }).to_string();
        assert_eq!(SmsJob::of_body(&body), Some(job));
        assert_eq!(SmsJob::of_body(r#"{"org_id":"o","receiver":"r"}"#), None);
        assert_eq!(SmsJob::of_body("not json"), None);
    }
}
