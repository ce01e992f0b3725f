//! The inbox (SPEC §12): conversations, their messages, assignment, tags and
//! statuses, on a single-table layout (`infra/TABLE_DESIGN.md`).
//!
//! A conversation is one item (`CONV#<id>`, in GSI1 `<tenant>#CONVS` by last
//! activity) plus one index item per filter value it has
//! (`CONVIX#<id>#status=open`, `…#assignee_id=<user>|none`,
//! `…#channel_type=voice`, `…#tag=<tag>`), each a copy of it in GSI1
//! `<tenant>#CONVS#<facet>`: every filtered list is one query of one index
//! partition, newest activity first. All of them are rewritten in the same
//! version-checked transaction as the conversation, so a list never shows a
//! conversation under a value it no longer has.
//!
//! Roles: an `agent` sees the conversations assigned to them or to no one
//! (any other id is a 404, as for another org's); admins and API keys see all.

pub mod feed;
mod from_call;
mod list;
mod live_chat;
mod messages;
mod sms;
mod sms_out;
pub mod socket;
mod suggest;

pub use from_call::after_call;
pub use list::{ConversationFilter, list};
pub use live_chat::call_started;
pub(crate) use messages::send_text;
pub use messages::{add_message, list_messages, post_message};
pub use sms::{SmsJob, inbound_sms, send_sms, sms_status};
pub use suggest::suggest;

use futures::future::try_join_all;
use serde_json::json;

use super::analytics;
use super::caller::{Caller, Principal};
use super::repository::{insert_counted, load_resource};
use super::table_keys::*;
use super::views::ConversationView;
use crate::App;
use crate::domain::conversation::{
    AssignInput, ChannelType, Conversation, ConversationCreate, ConversationPatch,
    ConversationStatus, MAX_TAGS, StatusInput, TagInput, search_words,
};
use crate::domain::{Role, Tenant};
use crate::error::{Error, Result};
use crate::store::{Condition, Item, Write};

/// Resource kind in sort keys.
pub const KIND: &str = "CONV";

/// How often a write retries when the conversation changed meanwhile.
const RETRIES: usize = 8;

/// The conversation item, in the whole list by last activity.
fn item(tenant: &Tenant, c: &Conversation) -> Item {
    Item::new(
        tenant.pk(),
        resource_sk(KIND, &c.id),
        serde_json::to_value(c).unwrap_or_default(),
    )
    .with_gsi1(
        conversations_index(tenant, None),
        activity_key(&c.last_message_at, &c.id),
    )
}

/// The writes that take the conversation's index items from `old` to `new`:
/// a facet it lost is deleted, every facet it has is rewritten (its sort key
/// and copy follow the conversation).
fn facet_writes(tenant: &Tenant, old: Option<&Conversation>, new: &Conversation) -> Vec<Write> {
    let facets = new.facets();
    let mut writes: Vec<Write> = old
        .map(Conversation::facets)
        .unwrap_or_default()
        .into_iter()
        .filter(|f| !facets.contains(f))
        .map(|f| Write::Delete {
            pk: tenant.pk(),
            sk: conversation_facet_sk(&new.id, &f),
            condition: Condition::None,
        })
        .collect();
    let data = serde_json::to_value(new).unwrap_or_default();
    for f in facets {
        let index = Item::new(
            tenant.pk(),
            conversation_facet_sk(&new.id, &f),
            data.clone(),
        )
        .with_gsi1(
            conversations_index(tenant, Some(&f)),
            activity_key(&new.last_message_at, &new.id),
        );
        writes.push(Write::Put(index, Condition::None));
    }
    writes
}

/// Words of a contact made searchable in a new conversation: few enough
/// that the conversation, its index items (up to 3 + `MAX_TAGS`), these, the
/// latest-conversation pointer, the feed item, the count and the analytics
/// counters of a new conversation (3) fit one transaction (25 writes at
/// most, 24 at worst).
const CONTACT_WORDS: usize = 4;

