//! Following one call's transcript and status as a viewer: what the live
//! transcript socket (and the supervisor's) sends, in order, with nothing
//! missing and nothing repeated.
//!
//! A follower subscribes to the [`hub`] *before* it reads the store, so an
//! entry stored after the read is published to it, and one stored before is
//! in the read; the seq tells which it has already passed on. The hub only
//! carries calls run by this process; for a call held by another process (or
//! not yet claimed) the follower reads the store every [`POLL`] for entries
//! after the last seq and for the call's status.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use super::hub::{self, LiveEvent};
use crate::App;
use crate::domain::Tenant;
use crate::domain::call::CallStatus;
use crate::engine::call::{EndReason, TranscriptEntry};
use crate::error::{Error, Result};
use crate::services::calls::{self, runner};
use crate::services::table_keys::{call_event_sk, call_events_prefix};
use crate::store::{Query, SortKey};

/// How often a call held elsewhere is read from the store.
pub const POLL: Duration = Duration::from_millis(250);

/// How often a call run here is checked for still being run here (its
/// events come from the hub meanwhile).
const HELD_HERE_CHECK: Duration = Duration::from_secs(2);

/// What happened on the call since the follower last said.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// New entries, in seq order, each after the last one passed on.
    Entries(Vec<TranscriptEntry>),
    /// The call's status changed (the last update once it is final).
    Status {
        /// The new status.
        status: CallStatus,
        /// Why it ended, once it has.
        end_reason: Option<EndReason>,
    },
}

/// The follower fell more than [`hub::BUFFER`] events behind the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the viewer fell too far behind the call")]
pub struct Lagged;

/// One viewer's position in one call.
pub struct Follower {
    app: Arc<App>,
    tenant: Tenant,
    call_id: String,
    events: Option<broadcast::Receiver<LiveEvent>>,
    last_seq: u32,
    status: CallStatus,
    end_reason: Option<EndReason>,
    pending: VecDeque<Update>,
    work: Option<Work>,
    poll: tokio::time::Interval,
    done: bool,
}

/// What a follower took on and has not finished.
#[derive(Debug, Clone)]
enum Work {
    /// An entry from the hub (a gap before it is read from the store).
    Entry(TranscriptEntry),
    /// The store's entries after the last seq, and the call's status.
    ReadStore,
}

/// Where a follower starts: the call's status and its transcript after
/// `after_seq`.
pub struct Start {
    /// The call's status now.
    pub status: CallStatus,
    /// Why it ended, if it has.
    pub end_reason: Option<EndReason>,
    /// The entries after `after_seq` stored so far.
    pub transcript: Vec<TranscriptEntry>,
}

impl Follower {
    /// Starts following `call_id` of `tenant` after entry `after_seq`
    /// (another org's or an unknown call: [`Error::NotFound`]).
    pub async fn start(
        app: Arc<App>,
        tenant: Tenant,
        call_id: &str,
        after_seq: u32,
    ) -> Result<(Self, Start)> {
        // Subscribed first: whatever is stored after the reads below is published to us.
        let events = hub::subscribe(call_id);
        let read = async {
            let (call, _) = calls::load(&app, &tenant, call_id).await?;
            let transcript = entries_after(&app, &tenant, call_id, after_seq).await?;
            Ok::<_, Error>((call, transcript))
        };
        let (call, transcript) = match read.await {
            Ok(r) => r,
            Err(e) => {
                drop(events);
                hub::release(call_id);
                return Err(e);
            }
        };
        let last_seq = transcript
            .last()
            .map_or(after_seq, |e| e.seq.max(after_seq));
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let follower = Self {
            app,
            tenant,
            call_id: call_id.to_owned(),
            events: Some(events),
            last_seq,
            status: call.status,
            end_reason: call.end_reason,
            pending: VecDeque::new(),
            work: None,
            poll,
            done: call.status.is_final(),
        };
        let start = Start {
            status: call.status,
            end_reason: call.end_reason,
            transcript,
        };
        Ok((follower, start))
    }

    /// The last seq passed on (what a viewer reconnects after).
    pub fn last_seq(&self) -> u32 {
        self.last_seq
    }

