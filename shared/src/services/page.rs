//! Paging through a partition with `limit`/`offset`/`cursor` (SPEC §1).

use crate::error::{Error, Result};
use crate::store::{Cursor, Item, Query, Table};

/// Most items one list call returns.
pub const MAX_LIMIT: usize = 100;
/// Items a list returns when the client does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest offset accepted; deeper pages must use the cursor (offsets cost a
/// read of every skipped item).
pub const MAX_OFFSET: usize = 10_000;

/// What the client asked for.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Page size (1..=100).
    pub limit: usize,
    /// Items to skip (ignored with a cursor).
    pub offset: usize,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl PageRequest {
    /// Parses the query-string values, reporting each bad one.
    pub fn parse(limit: Option<&str>, offset: Option<&str>, cursor: Option<&str>) -> Result<Self> {
        let mut errors = crate::error::FieldErrors::new();
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.insert(
                        "limit".into(),
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    );
                    DEFAULT_LIMIT
                }
            },
        };
        let offset = match offset {
            None => 0,
            Some(s) => {
                match s.parse::<usize>() {
                    Ok(n) if n <= MAX_OFFSET => n,
                    _ => {
                        errors.insert("offset".into(), format!("must be an integer from 0 to {MAX_OFFSET}; use cursor for deeper pages"));
                        0
                    }
                }
            }
        };
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(Self {
            limit,
            offset,
            cursor: cursor.filter(|c| !c.is_empty()).map(str::to_owned),
        })
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct PageOf<T> {
    /// The items.
    pub items: Vec<T>,
    /// Continue from here, if there is more.
    pub next_cursor: Option<String>,
    /// Total matching items, when it is cheap to know.
    pub total: Option<u64>,
    /// The limit applied.
    pub limit: usize,
    /// The offset applied.
    pub offset: usize,
}

impl<T> PageOf<T> {
    /// Converts the items.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageOf<U> {
        PageOf {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        }
    }
}

/// Reads one page of `query`'s partition, keeping only items that pass
/// `keep`. With a cursor it continues there; otherwise it skips `offset`
/// matching items. Store pages are sized so the last one ends exactly at the
/// last returned item, which makes `next_cursor` exact even with a filter.
pub async fn page(
    table: &dyn Table,
    query: Query,
    req: &PageRequest,
    keep: impl Fn(&Item) -> bool,
) -> Result<PageOf<Item>> {
    let (mut skip, cursor) = match &req.cursor {
        Some(c) => (0, Some(Cursor::from_client(c.clone()))),
        None => (req.offset, None),
    };
    let mut items = Vec::with_capacity(req.limit);
    let mut next = cursor;
    loop {
        let want = (skip + req.limit - items.len()).min(MAX_LIMIT);
        let page = table
            .query(query.clone().limit(want).after(next.take()))
            .await?;
        for item in page.items {
            if !keep(&item) {
                continue;
            }
            if skip > 0 {
                skip -= 1;
            } else {
                items.push(item);
            }
        }
        next = page.next;
        if items.len() >= req.limit || next.is_none() {
            break;
        }
    }
    Ok(PageOf {
        items,
        next_cursor: next.map(|c| c.as_str().to_owned()),
        total: None,
        limit: req.limit,
        offset: if req.cursor.is_some() { 0 } else { req.offset },
    })
}
