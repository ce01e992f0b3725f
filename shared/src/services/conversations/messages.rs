//! A conversation's messages: listing them, a person's reply or note, and
//! storing a batch (a call's transcript) with the conversation's counters.

use super::{load_visible, modify, user_of, word_writes};
use crate::App;
use crate::domain::Tenant;
use crate::domain::conversation::{
    Author, ChannelType, Conversation, Delivery, Message, MessageInput, MessageType,
};
use crate::error::Result;
use crate::services::caller::Caller;
use crate::services::page::{PageOf, PageRequest, page};
use crate::services::table_keys::*;
use crate::services::views::MessageView;
use crate::store::{Condition, Item, MAX_TRANSACTION_WRITES, Query, Write};

/// Writes in one transaction when storing messages.
const CHUNK: usize = MAX_TRANSACTION_WRITES;

fn message_item(tenant: &Tenant, m: &Message) -> Item {
    Item::new(
        tenant.pk(),
        message_sk(&m.conversation_id, &m.created_at, &m.id),
        serde_json::to_value(m).unwrap_or_default(),
    )
}

/// Stores `messages` of the conversation `id` and then takes them into the
/// conversation (last activity, preview, unread counts, `call_ids`),
/// applying `also` to it in the same write. Each message is written under a
/// key of its own time and id, so storing the same messages again (a
/// redelivered event) rewrites them in place; `skip` says when the
/// conversation already took them in (`Ok(None)` then).
pub async fn add_message(
    app: &App,
    tenant: &Tenant,
    id: &str,
    messages: &[Message],
    skip: impl Fn(&Conversation) -> bool,
    also: impl Fn(&mut Conversation),
) -> Result<Option<Conversation>> {
    let mut writes = Vec::new();
    // A transaction may touch an item once: each word of the batch once.
    let mut words = std::collections::HashSet::new();
    for m in messages {
        writes.push(Write::Put(message_item(tenant, m), Condition::None));
        writes.extend(
            word_writes(tenant, id, &m.content)
                .into_iter()
                .filter(|w| match w {
                    Write::Put(item, _) => words.insert(item.sk.clone()),
                    _ => true,
                }),
        );
    }
    for chunk in writes.chunks(CHUNK) {
        app.table.transact(chunk.to_vec()).await?;
    }
    let mut taken = false;
    let c = modify(app, tenant, id, |c| {
        if skip(c) {
            taken = false;
            return Ok(false);
        }
        for m in messages {
            c.record(m);
        }
        also(c);
        taken = true;
        Ok(true)
    })
    .await?;
    Ok(taken.then_some(c))
}

/// `POST /conversations/{id}/messages`: a person's `text` reply (sent to the
/// customer on the conversation's channel; it pauses the AI there) or
/// private `note` (never sent).
pub async fn post_message(
    app: &App,
    caller: &Caller,
    id: &str,
    body: MessageInput,
) -> Result<MessageView> {
    let (content, message_type) = body.check()?;
    let (c, _) = load_visible(app, caller, id).await?;
    let reply = message_type == MessageType::Text;
    let by_sms = reply && c.channel_type == ChannelType::Sms;
    let message = Message {
        id: app.new_id(),
        conversation_id: c.id.clone(),
        message_type,
        author: Author::User,
        user_id: user_of(caller).map(str::to_owned),
        content,
        call_id: None,
        created_at: app.now_rfc3339(),
        // Stored before it is sent, so it is never lost.
        delivery: by_sms.then(Delivery::queued),
    };
    if reply {
        super::live_chat::check_reply(app, &caller.tenant, &c.id, &message.content).await?;
    }
    // A reply reaches a running web chat, or goes out by SMS; on other
    // channels it is stored, shown and pauses the AI.
    let stored = add_message(
        app,
        &caller.tenant,
        &c.id,
        std::slice::from_ref(&message),
        |_| false,
        |c| {
            if reply {
                c.ai_enabled = false;
            }
        },
    )
    .await?;
    if reply && let Some(call) = stored.and_then(|c| c.live_call_id) {
        super::live_chat::say(app, &caller.tenant, &call, &message.content).await;
    }
    if by_sms {
        super::sms_out::enqueue(app, &caller.tenant, &message).await?;
    }
    Ok(message.into())
}

/// `GET /conversations/{id}/messages`: oldest first, paged.
pub async fn list_messages(
    app: &App,
    caller: &Caller,
    id: &str,
    req: &PageRequest,
) -> Result<PageOf<MessageView>> {
    let (c, _) = load_visible(app, caller, id).await?;
    let query = Query::partition(caller.tenant.pk()).prefix(messages_prefix(&c.id));
    let out = page(app.table.as_ref(), query, req, |_| true).await?;
    out.parsed(|m: Message| MessageView::from(m))
}
