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

impl PageRequest {
    /// `page`/`per_page` (page numbers from 1) as a limit and an offset, for
    /// the lists SPEC lets page that way too; giving them with `limit` or
    /// `offset` is a 422 (which one the client meant is a guess).
    pub fn numbered(
        page: Option<&str>,
        per_page: Option<&str>,
        limit: Option<&str>,
        offset: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self> {
        if page.is_none() && per_page.is_none() {
            return Self::parse(limit, offset, cursor);
        }
        let mut errors = crate::error::FieldErrors::new();
        if limit.is_some() || offset.is_some() {
            errors.insert(
                "page".into(),
                "use either page/per_page or limit/offset, not both".into(),
            );
        }
        let per_page = match per_page.map(str::parse::<usize>) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                errors.insert(
                    "per_page".into(),
                    format!("must be an integer from 1 to {MAX_LIMIT}"),
                );
                DEFAULT_LIMIT
            }
        };
        let last = MAX_OFFSET / per_page + 1;
        let page = match page.map(str::parse::<usize>) {
            None => 1,
            Some(Ok(n)) if (1..=last).contains(&n) => n,
            Some(_) => {
                errors.insert(
                    "page".into(),
                    format!("must be an integer from 1 to {last}; use cursor for deeper pages"),
                );
                1
            }
        };
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(Self {
            limit: per_page,
            offset: (page - 1) * per_page,
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

impl PageOf<Item> {
    /// The stored items read as `T` and shown through `view`: a page of
    /// resource views.
    pub fn parsed<T: serde::de::DeserializeOwned, V>(
        self,
        view: impl Fn(T) -> V,
    ) -> Result<PageOf<V>> {
        let mut items = Vec::with_capacity(self.items.len());
        for i in &self.items {
            items.push(view(i.parse()?));
        }
        Ok(PageOf {
            items,
            next_cursor: self.next_cursor,
            total: self.total,
            limit: self.limit,
            offset: self.offset,
        })
    }
}

/// Prefix of the cursors [`slice`] hands out.
const SLICE_CURSOR: &str = "at.";

/// One page of a collection that is read whole (an org's keys or members,
/// a user's orgs, an agent's tools or documents: small by construction), so
/// that these lists take `limit`/`offset`/`cursor` and report
/// `meta.pagination` like every other list. Their cursor is the position
/// of the next item.
pub fn slice<T>(items: Vec<T>, req: &PageRequest) -> Result<PageOf<T>> {
    let start = match &req.cursor {
        None => req.offset,
        Some(c) => c
            .strip_prefix(SLICE_CURSOR)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| Error::field("cursor", "is not a cursor this list handed out"))?,
    };
    let total = items.len();
    let end = start.saturating_add(req.limit).min(total);
    let page: Vec<T> = items.into_iter().skip(start).take(req.limit).collect();
    Ok(PageOf {
        items: page,
        next_cursor: (end < total).then(|| format!("{SLICE_CURSOR}{end}")),
        total: Some(total as u64),
        limit: req.limit,
        offset: if req.cursor.is_some() { 0 } else { req.offset },
    })
}

/// Reads one page of `query`'s partition, keeping only items that pass
/// `keep`. With a cursor it continues there; otherwise it skips `offset`
/// matching items. Store pages are sized so the last one ends exactly at the
/// last returned item, which makes `next_cursor` exact even with a filter.
/// Most items a filtered list reads past its offset in one request. A filter
/// that matches little (`GET /agents?enabled=false` over thousands of enabled
/// agents) answers a short page with `next_cursor` where it stopped, as a
/// DynamoDB query page does, instead of reading the whole partition.
pub const MAX_SCANNED: usize = 1_000;

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
    let scan_bound = skip + MAX_SCANNED;
    let mut scanned = 0;
    loop {
        let want = (skip + req.limit - items.len()).min(MAX_LIMIT);
        let page = table
            .query(query.clone().limit(want).after(next.take()))
            .await?;
        scanned += page.items.len();
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
        if scanned >= scan_bound {
            // A cursor cannot carry the rest of an offset: say how to go on.
            if skip > 0 {
                return Err(Error::field(
                    "offset",
                    "this filter matches too few items to skip that many; page with `cursor` instead",
                ));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn req(limit: &str, offset: Option<&str>, cursor: Option<&str>) -> PageRequest {
        PageRequest::parse(Some(limit), offset, cursor).unwrap()
    }

    #[test]
    fn a_slice_pages_by_offset_and_by_cursor_alike() {
        let items: Vec<u32> = (0..5).collect();
        let first = slice(items.clone(), &req("2", None, None)).unwrap();
        assert_eq!(first.items, [0, 1]);
        assert_eq!(first.total, Some(5));
        let cursor = first.next_cursor.unwrap();
        let second = slice(items.clone(), &req("2", None, Some(&cursor))).unwrap();
        assert_eq!(second.items, [2, 3]);
        let by_offset = slice(items.clone(), &req("2", Some("2"), None)).unwrap();
        assert_eq!(by_offset.items, second.items);
        let last = slice(items.clone(), &req("2", Some("4"), None)).unwrap();
        assert_eq!(last.items, [4]);
        assert_eq!(last.next_cursor, None);
        assert!(
            slice(items.clone(), &req("2", Some("9"), None))
                .unwrap()
                .items
                .is_empty()
        );
        assert!(matches!(
            slice(items, &req("2", None, Some("bogus"))),
            Err(Error::Validation(_))
        ));
    }

    /// A filter that matches nothing reads a bounded number of items and
    /// hands back a cursor, not the whole partition.
    #[tokio::test]
    async fn a_filtered_list_reads_a_bounded_number_of_items() {
        use crate::store::embedded::{Database, EmbeddedTable};
        use crate::store::{Condition, Item};
        use std::sync::atomic::{AtomicUsize, Ordering};

        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(Database::open(&dir.path().join("t.db"), 1).unwrap());
        let table = EmbeddedTable::new(db);
        for i in 0..2_500 {
            let item = Item::new("P", format!("K#{i:05}"), serde_json::json!({"i": i}));
            table.put(item, Condition::None).await.unwrap();
        }
        let seen = AtomicUsize::new(0);
        let keep = |_: &Item| {
            seen.fetch_add(1, Ordering::Relaxed);
            false
        };
        let query = Query::partition("P").prefix("K#");
        let first = page(&table, query.clone(), &req("10", None, None), keep)
            .await
            .unwrap();
        assert!(first.items.is_empty());
        let read = seen.load(Ordering::Relaxed);
        assert!(
            (MAX_SCANNED..MAX_SCANNED + MAX_LIMIT).contains(&read),
            "read {read}"
        );
        let cursor = first.next_cursor.expect("a cursor to go on from");
        // Going on from the cursor reads the next stretch, not the first again.
        let second = page(
            &table,
            query.clone(),
            &req("10", None, Some(&cursor)),
            |i: &Item| i.data["i"].as_u64().is_some_and(|i| i >= 2_490),
        )
        .await
        .unwrap();
        assert!(second.items.is_empty() && second.next_cursor.is_some());
        // An offset past what the bound reads is refused with a way forward.
        let deep = page(&table, query, &req("10", Some("5"), None), |_: &Item| false).await;
        assert!(matches!(deep, Err(Error::Validation(_))));
    }

    #[test]
    fn bad_limits_are_refused() {
        for bad in ["-1", "abc", "1e9", "0", "101", ""] {
            assert!(PageRequest::parse(Some(bad), None, None).is_err(), "{bad}");
        }
    }
}