/// Index items making `text` find the conversation `id` (`?search=`).
fn word_writes(tenant: &Tenant, id: &str, text: &str) -> Vec<Write> {
    search_words(text)
        .into_iter()
        .map(|w| {
            let item = Item::new(
                tenant.pk(),
                conversation_word_sk(&w, id),
                json!({"conversation_id": id}),
            );
            Write::Put(item, Condition::None)
        })
        .collect()
}

/// The pointer to the latest conversation of a contact on a channel, which
/// the next call or chat continues unless it is resolved.
fn latest_pointer(tenant: &Tenant, c: &Conversation) -> Option<Write> {
    let contact = c.contact_id.as_deref()?;
    let sk = latest_conversation_sk(
        contact,
        c.channel_type.as_str(),
        c.channel_id.as_deref().unwrap_or("-"),
    );
    let item = Item::new(tenant.pk(), sk, json!({"conversation_id": c.id}));
    Some(Write::Put(item, Condition::None))
}

/// Stores a new conversation with its index items, the words of its
/// contact (name and phone), its contact's latest-conversation pointer and
/// its `conversation.created` feed item and its analytics counters (counted
/// on `day`).
async fn store_new(
    app: &App,
    tenant: &Tenant,
    c: &Conversation,
    contact_words: &str,
    day: &str,
) -> Result<()> {
    let mut also = facet_writes(tenant, None, c);
    let mut words = word_writes(tenant, &c.id, contact_words);
    words.truncate(CONTACT_WORDS);
    also.extend(words);
    also.extend(latest_pointer(tenant, c));
    also.extend(analytics::conversation_bumps(day, None, c).writes(tenant));
    also.push(feed::conversation(
        app,
        tenant,
        feed::Change::Created,
        None,
        c,
    ));
    insert_counted(app, tenant, KIND, item(tenant, c), also).await?;
    Ok(())
}

/// Replaces the conversation stored at `version` by `new`, with its
/// `conversation.updated` feed item and the analytics counters the change
/// moves (counted on `day`); `Ok(false)` when it changed meanwhile.
async fn store_update(
    app: &App,
    tenant: &Tenant,
    old: &Conversation,
    version: u64,
    new: &Conversation,
    day: &str,
) -> Result<bool> {
    let mut writes = vec![Write::Put(
        item(tenant, new),
        Condition::VersionEquals(version),
    )];
    writes.extend(facet_writes(tenant, Some(old), new));
    writes.push(feed::conversation(
        app,
        tenant,
        feed::Change::Updated,
        Some(old),
        new,
    ));
    let bumps = analytics::conversation_bumps(day, Some(old), new);
    analytics::transact_counted(app, tenant, writes, bumps).await
}

/// Reads a conversation of the tenant; anything else is 404.
pub async fn load(app: &App, tenant: &Tenant, id: &str) -> Result<(Conversation, u64)> {
    load_resource(app, tenant, KIND, "conversation", id).await
}

/// The signed-in user of an `agent`-role session: whose view is narrowed.
fn agent_user(caller: &Caller) -> Option<&str> {
    match (&caller.role, &caller.principal) {
        (Role::Agent, Principal::Session { user_id, .. }) => Some(user_id),
        _ => None,
    }
}

/// The signed-in user, whose unread counts are kept.
fn user_of(caller: &Caller) -> Option<&str> {
    match &caller.principal {
        Principal::Session { user_id, .. } => Some(user_id),
        Principal::ApiKey { .. } => None,
    }
}

/// The `agent`-role user whose view is narrowed to the conversations
/// assigned to them or to no one, unless the workspace lets agents see all
/// (`agents_see_all_conversations`); `None` for everyone else.
pub(crate) async fn narrowed_to<'c>(app: &App, caller: &'c Caller) -> Result<Option<&'c str>> {
    let Some(user) = agent_user(caller) else {
        return Ok(None);
    };
    let (org, _) = super::identity::get_org(app, caller.org_id()).await?;
    Ok((!org.settings.agents_see_all_conversations).then_some(user))
}

