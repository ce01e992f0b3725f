//! The per-key rate limit (SPEC §1): a fixed one-minute window counted in the
//! table, so every instance of every function shares one count per key.
//!
//! Counting each request with its own table write would make the counter the
//! most written item in the system and double the cost of every read call.
//! Instead each instance reserves quota in blocks with one atomic add and
//! serves the block from memory. A block starts at one request and doubles
//! while the key stays busy, capped at 1/200 of the limit, so a quiet key is
//! counted exactly and at most `cap - 1` requests per instance are reserved
//! but unused when a window closes. The limit is never exceeded: a block is
//! only granted up to what the shared count leaves.
//!
//! The org's limit itself is read from its settings at most once a second per
//! instance ([`OrgLimits`]); a change made through this instance applies at
//! once, one made through another within a second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::table_keys::rate_pk;
use crate::store::{StoreResult, Table};

/// The largest block one reservation takes.
const MAX_BLOCK: u32 = 256;

/// How long an org's limit is trusted before it is read again.
const ORG_LIMIT_TTL: Duration = Duration::from_secs(1);

/// Where a key stands in its rate-limit window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateState {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in this window.
    pub remaining: u32,
    /// Unix seconds when the window resets.
    pub reset: i64,
    /// Whether this request is within the limit.
    pub allowed: bool,
}

fn block_cap(limit: u32) -> u32 {
    (limit / 200).clamp(1, MAX_BLOCK)
}

/// This instance's share of one key's current window.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// The minute (Unix seconds / 60) the slot is for.
    window: i64,
    /// The limit the grants were made under (a change starts over).
    limit: u32,
    /// Reserved requests this instance may still serve.
    left: u32,
    /// The shared count after this instance's latest reservation.
    counted: i64,
    /// Size of the next reservation.
    block: u32,
    /// The shared count reached the limit: deny without another write.
    exhausted: bool,
}

impl Slot {
    fn state(&self, reset: i64, allowed: bool) -> RateState {
        let used = (self.counted - self.left as i64).max(0);
        RateState {
            limit: self.limit,
            remaining: if allowed {
                (self.limit as i64 - used).max(0) as u32
            } else {
                0
            },
            reset,
            allowed,
        }
    }
}

/// Quota reserved by this instance, per API key.
#[derive(Default)]
pub struct RateLimiter {
    slots: Mutex<HashMap<String, Slot>>,
}

impl RateLimiter {
    /// Counts one request of `key_id` against `limit` requests per minute at
    /// Unix time `now`.
    pub async fn take(
        &self,
        table: &dyn Table,
        key_id: &str,
        limit: u32,
        now: i64,
    ) -> StoreResult<RateState> {
        let window = now.div_euclid(60);
        let reset = (window + 1) * 60;
        let cap = block_cap(limit);
        let block = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let slot = slots.entry(key_id.to_owned()).or_default();
            if slot.window != window || slot.limit != limit {
                // A key that was busy last minute starts at half its block.
                let carried = if slot.window == window - 1 && slot.limit == limit {
                    slot.block / 2
                } else {
                    1
                };
                *slot = Slot {
                    window,
                    limit,
                    block: carried.clamp(1, cap),
                    ..Slot::default()
                };
            }
            if slot.left > 0 {
                slot.left -= 1;
                return Ok(slot.state(reset, true));
            }
            if slot.exhausted {
                return Ok(slot.state(reset, false));
            }
            let block = slot.block;
            slot.block = (block * 2).min(cap);
            block
        };
        let counted = table
            .add(
                &rate_pk(key_id),
                &window.to_string(),
                block as i64,
                Some(reset + 60),
            )
            .await?;
        let granted = (limit as i64 - (counted - block as i64)).clamp(0, block as i64) as u32;
        // Of an over-reserved block only the granted part is this key's use.
        let used = counted - block as i64 + granted as i64;
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.entry(key_id.to_owned()).or_default();
        if slot.window != window || slot.limit != limit {
            // The window turned (or the limit changed) while we waited: this
            // request was counted in the window it arrived in, and the rest
            // of its block is not kept.
            let alone = Slot {
                window,
                limit,
                counted: used,
                left: granted.saturating_sub(1),
                ..Slot::default()
            };
            return Ok(alone.state(reset, granted > 0));
        }
        slot.counted = slot.counted.max(used);
        if granted == 0 {
            slot.exhausted = true;
            return Ok(slot.state(reset, false));
        }
        slot.left += granted - 1;
        Ok(slot.state(reset, true))
    }
}

