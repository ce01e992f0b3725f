//! Calls into conversations: every ended call (phone, sim, web) creates or
//! continues its contact's conversation on that channel — a new one when
//! the last is resolved — with the transcript as messages linked to the
//! call and the report as a note. Run by the events worker on
//! `call.completed`/`call.failed`, so it never slows a call.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{create_stored, fresh, load};
use crate::App;
use crate::domain::call::{Call, Direction};
use crate::domain::conversation::{Author, ChannelType, Conversation, Message, MessageType};
use crate::domain::{Tenant, rfc3339};
use crate::engine::call::Role;
use crate::error::{Error, Result};
use crate::services::events::Event;
use crate::services::repository::query_all;
use crate::services::table_keys::*;
use crate::services::views::ConversationView;
use crate::store::{Condition, Item, Query, SortKey, StoreError};

/// Handles one call event (`call.completed`, `call.failed`); idempotent: a
/// redelivered event finds the conversation its call went to and changes
/// nothing twice.
pub async fn after_call(app: &App, event: &Event) -> Result<()> {
    if !matches!(event.event_type.as_str(), "call.completed" | "call.failed") {
        return Ok(());
    }
    let Some((tenant, call)) = crate::services::calls::of_event(app, event).await? else {
        return Ok(());
    };
    let conversation_id = conversation_for(app, &tenant, &call).await?;
    let replies = replies_since(app, &tenant, &conversation_id, &call.started_at).await?;
    let messages = messages_of(&call, &conversation_id, replies);
    let call_id = call.id.clone();
    let taken = super::add_message(
        app,
        &tenant,
        &conversation_id,
        &messages,
        |c| c.call_ids.contains(&call_id),
        |c| {
            if !c.call_ids.contains(&call_id) {
                c.call_ids.push(call_id.clone());
            }
            if c.live_call_id.as_deref() == Some(call_id.as_str()) {
                c.live_call_id = None;
            }
        },
    )
    .await?;
    if let Some(c) = taken {
        let mut data =
            serde_json::to_value(ConversationView::of(c.clone(), c.incoming)).unwrap_or_default();
        data["call_id"] = json!(call.id);
        crate::services::events::emit(app, &tenant, "message.received", data).await?;
    }
    Ok(())
}

/// The channel type a call happens on.
fn channel_type(call: &Call) -> ChannelType {
    match call.direction {
        Direction::Web => ChannelType::WebChat,
        Direction::Inbound | Direction::Outbound => ChannelType::Voice,
    }
}

