//! `GET /contacts`: the list, its filters and its search, each a read of the
//! keys that answer it and bounded like every list (`page`).
//!
//! * no filter: the contacts newest first, with the total from the counter;
//! * `do_not_call=true`: the do-not-call index (only those contacts);
//! * `search`: by its shape (`SearchKey`) a key-prefix read of the phone
//!   claims, the e-mail claims or the name words, in key order; an exact
//!   phone or e-mail is the first key of its prefix;
//! * `tag` and `do_not_call=false` filter what those reads return (a short
//!   page with `next_cursor` when few match, as every filtered list).

use futures::future::try_join_all;
use serde_json::Value;

use super::{KIND, load};
use crate::App;
use crate::domain::Tenant;
use crate::domain::contact::{Contact, MAX_TAG_CHARS, SearchKey};
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::page::{PageOf, PageRequest, page};
use crate::services::table_keys::*;
use crate::services::views::ContactView;
use crate::store::{Index, Item, Query};

/// The filters of `GET /contacts`.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Name words, a phone or an e-mail (or the start of one).
    pub search: Option<String>,
    /// Only contacts with this tag.
    pub tag: Option<String>,
    /// Only do-not-call contacts (`true`) or the others (`false`).
    pub do_not_call: Option<bool>,
}

/// Longest accepted `search` text.
const MAX_SEARCH_CHARS: usize = 200;

impl ContactFilter {
    /// 422 for a search or tag longer than anything stored could match.
    fn check(&self) -> Result<()> {
        let too_long =
            |v: &Option<String>, max: usize| v.as_ref().is_some_and(|s| s.chars().count() > max);
        if too_long(&self.search, MAX_SEARCH_CHARS) {
            return Err(Error::field(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        if too_long(&self.tag, MAX_TAG_CHARS) {
            return Err(Error::field(
                "tag",
                format!("must be at most {MAX_TAG_CHARS} characters"),
            ));
        }
        Ok(())
    }

    fn keeps(&self, c: &Contact) -> bool {
        self.do_not_call.is_none_or(|d| c.do_not_call == d)
            && self
                .tag
                .as_ref()
                .is_none_or(|t| c.tags.iter().any(|x| x == t))
    }

    fn keeps_stored(&self, item: &Item) -> bool {
        item.parse::<Contact>().is_ok_and(|c| self.keeps(&c))
    }
}

/// `GET /contacts?search=&tag=&do_not_call=&limit=&offset=&cursor=`.
pub async fn list(
    app: &App,
    caller: &Caller,
    filter: &ContactFilter,
    req: &PageRequest,
) -> Result<PageOf<ContactView>> {
    let tenant = &caller.tenant;
    filter.check()?;
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if let Some(text) = search {
        return search_page(app, tenant, text, filter, req).await;
    }
    let (query, counted) = match filter.do_not_call {
        Some(true) => (
            Query::partition(contacts_dnc_index(tenant))
                .on(Index::Gsi2)
                .backward(),
            false,
        ),
        other => (
            Query::partition(tenant.pk())
                .prefix(resource_prefix(KIND))
                .backward(),
            other.is_none() && filter.tag.is_none(),
        ),
    };
    let out = page(app.table.as_ref(), query, req, |i| filter.keeps_stored(i)).await?;
    let total = match counted {
        true => Some(
            app.table
                .counter(&tenant.pk(), &count_sk(KIND))
                .await?
                .max(0) as u64,
        ),
        false => None,
    };
    let mut items = Vec::with_capacity(out.items.len());
    for i in &out.items {
        items.push(ContactView::from(i.parse::<Contact>()?));
    }
    Ok(PageOf {
        items,
        next_cursor: out.next_cursor,
        total,
        limit: out.limit,
        offset: out.offset,
    })
}

/// One page of a search: the matching keys, then their contacts.
async fn search_page(
    app: &App,
    tenant: &Tenant,
    text: &str,
    filter: &ContactFilter,
    req: &PageRequest,
) -> Result<PageOf<ContactView>> {
    let Some(key) = SearchKey::parse(text) else {
        return Ok(PageOf {
            items: Vec::new(),
            next_cursor: None,
            total: Some(0),
            limit: req.limit,
            offset: req.offset,
        });
    };
    let partition = Query::partition(tenant.pk());
    let out = match &key {
        SearchKey::Phone(start) => {
            // The phone claim knows the flag, so that filter costs nothing.
            let query = partition.prefix(contact_phone_sk(start));
            let dnc = filter.do_not_call;
            page(app.table.as_ref(), query, req, |i| {
                dnc.is_none_or(|d| i.data.get("do_not_call") == Some(&Value::Bool(d)))
            })
            .await?
        }
        SearchKey::Email(start) => {
            let query = partition.prefix(contact_email_sk(start));
            page(app.table.as_ref(), query, req, |_| true).await?
        }
        SearchKey::Name(words) => {
            // Walk the most selective (longest) word; keep a contact once,
            // at its first word that matches, and only when every other
            // word of the search starts some word of its name.
            let lead = words
                .iter()
                .max_by_key(|w| w.chars().count())
                .cloned()
                .unwrap_or_default();
            let query = partition.prefix(contact_name_prefix(&lead));
            page(app.table.as_ref(), query, req, |i| {
                name_matches(i, &lead, words)
            })
            .await?
        }
    };
    let ids: Vec<String> = out
        .items
        .iter()
        .filter_map(|i| i.data.get("contact_id")?.as_str().map(str::to_owned))
        .collect();
    let loaded = try_join_all(ids.iter().map(|id| async move {
        match load(app, tenant, id).await {
            Ok((c, _)) => Ok(Some(c)),
            // Deleted between the two reads.
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }))
    .await?;
    let items = loaded
        .into_iter()
        .flatten()
        .filter(|c| filter.keeps(c))
        .map(ContactView::from)
        .collect();
    Ok(PageOf {
        items,
        next_cursor: out.next_cursor,
        total: None,
        limit: out.limit,
        offset: out.offset,
    })
}

/// Whether the name-word item `i` (found by the prefix `lead`) answers the
/// search `words`: every word starts some word of the name, and `i` is the
/// first of that name's words `lead` starts (so a name with two such words is
/// listed once).
fn name_matches(i: &Item, lead: &str, words: &[String]) -> bool {
    let name_words: Vec<&str> = i
        .data
        .get("words")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(word) = i.data.get("word").and_then(Value::as_str) else {
        return false;
    };
    let first = name_words
        .iter()
        .filter(|w| w.starts_with(lead))
        .min()
        .is_some_and(|w| *w == word);
    first
        && words
            .iter()
            .all(|q| name_words.iter().any(|w| w.starts_with(q.as_str())))
}