/// A fixed window of `window` seconds counted in the table, for limits that
/// every instance must share exactly (per client address, per e-mail): the
/// window containing `now` and the seconds until it ends.
fn window_of(window: i64, now: i64) -> (String, i64) {
    let index = now.div_euclid(window);
    (index.to_string(), ((index + 1) * window - now).max(1))
}

/// Counts one hit of `pk` in its fixed window; `Some(retry_after)` when it
/// is past `limit` hits.
pub async fn hit(
    table: &dyn Table,
    pk: &str,
    window: i64,
    limit: i64,
    now: i64,
) -> StoreResult<Option<u64>> {
    let (sk, left) = window_of(window, now);
    let used = table.add(pk, &sk, 1, Some(now + left + 60)).await?;
    Ok((used > limit).then_some(left as u64))
}

/// Whether `pk` already has `limit` hits in its window (`Some(retry_after)`),
/// without counting one.
pub async fn exhausted(
    table: &dyn Table,
    pk: &str,
    window: i64,
    limit: i64,
    now: i64,
) -> StoreResult<Option<u64>> {
    let (sk, left) = window_of(window, now);
    let used = table.counter(pk, &sk).await?;
    Ok((used >= limit).then_some(left as u64))
}

/// Each org's requests-per-minute limit, read from its settings at most once
/// a second.
#[derive(Default)]
pub struct OrgLimits {
    limits: Mutex<HashMap<String, (u32, Instant)>>,
}

impl OrgLimits {
    /// The cached limit of `org_id`, if read within the last second.
    pub fn get(&self, org_id: &str) -> Option<u32> {
        let limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        limits
            .get(org_id)
            .filter(|(_, at)| at.elapsed() < ORG_LIMIT_TTL)
            .map(|(limit, _)| *limit)
    }

    /// Remembers the limit just read.
    pub fn put(&self, org_id: &str, limit: u32) {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if limits.len() > 10_000 {
            limits.retain(|_, (_, at)| at.elapsed() < ORG_LIMIT_TTL);
        }
        limits.insert(org_id.to_owned(), (limit, Instant::now()));
    }

