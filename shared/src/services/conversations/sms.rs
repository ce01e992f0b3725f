//! SMS through Twilio (SPEC §12): a text to one of a channel's numbers
//! lands in the sender's `sms` conversation (the contact found or created
//! by their number; their latest conversation there continued unless it is
//! resolved), and the AI answers by SMS while the conversation has it on.
//! Twilio's delivery status callbacks move an outgoing message on
//! (`queued` → `sent` → `delivered`/`undelivered`/`failed`). Both webhooks
//! are checked as the voice webhooks are ([`telephony::authenticate`]:
//! signed by the channel's auth token, not a replay).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::add_message;
use super::from_call::latest_or_new;
pub use super::sms_out::{SmsJob, send_sms};
use crate::App;
use crate::domain::call::{Call, Direction};
use crate::domain::channel::Channel;
use crate::domain::conversation::{
    Author, ChannelType, Conversation, Delivery, DeliveryStatus, MAX_CONTENT_CHARS, Message,
    MessageType,
};
use crate::domain::{Tenant, is_id};
use crate::engine::conversation::{Action, Conversation as Engine, Input};
use crate::error::{Error, Result};
use crate::services::page::{PageRequest, page};
use crate::services::table_keys::*;
use crate::services::telephony::{self, Webhook};
use crate::services::views::ConversationView;
use crate::store::{Condition, Item, Query, StoreError};

/// How long an inbound message's `MessageSid` is remembered (Twilio
/// retries within minutes).
const SEEN_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// Earlier messages of the conversation the AI reads before answering.
const CONTEXT_MESSAGES: usize = 10;
/// The most the AI may take to answer inside the webhook (Twilio waits 15 s).
const AI_BUDGET: Duration = Duration::from_secs(10);

/// An inbound message being taken in: where it goes, under which id and
/// time (the same on Twilio's retries), and whether it was stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intake {
    conversation_id: String,
    message_id: String,
    created_at: String,
    #[serde(default)]
    done: bool,
}

/// A required, non-empty form field.
fn required<'a>(w: &'a Webhook<'_>, name: &str) -> Result<&'a str> {
    w.param(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::field(name, "is required"))
}

/// Twilio's id of a message: `SM…`/`MM…` and letters and digits only.
fn message_sid<'a>(w: &'a Webhook<'_>) -> Result<&'a str> {
    let sid = required(w, "MessageSid")?;
    let ok = sid.len() <= 64
        && (sid.starts_with("SM") || sid.starts_with("MM"))
        && sid.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(sid)
    } else {
        Err(Error::field("MessageSid", "is not a Twilio message SID"))
    }
}

/// `POST /telephony/twilio/{channel_id}/sms`: a text to one of the
/// channel's numbers. Stored once however often Twilio retries it (by its
/// `MessageSid`), announced as `message.received`, and answered by the AI
/// when the conversation has it on and the channel has a default agent.
/// Answers Twilio with an empty TwiML `<Response/>` (replies go out
/// through the Messages API, so they are tracked like a person's).
pub async fn inbound_sms(app: &Arc<App>, w: &Webhook<'_>) -> Result<String> {
    let (tenant, channel) = telephony::authenticate(app, w).await?;
    let sid = message_sid(w)?;
    let from = required(w, "From")?;
    let to = required(w, "To")?;
    if !channel.phone_numbers.iter().any(|n| n.as_str() == to) {
        return Err(Error::field("To", "is not a number of this channel"));
    }
    let content: String = w
        .param("Body")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_CONTENT_CHARS)
        .collect();
    let intake = intake(app, &tenant, &channel, sid, from).await?;
    if intake.done {
        return Ok(crate::telephony::twiml::empty());
    }
    let message = Message {
        id: intake.message_id.clone(),
        conversation_id: intake.conversation_id.clone(),
        message_type: MessageType::Text,
        author: Author::Contact,
        user_id: None,
        content,
        call_id: None,
        created_at: intake.created_at.clone(),
        delivery: None,
    };
    let stored = add_message(
        app,
        &tenant,
        &intake.conversation_id,
        std::slice::from_ref(&message),
        |_| false,
        |c| c.channel_number = Some(to.to_owned()),
    )
    .await?;
    let done = Item::new(
        tenant.pk(),
        sms_in_sk(sid),
        serde_json::to_value(Intake {
            done: true,
            ..intake
        })
        .unwrap_or_default(),
    )
    .with_ttl(app.now().timestamp() + SEEN_FOR.as_secs() as i64);
    app.table.put(done, Condition::None).await?;
    if let Some(c) = stored {
        let mut data =
            serde_json::to_value(ConversationView::of(c.clone(), c.incoming)).unwrap_or_default();
        data["message_id"] = json!(message.id);
        crate::services::events::emit(app, &tenant, "message.received", data).await?;
        if c.ai_enabled
            && let Some(agent_id) = &channel.default_agent_id
        {
            answer(app, &tenant, &c, agent_id, from, to, &message).await;
        }
    }
    Ok(crate::telephony::twiml::empty())
}

