//! A conversation's messages: listing them, a person's reply or note, and
//! storing a batch (a call's transcript) with the conversation's counters.

use super::{feed, load, load_visible, modify, user_of, word_writes};
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
/// conversation already took them in (`Ok(None)` then, and nothing is
/// written). Each message's `message.created` feed item is written in the
/// same transaction as it.
pub async fn add_message(
    app: &App,
    tenant: &Tenant,
    id: &str,
    messages: &[Message],
    skip: impl Fn(&Conversation) -> bool,
    also: impl Fn(&mut Conversation),
) -> Result<Option<Conversation>> {
    let (current, _) = load(app, tenant, id).await?;
    if skip(&current) {
        return Ok(None);
    }
    let assignee = current.assignee_id.as_deref();
    let mut transactions = vec![Vec::new()];
    // A transaction may touch an item once: each word of the batch once.
    let mut words = std::collections::HashSet::new();
    for m in messages {
        let message = Write::Put(message_item(tenant, m), Condition::None);
        pack(
            &mut transactions,
            [message, feed::message(app, tenant, assignee, m)],
        );
        for w in word_writes(tenant, id, &m.content) {
            if let Write::Put(item, _) = &w
                && !words.insert(item.sk.clone())
            {
                continue;
            }
            pack(&mut transactions, [w]);
        }
    }
    for writes in transactions.into_iter().filter(|w| !w.is_empty()) {
        app.table.transact(writes).await?;
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

/// Adds `writes` to the last of `transactions`, or to a new one when they
/// do not fit: writes packed together land together.
fn pack<const N: usize>(transactions: &mut Vec<Vec<Write>>, writes: [Write; N]) {
    if transactions.last().is_none_or(|t| t.len() + N > CHUNK) {
        transactions.push(Vec::with_capacity(CHUNK));
    }
    if let Some(last) = transactions.last_mut() {
        last.extend(writes);
    }
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
    let message = Message {
        id: app.new_id(),
        conversation_id: c.id.clone(),
        message_type,
        author: Author::User,
        user_id: user_of(caller).map(str::to_owned),
        content,
        call_id: None,
        created_at: app.now_rfc3339(),
        delivery: None,
    };
    if message_type == MessageType::Text {
        return Ok(send_text(app, &caller.tenant, message).await?.into());
    }
    add_message(
        app,
        &caller.tenant,
        &c.id,
        std::slice::from_ref(&message),
        |_| false,
        |_| {},
    )
    .await?;
    Ok(message.into())
}

/// Stores a `text` message to the customer and sends it on the
/// conversation's channel: the one path of a person's reply and an
/// automation's `send_message`. A person's reply (author `user`) pauses the
/// AI on the conversation and takes the running chat over; any other author
/// is said on the chat, which is then handed back to the AI (unless a
/// person paused it).
pub(crate) async fn send_text(app: &App, tenant: &Tenant, mut message: Message) -> Result<Message> {
    let id = &message.conversation_id.clone();
    super::live_chat::check_reply(app, tenant, id, &message.content).await?;
    let person = message.author == Author::User;
    let (c, _) = super::load(app, tenant, id).await?;
    let by_sms = c.channel_type == ChannelType::Sms;
    // Stored before it is sent, so it is never lost.
    message.delivery = by_sms.then(Delivery::queued);
    // A reply reaches a running web chat, or goes out by SMS; on other
    // channels it is stored and shown.
    let stored = add_message(
        app,
        tenant,
        id,
        std::slice::from_ref(&message),
        |_| false,
        |c| {
            if person {
                c.ai_enabled = false;
            }
        },
    )
    .await?;
    if let Some(c) = stored
        && let Some(call) = &c.live_call_id
    {
        super::live_chat::say(app, tenant, call, &message.content).await;
        // Handed back only when no person has paused the AI there.
        if !person && c.ai_enabled {
            super::live_chat::resume(app, tenant, call).await;
        }
    }
    if by_sms {
        super::sms_out::enqueue(app, tenant, &message).await?;
    }
    Ok(message)
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