    /// The next update, waiting for it; `None` once the call has ended and
    /// its final status was given. A store read that fails is retried at the
    /// next poll.
    ///
    /// Cancel-safe (a socket selects on it and on its client): an event taken
    /// off the hub is kept as [`Work`] until what it needs from the store has
    /// been read, and the follower only changes once a read is complete.
    pub async fn next(&mut self) -> Option<std::result::Result<Update, Lagged>> {
        loop {
            if let Some(update) = self.pending.pop_front() {
                return Some(Ok(update));
            }
            if self.done {
                return None;
            }
            match self.work.clone() {
                Some(Work::Entry(entry)) => {
                    self.entry(entry).await;
                    self.work = None;
                    continue;
                }
                Some(Work::ReadStore) => {
                    self.read_store().await;
                    self.work = None;
                    continue;
                }
                None => {}
            }
            let event = async {
                match self.events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = event => match event {
                    Ok(LiveEvent::Entry(entry)) => self.work = Some(Work::Entry(entry)),
                    Ok(LiveEvent::Status { status, end_reason }) => self.status(status, end_reason),
                    Err(RecvError::Lagged(_)) => return Some(Err(Lagged)),
                    // The call ended here (its channel closed): the store says how.
                    Err(RecvError::Closed) => {
                        self.events = None;
                        self.work = Some(Work::ReadStore);
                    }
                },
                _ = self.poll.tick() => {
                    if self.events.is_none() || !runner::runs_here(&self.call_id) {
                        self.work = Some(Work::ReadStore);
                    } else {
                        // Run here: the hub carries it; look again later.
                        self.poll.reset_after(HELD_HERE_CHECK);
                    }
                }
            }
        }
    }

    /// An entry from the hub: passed on unless already passed; a gap before
    /// it is filled from the store first.
    async fn entry(&mut self, entry: TranscriptEntry) {
        if entry.seq <= self.last_seq {
            return;
        }
        let mut entries = Vec::new();
        if entry.seq > self.last_seq + 1 {
            match entries_after(&self.app, &self.tenant, &self.call_id, self.last_seq).await {
                Ok(stored) => entries.extend(stored.into_iter().filter(|e| e.seq < entry.seq)),
                Err(e) => tracing::warn!(call = %self.call_id, error = %e,
                    "reading missed transcript entries failed"),
            }
        }
        entries.push(entry);
        self.push_entries(entries);
    }

    fn push_entries(&mut self, entries: Vec<TranscriptEntry>) {
        let fresh: Vec<TranscriptEntry> = entries
            .into_iter()
            .filter(|e| e.seq > self.last_seq)
            .collect();
        if let Some(last) = fresh.last() {
            self.last_seq = last.seq;
            self.pending.push_back(Update::Entries(fresh));
        }
    }

    fn status(&mut self, status: CallStatus, end_reason: Option<EndReason>) {
        if (status, end_reason) == (self.status, self.end_reason) || self.status.is_final() {
            return;
        }
        self.status = status;
        self.end_reason = end_reason;
        self.done = status.is_final();
        self.pending
            .push_back(Update::Status { status, end_reason });
    }

    /// Entries after the last one passed on, then the call's status.
    async fn read_store(&mut self) {
        let read = async {
            let entries =
                entries_after(&self.app, &self.tenant, &self.call_id, self.last_seq).await?;
            let (call, _) = calls::load(&self.app, &self.tenant, &self.call_id).await?;
            Ok::<_, Error>((entries, call))
        };
        match read.await {
            Ok((entries, call)) => {
                self.push_entries(entries);
                self.status(call.status, call.end_reason);
            }
            Err(e) => {
                tracing::warn!(call = %self.call_id, error = %e, "reading a followed call failed")
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        // The receiver goes first, so the hub sees one subscriber fewer.
        let subscribed = self.events.take().is_some();
        if subscribed {
            hub::release(&self.call_id);
        }
    }
}

/// The stored transcript entries of `call_id` after seq `after`, in order.
pub async fn entries_after(
    app: &App,
    tenant: &Tenant,
    call_id: &str,
    after: u32,
) -> Result<Vec<TranscriptEntry>> {
    let query = Query::partition(tenant.pk()).sort_key(SortKey::Between(
        call_event_sk(call_id, after.saturating_add(1)),
        format!("{}~", call_events_prefix(call_id)),
    ));
    let mut entries = Vec::new();
    let mut next = None;
    loop {
        let page = app.table.query(query.clone().after(next)).await?;
        for i in &page.items {
            entries.push(i.parse::<TranscriptEntry>()?);
        }
        next = page.next;
        if next.is_none() {
            return Ok(entries);
        }
    }
}