/// Reads a conversation the caller may see; anything else is 404.
async fn load_visible(app: &App, caller: &Caller, id: &str) -> Result<(Conversation, u64)> {
    let (c, version) = load(app, &caller.tenant, id).await?;
    if narrowed_to(app, caller)
        .await?
        .is_some_and(|u| !c.visible_to_agent(u))
    {
        return Err(Error::NotFound("conversation"));
    }
    Ok((c, version))
}

/// Whether a contact's next call, chat or message continues `c`: not once
/// it is resolved, nor after `idle_hours` without a message (0: never idle).
pub(crate) fn continues(
    c: &Conversation,
    idle_hours: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    if c.status == ConversationStatus::Resolved {
        return false;
    }
    if idle_hours == 0 {
        return true;
    }
    c.last_message_at
        .parse::<chrono::DateTime<chrono::Utc>>()
        .map_or(true, |last| {
            now - last < chrono::Duration::hours(i64::from(idle_hours))
        })
}

/// Applies `change` to the conversation and stores it, retrying when it
/// changed meanwhile. `change` returns whether there is anything to store.
pub(crate) async fn modify(
    app: &App,
    tenant: &Tenant,
    id: &str,
    mut change: impl FnMut(&mut Conversation) -> Result<bool>,
) -> Result<Conversation> {
    let day = analytics::today(app, tenant).await?;
    for _ in 0..RETRIES {
        let (old, version) = load(app, tenant, id).await?;
        let mut new = old.clone();
        if !change(&mut new)? {
            return Ok(new);
        }
        new.updated_at = app.now_rfc3339();
        if store_update(app, tenant, &old, version, &new, &day).await? {
            return Ok(new);
        }
    }
    Err(Error::Conflict(
        "the conversation kept changing; retry".into(),
    ))
}

/// How many messages `user` has not read in `c`.
async fn unread(app: &App, tenant: &Tenant, user: Option<&str>, c: &Conversation) -> Result<u64> {
    let Some(user) = user else {
        return Ok(c.incoming);
    };
    let seen = match app
        .table
        .get(&tenant.pk(), &conversation_read_sk(&c.id, user))
        .await?
    {
        Some(i) => i.data.get("seen").and_then(|v| v.as_u64()).unwrap_or(0),
        None => 0,
    };
    Ok(c.incoming.saturating_sub(seen))
}

/// The views of `list` for the caller, each with their unread count.
pub(crate) async fn views(
    app: &App,
    caller: &Caller,
    list: Vec<Conversation>,
) -> Result<Vec<ConversationView>> {
    let user = user_of(caller);
    try_join_all(list.into_iter().map(|c| async move {
        let n = unread(app, &caller.tenant, user, &c).await?;
        Ok::<_, Error>(ConversationView::of(c, n))
    }))
    .await
}

/// Whether `user_id` is a member of the org `org_id`.
pub(crate) async fn is_member(app: &App, org_id: &str, user_id: &str) -> Result<bool> {
    Ok(crate::domain::is_id(user_id)
        && app
            .table
            .get(&org_pk(org_id), &member_sk(user_id))
            .await?
            .is_some())
}

/// Fails with 422 on `field` unless `user_id` is a member of the org.
async fn require_member(app: &App, caller: &Caller, field: &str, user_id: &str) -> Result<()> {
    if is_member(app, caller.org_id(), user_id).await? {
        Ok(())
    } else {
        Err(Error::field(field, "is not a user of this organization"))
    }
}

/// A new conversation with no messages yet.
pub(crate) fn fresh(
    app: &App,
    contact_id: Option<String>,
    channel_type: ChannelType,
    channel_id: Option<String>,
) -> Conversation {
    Conversation::open(
        app.new_id(),
        contact_id,
        channel_type,
        channel_id,
        app.now_rfc3339(),
    )
}

