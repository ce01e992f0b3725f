//! The inbox's change feed: what the relay's `/ws/inbox` socket pushes.
//!
//! Every conversation write also writes one feed item (in the same
//! transaction where the write is one): `<tenant>#FEED` /
//! `<unix ms, 13 digits>#<id>`, holding the event type, the conversation's
//! id and assignee (the role filter needs them) and the view the socket
//! shows. The items expire after [`TTL`]. The API may run in Lambda and the
//! relay in its own container, so the relay learns of changes only through
//! the table: it reads the feed ([`since`]) of each tenant it has sockets for.
//!
//! Writers commit out of order (a key's time is taken before its
//! transaction commits), so a reader reads back a window of
//! [`LOOK_BACK`] each time and drops the ids it has already passed on.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::App;
use crate::domain::Tenant;
use crate::domain::conversation::{Conversation, Message};
use crate::error::Result;
use crate::services::table_keys::{inbox_feed_pk, inbox_feed_sk};
use crate::services::views::{ConversationView, MessageView};
use crate::store::{Condition, Item, Query, SortKey, Write};

/// How long a feed item is kept: far longer than any reader looks back.
pub const TTL: Duration = Duration::from_secs(600);

/// How far back a reader reads each time: longer than a write takes from
/// taking its key's time to committing (a DynamoDB transaction with its
/// retries), and than the clocks of the API and the relay may differ.
pub const LOOK_BACK: Duration = Duration::from_secs(3);

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `conversation.created`.
    Created,
    /// `conversation.updated`: status, tags, assignment, AI, last activity.
    Updated,
}

impl Change {
    fn event_type(self) -> &'static str {
        match self {
            Change::Created => "conversation.created",
            Change::Updated => "conversation.updated",
        }
    }
}

/// One change of a tenant's inbox, as stored and as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Unique per entry (readers de-duplicate by it).
    pub id: String,
    /// When it was written, unix milliseconds (its key's time).
    pub at_ms: i64,
    /// `conversation.created`, `conversation.updated` or `message.created`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The conversation it is about.
    pub conversation_id: String,
    /// Its assignee at the time (who of the `agent` role may see it).
    pub assignee_id: Option<String>,
    /// Its assignee before this change, when the change moved it: an agent
    /// it was visible to learns that it left them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_assignee_id: Option<Option<String>>,
    /// The `ConversationView` or `MessageView`.
    pub data: Value,
}

impl FeedEntry {
    /// Whether a user with the agent role may see it: the conversation was
    /// theirs or no one's (the rule of `GET /conversations/{id}`).
    /// A conversation taken away from them (or from no one) is seen going.
    pub fn visible_to_agent(&self, user_id: &str) -> bool {
        let theirs = |a: &Option<String>| a.as_deref().is_none_or(|a| a == user_id);
        theirs(&self.assignee_id) || self.previous_assignee_id.as_ref().is_some_and(theirs)
    }

    fn write(app: &App, tenant: &Tenant, entry: Self) -> Write {
        let item = Item::new(
            inbox_feed_pk(tenant),
            inbox_feed_sk(entry.at_ms, &entry.id),
            serde_json::to_value(&entry).unwrap_or_default(),
        )
        .with_ttl(app.now().timestamp() + TTL.as_secs() as i64);
        Write::Put(item, Condition::None)
    }
}

/// The feed item saying `c` was created or changed from `old` (its view as
/// an API key sees it: `unread_count` counts every message not written by a
/// person).
pub(crate) fn conversation(
    app: &App,
    tenant: &Tenant,
    change: Change,
    old: Option<&Conversation>,
    c: &Conversation,
) -> Write {
    let view = ConversationView::of(c.clone(), c.incoming);
    let previous_assignee_id = old
        .map(|o| o.assignee_id.clone())
        .filter(|before| *before != c.assignee_id);
    let entry = FeedEntry {
        id: app.new_id(),
        at_ms: app.now().timestamp_millis(),
        event_type: change.event_type().into(),
        conversation_id: c.id.clone(),
        assignee_id: c.assignee_id.clone(),
        previous_assignee_id,
        data: serde_json::to_value(view).unwrap_or_default(),
    };
    FeedEntry::write(app, tenant, entry)
}

/// The feed item saying `m` was added to a conversation assigned to
/// `assignee_id`.
pub(crate) fn message(app: &App, tenant: &Tenant, assignee_id: Option<&str>, m: &Message) -> Write {
    let entry = FeedEntry {
        id: app.new_id(),
        at_ms: app.now().timestamp_millis(),
        event_type: "message.created".into(),
        conversation_id: m.conversation_id.clone(),
        assignee_id: assignee_id.map(str::to_owned),
        previous_assignee_id: None,
        data: serde_json::to_value(MessageView::from(m.clone())).unwrap_or_default(),
    };
    FeedEntry::write(app, tenant, entry)
}

/// Items read per page of the feed.
const PAGE: usize = 200;

/// The tenant's feed entries written at `from_ms` or later, oldest first,
/// at most `max` of them.
pub async fn since(app: &App, tenant: &Tenant, from_ms: i64, max: usize) -> Result<Vec<FeedEntry>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let query = Query::partition(inbox_feed_pk(tenant))
            .sort_key(SortKey::From(inbox_feed_sk(from_ms.max(0), "")))
            .limit(PAGE.min(max.saturating_sub(out.len())))
            .after(cursor);
        let page = app.table.query(query).await?;
        for item in &page.items {
            match item.parse::<FeedEntry>() {
                Ok(entry) => out.push(entry),
                Err(e) => {
                    tracing::warn!(sk = %item.sk, error = %e, "an unreadable inbox feed item")
                }
            }
        }
        cursor = page.next;
        if cursor.is_none() || out.len() >= max {
            return Ok(out);
        }
    }
}