/// The CRM contact of a call: found (or created) by the number on the other
/// end; a web visitor has none.
async fn contact_of(app: &App, tenant: &Tenant, call: &Call) -> Result<Option<String>> {
    let number = match call.direction {
        Direction::Outbound => &call.to,
        Direction::Inbound => &call.from,
        Direction::Web => return Ok(None),
    };
    match crate::services::contacts::link_by_phone(app, tenant, number, None, None).await {
        Ok(id) => Ok(Some(id)),
        // A number that is not E.164 (a SIP address, a withheld caller id).
        Err(Error::Validation(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The conversation the call goes to: the one it already went to (a
/// redelivery), else its contact's latest on the channel unless resolved,
/// else a new one.
pub(super) async fn conversation_for(app: &App, tenant: &Tenant, call: &Call) -> Result<String> {
    let marker_sk = conversation_call_sk(&call.id);
    if let Some(id) = pointer(app, tenant, &marker_sk).await? {
        return Ok(id);
    }
    let contact = contact_of(app, tenant, call).await?;
    let id = latest_or_new(
        app,
        tenant,
        contact,
        channel_type(call),
        call.channel_id.clone(),
    )
    .await?;
    let marker = Item::new(
        tenant.pk(),
        marker_sk.clone(),
        json!({"conversation_id": id}),
    );
    match app.table.put(marker, Condition::MustNotExist).await {
        Ok(_) => Ok(id),
        // Another delivery of the event got there first: follow it.
        Err(StoreError::ConditionFailed) => {
            Ok(pointer(app, tenant, &marker_sk).await?.unwrap_or(id))
        }
        Err(e) => Err(e.into()),
    }
}

/// The conversation a contact's next call or message on a channel goes to:
/// their latest there unless it is resolved, else a new one (a visitor with
/// no contact always starts a new one).
pub(crate) async fn latest_or_new(
    app: &App,
    tenant: &Tenant,
    contact: Option<String>,
    kind: ChannelType,
    channel_id: Option<String>,
) -> Result<String> {
    if let Some(contact) = &contact {
        let latest =
            latest_conversation_sk(contact, kind.as_str(), channel_id.as_deref().unwrap_or("-"));
        if let Some(id) = pointer(app, tenant, &latest).await? {
            let (org, _) = crate::services::identity::get_org(app, &tenant.org_id).await?;
            let idle_hours = org.settings.conversation_idle_hours;
            match load(app, tenant, &id).await {
                Ok((c, _)) if super::continues(&c, idle_hours, app.now()) => return Ok(c.id),
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let c: Conversation = fresh(app, contact, kind, channel_id);
    create_stored(app, tenant, &c).await?;
    Ok(c.id)
}

/// The `conversation_id` an item at `sk` points to.
async fn pointer(app: &App, tenant: &Tenant, sk: &str) -> Result<Option<String>> {
    Ok(app
        .table
        .get(&tenant.pk(), sk)
        .await?
        .and_then(|i| i.data.get("conversation_id")?.as_str().map(str::to_owned)))
}

/// What people wrote in the conversation from the inbox since `since`:
/// their replies to a running chat are in its transcript too (as the
/// supervisor's) and must not appear twice.
async fn replies_since(
    app: &App,
    tenant: &Tenant,
    conversation_id: &str,
    since: &str,
) -> Result<Vec<String>> {
    let prefix = messages_prefix(conversation_id);
    let range = SortKey::Between(format!("{prefix}{since}"), format!("{prefix}~"));
    let query = Query::partition(tenant.pk()).sort_key(range);
    let items = query_all(app.table.as_ref(), query).await?;
    Ok(items
        .iter()
        .filter_map(|i| i.parse::<Message>().ok())
        .filter(|m| m.author == Author::User && m.call_id.is_none())
        .map(|m| m.content.trim().to_owned())
        .collect())
}

/// A message id derived from the call and a position in it, so storing the
/// call's messages again writes the same items.
fn derived_id(call_id: &str, n: u32) -> String {
    let digest = Sha256::digest(format!("{call_id}#{n}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The call's transcript as messages at the times they were said (whispers,
/// tool calls, the platform's own notes and the inbox `replies` already in
/// the conversation left out), then its report as a note at the end of the
/// call.
fn messages_of(call: &Call, conversation_id: &str, mut replies: Vec<String>) -> Vec<Message> {
    let start = call
        .answered_at
        .as_deref()
        .unwrap_or(&call.started_at)
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap_or_default();
    let at =
        |ms: u64| rfc3339(start + chrono::Duration::milliseconds(ms.min(i64::MAX as u64) as i64));
    let message = |n: u32, author, message_type, content: String, created_at| Message {
        id: derived_id(&call.id, n),
        conversation_id: conversation_id.to_owned(),
        message_type,
        author,
        user_id: None,
        content,
        call_id: Some(call.id.clone()),
        created_at,
        delivery: None,
    };
    let mut out = Vec::new();
    let mut last_ms = 0;
    for e in call.transcript.iter().flatten() {
        let author = match e.role {
            Role::User => Author::Contact,
            Role::Agent => Author::Ai,
            Role::Supervisor => Author::User,
            Role::System | Role::Tool => continue,
        };
        if e.text.trim().is_empty() {
            continue;
        }
        if e.role == Role::Supervisor
            && let Some(at) = replies.iter().position(|r| r == e.text.trim())
        {
            replies.swap_remove(at);
            continue;
        }
        last_ms = last_ms.max(e.at_ms);
        out.push(message(
            e.seq,
            author,
            MessageType::Text,
            e.text.clone(),
            at(e.at_ms),
        ));
    }
    // After the last entry even when a simulated call's clock ran faster
    // than the wall clock (both are RFC 3339 in milliseconds, UTC).
    let ended = call
        .ended_at
        .clone()
        .unwrap_or_default()
        .max(at(last_ms + 1));
    let note = match &call.report {
        Some(r) => {
            let outcome = serde_json::to_value(r.outcome).unwrap_or_default();
            let outcome = outcome.as_str().unwrap_or("unknown");
            format!("Call report ({outcome}): {}", r.summary)
        }
        None => format!("The call {}.", call.status.as_str()),
    };
    out.push(message(0, Author::System, MessageType::Note, note, ended));
    out
}