/// The searchable text of a contact: its name and phone digits.
async fn contact_words(app: &App, tenant: &Tenant, contact_id: &str) -> Result<String> {
    let (contact, _) = super::contacts::load(app, tenant, contact_id).await?;
    let phone = contact
        .phone
        .map(|p| p.as_str().trim_start_matches('+').to_owned())
        .unwrap_or_default();
    Ok(format!("{} {phone}", contact.name.unwrap_or_default()))
}

/// Creates `c` and emits `conversation.created`.
pub(crate) async fn create_stored(app: &App, tenant: &Tenant, c: &Conversation) -> Result<()> {
    let words = match &c.contact_id {
        Some(id) => contact_words(app, tenant, id).await?,
        None => String::new(),
    };
    let day = analytics::today(app, tenant).await?;
    store_new(app, tenant, c, &words, &day).await?;
    let data =
        serde_json::to_value(ConversationView::of(c.clone(), c.incoming)).unwrap_or_default();
    super::events::emit(app, tenant, "conversation.created", data).await
}

/// `POST /conversations`.
pub async fn create(
    app: &App,
    caller: &Caller,
    body: ConversationCreate,
) -> Result<ConversationView> {
    let input = body.check()?;
    let tenant = &caller.tenant;
    // Only the tenant's own: anything else is a 422 naming the field.
    let in_org = |found: Result<()>, field: &str, what: &str| match found {
        Err(Error::NotFound(_)) => Err(Error::field(
            field,
            format!("is not {what} of this organization"),
        )),
        other => other,
    };
    let contact = super::contacts::load(app, tenant, &input.contact_id)
        .await
        .map(drop);
    in_org(contact, "contact_id", "a contact")?;
    if let Some(channel) = &input.channel_id {
        let found = super::channels::load(app, tenant, channel).await.map(drop);
        in_org(found, "channel_id", "a channel")?;
    }
    if let Some(user) = &input.assignee_id {
        require_member(app, caller, "assignee_id", user).await?;
    }
    let mut c = fresh(
        app,
        Some(input.contact_id),
        input.channel_type,
        input.channel_id,
    );
    c.assignee_id = input.assignee_id;
    c.tags = input.tags;
    c.ai_enabled = input.ai_enabled;
    if agent_user(caller).is_some_and(|u| !c.visible_to_agent(u)) {
        return Err(Error::Forbidden(
            "an agent can only create conversations assigned to them or to no one".into(),
        ));
    }
    create_stored(app, tenant, &c).await?;
    Ok(ConversationView::of(c, 0))
}

/// `GET /conversations/{id}`: the caller has now read it (their unread
/// count goes to 0).
pub async fn get(app: &App, caller: &Caller, id: &str) -> Result<ConversationView> {
    let (c, _) = load_visible(app, caller, id).await?;
    if let Some(user) = user_of(caller) {
        let mark = Item::new(
            caller.tenant.pk(),
            conversation_read_sk(&c.id, user),
            json!({"seen": c.incoming}),
        );
        app.table.put(mark, Condition::None).await?;
        return Ok(ConversationView::of(c, 0));
    }
    let n = c.incoming;
    Ok(ConversationView::of(c, n))
}

/// Runs `change` on a conversation the caller may see and shows the result.
async fn change_visible(
    app: &App,
    caller: &Caller,
    id: &str,
    change: impl FnMut(&mut Conversation) -> Result<bool>,
) -> Result<ConversationView> {
    load_visible(app, caller, id).await?;
    let c = modify(app, &caller.tenant, id, change).await?;
    Ok(views(app, caller, vec![c]).await?.remove(0))
}

/// `PATCH /conversations/{id}` `{ai_enabled}`: turns the AI on or off.
pub async fn update(
    app: &App,
    caller: &Caller,
    id: &str,
    body: ConversationPatch,
) -> Result<ConversationView> {
    let ai = body.check()?;
    let view = change_visible(app, caller, id, |c| match ai {
        Some(on) if c.ai_enabled != on => {
            c.ai_enabled = on;
            Ok(true)
        }
        _ => Ok(false),
    })
    .await?;
    if ai == Some(true) {
        let (c, _) = load(app, &caller.tenant, id).await?;
        if let Some(call) = &c.live_call_id {
            live_chat::resume(app, &caller.tenant, call).await;
        }
    }
    Ok(view)
}