    /// Forgets an org's limit (its settings just changed).
    pub fn forget(&self, org_id: &str) {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        limits.remove(org_id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::store::embedded::{Database, EmbeddedTable};
    use crate::store::{Condition, Item, Page, Query, Write};

    /// The real embedded table, counting the counter writes that reach it.
    struct Counting {
        inner: EmbeddedTable,
        adds: AtomicUsize,
    }

    #[async_trait]
    impl Table for Counting {
        async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
            self.inner.get(pk, sk).await
        }
        async fn put(&self, item: Item, condition: Condition) -> StoreResult<Item> {
            self.inner.put(item, condition).await
        }
        async fn delete(&self, pk: &str, sk: &str, c: Condition) -> StoreResult<Option<Item>> {
            self.inner.delete(pk, sk, c).await
        }
        async fn query(&self, q: Query) -> StoreResult<Page> {
            self.inner.query(q).await
        }
        async fn transact(&self, writes: Vec<Write>) -> StoreResult<()> {
            self.inner.transact(writes).await
        }
        async fn add(&self, pk: &str, sk: &str, delta: i64, ttl: Option<i64>) -> StoreResult<i64> {
            self.adds.fetch_add(1, Ordering::Relaxed);
            self.inner.add(pk, sk, delta, ttl).await
        }
        async fn counter(&self, pk: &str, sk: &str) -> StoreResult<i64> {
            self.inner.counter(pk, sk).await
        }
        async fn counters(
            &self,
            pk: &str,
            range: crate::store::SortKey,
        ) -> StoreResult<Vec<(String, i64)>> {
            self.inner.counters(pk, range).await
        }
    }

    fn table(dir: &tempfile::TempDir) -> Arc<Counting> {
        let db = Arc::new(Database::open(&dir.path().join("t.db"), 2).unwrap());
        Arc::new(Counting {
            inner: EmbeddedTable::new(db),
            adds: AtomicUsize::new(0),
        })
    }

    /// The first second of a minute.
    const NOW: i64 = 1_800_000_000;

    #[tokio::test]
    async fn a_busy_key_gets_exactly_its_limit_with_few_writes() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        let limiter = RateLimiter::default();
        let mut remaining = Vec::new();
        for _ in 0..10_000 {
            let s = limiter.take(&*t, "k1", 10_000, NOW).await.unwrap();
            assert!(s.allowed);
            remaining.push(s.remaining);
        }
        // The headers count down one per request, as if every one were written.
        assert!(remaining.iter().rev().copied().eq(0..10_000));
        let denied = limiter.take(&*t, "k1", 10_000, NOW + 1).await.unwrap();
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.reset, NOW + 60);
        // Blocks of up to 50 (1/200 of the limit): ~200 writes, not 10,000;
        // once exhausted, denials cost no write.
        let adds = t.adds.load(Ordering::Relaxed);
        assert!(adds < 260, "{adds} counter writes");
        limiter.take(&*t, "k1", 10_000, NOW + 2).await.unwrap();
        assert_eq!(t.adds.load(Ordering::Relaxed), adds);
        // The next window starts over.
        assert!(
            limiter
                .take(&*t, "k1", 10_000, NOW + 60)
                .await
                .unwrap()
                .allowed
        );
    }

    #[tokio::test]
    async fn instances_share_the_count_and_never_exceed_it() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        let (a, b) = (RateLimiter::default(), RateLimiter::default());
        let mut allowed = 0;
        for i in 0..3_000 {
            let limiter = if i % 3 == 0 { &a } else { &b };
            if limiter.take(&*t, "k", 2_000, NOW).await.unwrap().allowed {
                allowed += 1;
            }
        }
        // At most one block (cap 10) per instance is reserved but unused.
        assert!((2_000 - 2 * 10..=2_000).contains(&allowed), "{allowed}");
        // A third instance sees the exhausted window at once.
        let c = RateLimiter::default();
        assert!(!c.take(&*t, "k", 2_000, NOW).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn a_quiet_key_is_counted_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        let (a, b) = (RateLimiter::default(), RateLimiter::default());
        // Limit 3: the cap is one request, so two instances share it exactly.
        assert!(a.take(&*t, "q", 3, NOW).await.unwrap().allowed);
        assert!(b.take(&*t, "q", 3, NOW).await.unwrap().allowed);
        let third = a.take(&*t, "q", 3, NOW).await.unwrap();
        assert!(third.allowed);
        assert_eq!(third.remaining, 0);
        assert!(!b.take(&*t, "q", 3, NOW).await.unwrap().allowed);
        // Raising the limit mid-window applies at once.
        assert!(b.take(&*t, "q", 5, NOW).await.unwrap().allowed);
        // Keys never share a count.
        assert!(a.take(&*t, "other", 3, NOW).await.unwrap().allowed);
    }

    #[test]
    fn org_limits_expire_and_can_be_forgotten() {
        let limits = OrgLimits::default();
        assert_eq!(limits.get("o"), None);
        limits.put("o", 50);
        assert_eq!(limits.get("o"), Some(50));
        limits.forget("o");
        assert_eq!(limits.get("o"), None);
    }
}