/// Where an inbound message goes: what a delivery of the same `MessageSid`
/// already chose, else its sender's conversation now (claimed so that a
/// concurrent retry follows the same choice).
async fn intake(
    app: &App,
    tenant: &Tenant,
    channel: &Channel,
    sid: &str,
    from: &str,
) -> Result<Intake> {
    let sk = sms_in_sk(sid);
    if let Some(seen) = app.table.get(&tenant.pk(), &sk).await? {
        return Ok(seen.parse()?);
    }
    let contact =
        match crate::services::contacts::link_by_phone(app, tenant, from, None, None).await {
            Ok(id) => Some(id),
            // A sender that is not a phone number (an alphanumeric sender id).
            Err(Error::Validation(_)) => None,
            Err(e) => return Err(e),
        };
    let conversation_id = latest_or_new(
        app,
        tenant,
        contact,
        ChannelType::Sms,
        Some(channel.id.clone()),
    )
    .await?;
    let intake = Intake {
        conversation_id,
        message_id: app.new_id(),
        created_at: app.now_rfc3339(),
        done: false,
    };
    let claim = Item::new(
        tenant.pk(),
        sk.clone(),
        serde_json::to_value(&intake).unwrap_or_default(),
    )
    .with_ttl(app.now().timestamp() + SEEN_FOR.as_secs() as i64);
    match app.table.put(claim, Condition::MustNotExist).await {
        Ok(_) => Ok(intake),
        Err(StoreError::ConditionFailed) => match app.table.get(&tenant.pk(), &sk).await? {
            Some(seen) => Ok(seen.parse()?),
            None => Ok(intake),
        },
        Err(e) => Err(e.into()),
    }
}

/// The AI's answer to `latest`, sent by SMS (author `ai`). Best effort: the
/// customer's message is stored whatever happens here, and a failure is
/// logged, not Twilio's problem.
async fn answer(
    app: &Arc<App>,
    tenant: &Tenant,
    c: &Conversation,
    agent_id: &str,
    customer: &str,
    ours: &str,
    latest: &Message,
) {
    let replied = tokio::time::timeout(AI_BUDGET, async {
        let text = ai_text(app, tenant, c, agent_id, customer, ours, latest).await?;
        if text.is_empty() {
            return Ok(());
        }
        let reply = Message {
            id: app.new_id(),
            conversation_id: c.id.clone(),
            message_type: MessageType::Text,
            author: Author::Ai,
            user_id: None,
            content: text,
            call_id: None,
            created_at: app.now_rfc3339(),
            delivery: Some(Delivery::queued()),
        };
        add_message(
            app,
            tenant,
            &c.id,
            std::slice::from_ref(&reply),
            |_| false,
            |_| {},
        )
        .await?;
        super::sms_out::enqueue(app, tenant, &reply).await
    })
    .await;
    match replied {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(conversation = %c.id, error = %e, "the AI could not answer the SMS")
        }
        Err(_) => tracing::warn!(conversation = %c.id, "the AI took too long to answer the SMS"),
    }
}