/// `POST /conversations/{id}/status`.
pub async fn set_status(
    app: &App,
    caller: &Caller,
    id: &str,
    body: StatusInput,
) -> Result<ConversationView> {
    let status = body.check()?;
    change_visible(app, caller, id, |c| {
        let changed = c.status != status;
        c.status = status;
        Ok(changed)
    })
    .await
}

/// `POST /conversations/{id}/tags`: adds a tag (a tag it has is kept once).
pub async fn add_tag(
    app: &App,
    caller: &Caller,
    id: &str,
    body: TagInput,
) -> Result<ConversationView> {
    let tag = body.check()?;
    load_visible(app, caller, id).await?;
    let c = add_tag_at_depth(app, &caller.tenant, id, &tag, 0).await?;
    Ok(views(app, caller, vec![c]).await?.remove(0))
}

/// Adds `tag` to the conversation `id` and, when it did not have it yet,
/// emits the internal `tag_added` event at automation chain depth `depth`
/// (what `tag_added` automations run on).
pub(crate) async fn add_tag_at_depth(
    app: &App,
    tenant: &Tenant,
    id: &str,
    tag: &str,
    depth: u32,
) -> Result<Conversation> {
    let mut added = false;
    let c = modify(app, tenant, id, |c| {
        added = false;
        if c.tags.iter().any(|t| t == tag) {
            return Ok(false);
        }
        if c.tags.len() >= MAX_TAGS {
            return Err(Error::field(
                "tag",
                format!("a conversation has at most {MAX_TAGS} tags"),
            ));
        }
        c.tags.push(tag.to_owned());
        added = true;
        Ok(true)
    })
    .await?;
    if added {
        let mut data =
            serde_json::to_value(ConversationView::of(c.clone(), c.incoming)).unwrap_or_default();
        data["tag"] = json!(tag);
        super::events::emit_at_depth(app, tenant, super::events::TAG_ADDED, data, depth).await?;
    }
    Ok(c)
}

/// `DELETE /conversations/{id}/tags/{tag}`: 404 `tag` when it does not have it.
pub async fn remove_tag(
    app: &App,
    caller: &Caller,
    id: &str,
    tag: &str,
) -> Result<ConversationView> {
    change_visible(app, caller, id, |c| {
        let before = c.tags.len();
        c.tags.retain(|t| t != tag);
        if c.tags.len() == before {
            return Err(Error::NotFound("tag"));
        }
        Ok(true)
    })
    .await
}

/// `POST /conversations/{id}/assign` `{user_id|null}`: only to users of the
/// org (422 otherwise); an agent may take a conversation or let go of it, not
/// hand it to someone else (403).
pub async fn assign(
    app: &App,
    caller: &Caller,
    id: &str,
    body: AssignInput,
) -> Result<ConversationView> {
    let user = body.check()?;
    if let Some(u) = &user {
        if agent_user(caller).is_some_and(|me| me != u) {
            return Err(Error::Forbidden(
                "an agent can assign a conversation only to themselves".into(),
            ));
        }
        require_member(app, caller, "user_id", u).await?;
    }
    change_visible(app, caller, id, |c| {
        let changed = c.assignee_id != user;
        c.assignee_id = user.clone();
        Ok(changed)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_is_continued_until_resolved_or_idle() {
        let now: chrono::DateTime<chrono::Utc> = "2026-12-05T12:00:00Z".parse().unwrap();
        let mut c = Conversation::open(
            "c".into(),
            None,
            ChannelType::Sms,
            None,
            "2026-12-05T09:00:00.000Z".into(),
        );
        assert!(continues(&c, 0, now), "0: never idle");
        assert!(continues(&c, 4, now), "3 h < 4 h");
        assert!(!continues(&c, 3, now), "3 h idle starts anew");
        c.status = ConversationStatus::Resolved;
        assert!(!continues(&c, 0, now));
    }
}
