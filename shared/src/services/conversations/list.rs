//! `GET /conversations`: newest activity first, filtered through the index
//! partition of the most selective filter given (the others, and an
//! agent's visibility, filter that page: a short page with `next_cursor`
//! when few match, as every filtered list), or searched through the word
//! items of contacts and messages.

use futures::future::try_join_all;

use super::{KIND, load, narrowed_to, views};
use crate::App;
use crate::domain::Tenant;
use crate::domain::conversation::{
    ChannelType, Conversation, ConversationStatus, MAX_TAG_CHARS, NO_ASSIGNEE, facet, search_words,
};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::page::{PageOf, PageRequest, page};
use crate::services::table_keys::*;
use crate::services::views::ConversationView;
use crate::store::{Index, Item, Query};

/// Longest accepted `search` text.
const MAX_SEARCH_CHARS: usize = 200;
/// Most words of a search that must all match.
const MAX_SEARCH_TERMS: usize = 5;

/// The filters of `GET /conversations`.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Only this status.
    pub status: Option<ConversationStatus>,
    /// Only this channel type.
    pub channel_type: Option<ChannelType>,
    /// Only with this tag.
    pub tag: Option<String>,
    /// Only assigned to this user (`none`: unassigned).
    pub assignee_id: Option<String>,
    /// Words of the contact's name or phone, or of a message.
    pub search: Option<String>,
}

impl ConversationFilter {
    /// 422 for a search or tag longer than anything stored could match.
    fn check(&self) -> Result<()> {
        let too_long =
            |v: &Option<String>, max: usize| v.as_ref().is_some_and(|s| s.chars().count() > max);
        let mut errors = crate::error::FieldErrors::new();
        if too_long(&self.search, MAX_SEARCH_CHARS) {
            errors.insert(
                "search".into(),
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            );
        }
        if too_long(&self.tag, MAX_TAG_CHARS) {
            errors.insert(
                "tag".into(),
                format!("must be at most {MAX_TAG_CHARS} characters"),
            );
        }
        if too_long(&self.assignee_id, 64) {
            errors.insert("assignee_id".into(), "must be at most 64 characters".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// The index partition to walk: the most selective filter given.
    fn facet(&self) -> Option<String> {
        if let Some(a) = &self.assignee_id {
            return Some(facet("assignee_id", a));
        }
        if let Some(t) = &self.tag {
            return Some(facet("tag", t));
        }
        if let Some(s) = self.status {
            return Some(facet("status", s.as_str()));
        }
        self.channel_type.map(|t| facet("channel_type", t.as_str()))
    }

    fn keeps(&self, c: &Conversation, agent: Option<&str>) -> bool {
        agent.is_none_or(|u| c.visible_to_agent(u))
            && self.status.is_none_or(|s| c.status == s)
            && self.channel_type.is_none_or(|t| c.channel_type == t)
            && self.tag.as_ref().is_none_or(|t| c.tags.contains(t))
            && self
                .assignee_id
                .as_deref()
                .is_none_or(|a| c.assignee_id.as_deref().unwrap_or(NO_ASSIGNEE) == a)
    }
}

/// `GET /conversations?status=&channel_type=&tag=&assignee_id=&search=`.
pub async fn list(
    app: &App,
    caller: &Caller,
    filter: &ConversationFilter,
    req: &PageRequest,
) -> Result<PageOf<ConversationView>> {
    filter.check()?;
    let agent = narrowed_to(app, caller).await?;
    let tenant = &caller.tenant;
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(text) = search {
        let found = search_page(app, tenant, text, req).await?;
        let kept = found
            .items
            .into_iter()
            .filter(|c| filter.keeps(c, agent))
            .collect();
        return Ok(PageOf {
            items: views(app, caller, kept).await?,
            next_cursor: found.next_cursor,
            total: None,
            limit: found.limit,
            offset: found.offset,
        });
    }
    let facet = filter.facet();
    let query = Query::partition(conversations_index(tenant, facet.as_deref()))
        .on(Index::Gsi1)
        .backward();
    let out = page(app.table.as_ref(), query, req, |i: &Item| {
        i.parse::<Conversation>()
            .is_ok_and(|c| filter.keeps(&c, agent))
    })
    .await?;
    // The counter is the total of the unfiltered list only.
    let total = if facet.is_none() && agent.is_none() {
        Some(
            app.table
                .counter(&tenant.pk(), &count_sk(KIND))
                .await?
                .max(0) as u64,
        )
    } else {
        None
    };
    let out = out.parsed(|c: Conversation| c)?;
    Ok(PageOf {
        items: views(app, caller, out.items).await?,
        next_cursor: out.next_cursor,
        total,
        limit: out.limit,
        offset: out.offset,
    })
}

/// One page of the conversations holding every word of `text`, in word-key
/// order: the longest word's items are walked, the others checked by key.
async fn search_page(
    app: &App,
    tenant: &Tenant,
    text: &str,
    req: &PageRequest,
) -> Result<PageOf<Conversation>> {
    let mut words = search_words(text);
    words.truncate(MAX_SEARCH_TERMS);
    let Some(lead) = words.iter().max_by_key(|w| w.chars().count()).cloned() else {
        return Ok(PageOf {
            items: Vec::new(),
            next_cursor: None,
            total: Some(0),
            limit: req.limit,
            offset: req.offset,
        });
    };
    let query = Query::partition(tenant.pk()).prefix(conversation_word_prefix(&lead));
    let out = page(app.table.as_ref(), query, req, |_| true).await?;
    let ids: Vec<String> = out
        .items
        .iter()
        .filter_map(|i| i.data.get("conversation_id")?.as_str().map(str::to_owned))
        .collect();
    let others: Vec<&String> = words.iter().filter(|w| **w != lead).collect();
    let found = try_join_all(ids.iter().map(|id| {
        let others = &others;
        async move {
            for w in others {
                if app
                    .table
                    .get(&tenant.pk(), &conversation_word_sk(w, id))
                    .await?
                    .is_none()
                {
                    return Ok(None);
                }
            }
            match load(app, tenant, id).await {
                Ok((c, _)) => Ok(Some(c)),
                Err(Error::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        }
    }))
    .await?;
    Ok(PageOf {
        items: found.into_iter().flatten().collect(),
        next_cursor: out.next_cursor,
        total: None,
        limit: out.limit,
        offset: out.offset,
    })
}