/// Runs the agent's engine in text mode: the conversation's earlier texts
/// from the customer are what it has heard (while it listens), then it
/// answers `latest`; its sentences joined are the reply.
async fn ai_text(
    app: &Arc<App>,
    tenant: &Tenant,
    c: &Conversation,
    agent_id: &str,
    customer: &str,
    ours: &str,
    latest: &Message,
) -> Result<String> {
    let call = Call::placed(
        app.new_id(),
        Direction::Inbound,
        agent_id.to_owned(),
        customer.to_owned(),
        ours.to_owned(),
        false,
        app.now_rfc3339(),
    );
    let setup =
        crate::services::calls::runner::setup(app, Some(app.clone()), tenant, &call).await?;
    if !setup.agent.enabled {
        return Ok(String::new());
    }
    let mut engine = Engine::new(setup);
    let earlier = earlier_texts(app, tenant, &c.id, &latest.id).await?;
    if !earlier.is_empty() {
        engine.handle_collect(0, Input::Takeover).await;
        for text in earlier {
            engine.handle_collect(0, Input::Utterance(text)).await;
        }
        engine.handle_collect(0, Input::Resume).await;
    }
    let actions = engine
        .handle_collect(0, Input::Utterance(latest.content.clone()))
        .await;
    let said: Vec<String> = actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Say(s) => Some(s),
            _ => None,
        })
        .collect();
    Ok(said.join(" ").chars().take(MAX_CONTENT_CHARS).collect())
}

/// The customer's texts before `latest_id` among the conversation's last
/// [`CONTEXT_MESSAGES`] messages, oldest first.
async fn earlier_texts(
    app: &App,
    tenant: &Tenant,
    conversation_id: &str,
    latest_id: &str,
) -> Result<Vec<String>> {
    let query = Query::partition(tenant.pk())
        .prefix(messages_prefix(conversation_id))
        .backward();
    let req = PageRequest {
        limit: CONTEXT_MESSAGES + 1,
        offset: 0,
        cursor: None,
    };
    let out = page(app.table.as_ref(), query, &req, |_| true).await?;
    let mut texts: Vec<String> = out
        .parsed(|m: Message| m)?
        .items
        .into_iter()
        .filter(|m| {
            m.id != latest_id && m.author == Author::Contact && m.message_type == MessageType::Text
        })
        .map(|m| m.content)
        .collect();
    texts.reverse();
    Ok(texts)
}

/// Twilio's `MessageStatus` as a delivery status; `None` for the steps
/// before Twilio sends (`accepted`, `scheduled`, `queued`, `sending`) and
/// for inbound ones (`receiving`, `received`), which change nothing.
fn delivery_status(status: &str) -> Result<Option<DeliveryStatus>> {
    Ok(match status {
        "accepted" | "scheduled" | "queued" | "sending" | "receiving" | "received" => None,
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" | "read" => Some(DeliveryStatus::Delivered),
        "undelivered" => Some(DeliveryStatus::Undelivered),
        "failed" | "canceled" => Some(DeliveryStatus::Failed),
        _ => {
            return Err(Error::field(
                "MessageStatus",
                format!("{status:?} is not a Twilio message status"),
            ));
        }
    })
}

/// `POST /telephony/twilio/{channel_id}/sms-status`: an outgoing message's
/// status callback. Moves its delivery on (never back: callbacks may
/// arrive out of order), with Twilio's `ErrorCode` (and `ErrorMessage`)
/// as the reason of a failure. 404 for a message Switchboard did not send.
pub async fn sms_status(app: &App, w: &Webhook<'_>) -> Result<()> {
    let (tenant, _) = telephony::authenticate(app, w).await?;
    let sid = message_sid(w)?;
    let Some(status) = delivery_status(required(w, "MessageStatus")?)? else {
        return Ok(());
    };
    let error = w
        .param("ErrorCode")
        .filter(|c| !c.is_empty() && *c != "0")
        .map(
            |code| match w.param("ErrorMessage").filter(|m| !m.is_empty()) {
                Some(m) => format!("Twilio error {code}: {m}"),
                None => format!("Twilio error {code}"),
            },
        );
    let Some(sent) = app.table.get(&tenant.pk(), &sms_out_sk(sid)).await? else {
        return Err(Error::NotFound("message"));
    };
    let pointer: super::sms_out::Sent = sent.parse()?;
    if !is_id(&pointer.message_id) {
        return Err(Error::NotFound("message"));
    }
    super::sms_out::update_delivery(app, &tenant, &pointer.message_sk(), |d| {
        d.advance(status, error.clone())
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_statuses_map_and_unknown_ones_are_named() {
        assert_eq!(delivery_status("sending").ok(), Some(None));
        assert_eq!(
            delivery_status("delivered").ok(),
            Some(Some(DeliveryStatus::Delivered))
        );
        assert_eq!(
            delivery_status("undelivered").ok(),
            Some(Some(DeliveryStatus::Undelivered))
        );
        assert!(delivery_status("exploded").is_err());
    }
}
