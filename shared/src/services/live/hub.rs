//! The live hub of this process: one bounded broadcast channel per call run
//! here. The call runner publishes each transcript entry and status change the
//! moment it is stored; viewer and supervisor sockets subscribe. A receiver
//! that falls more than [`BUFFER`] events behind is lagged by the channel
//! (the socket then drops that viewer): a slow viewer never slows the call.
//!
//! Only calls held by this process publish here; a socket for a call held by
//! another process reads the store instead.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use tokio::sync::broadcast;

use crate::domain::call::CallStatus;
use crate::engine::call::{EndReason, TranscriptEntry};

/// Events one viewer may fall behind before it is dropped.
pub const BUFFER: usize = 256;

/// What happens on a live call.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A transcript entry, as stored.
    Entry(TranscriptEntry),
    /// The call's status changed (`end_reason` once it has ended).
    Status {
        /// The new status.
        status: CallStatus,
        /// Why it ended, when it has.
        end_reason: Option<EndReason>,
    },
}

static CHANNELS: LazyLock<Mutex<HashMap<String, broadcast::Sender<LiveEvent>>>> =
    LazyLock::new(Default::default);

/// Subscribes to `call_id`'s events from now on (the channel is created if
/// the call has none yet, so a viewer may subscribe before the first event).
pub fn subscribe(call_id: &str) -> broadcast::Receiver<LiveEvent> {
    let mut channels = CHANNELS.lock().unwrap_or_else(|p| p.into_inner());
    channels
        .entry(call_id.to_owned())
        .or_insert_with(|| broadcast::channel(BUFFER).0)
        .subscribe()
}

/// Sends `event` to `call_id`'s current subscribers (none: nothing happens).
pub fn publish(call_id: &str, event: LiveEvent) {
    let channels = CHANNELS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tx) = channels.get(call_id) {
        let _ = tx.send(event);
    }
}

/// Forgets `call_id`'s channel once its call has ended and its final status
/// was published; subscribers see the channel close after the last event.
pub fn close(call_id: &str) {
    let mut channels = CHANNELS.lock().unwrap_or_else(|p| p.into_inner());
    channels.remove(call_id);
}

/// Forgets `call_id`'s channel when nobody listens any more (a viewer of a
/// call run elsewhere leaves no channel behind); the runner's next publish
/// finds none and sends nothing, a new viewer makes a new one.
pub fn release(call_id: &str) {
    let mut channels = CHANNELS.lock().unwrap_or_else(|p| p.into_inner());
    if channels
        .get(call_id)
        .is_some_and(|tx| tx.receiver_count() == 0)
    {
        channels.remove(call_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::call::Role;

    fn entry(seq: u32) -> LiveEvent {
        LiveEvent::Entry(TranscriptEntry {
            seq,
            role: Role::Agent,
            text: format!("line {seq}"),
            at_ms: u64::from(seq) * 100,
            interrupted: false,
        })
    }

    #[tokio::test]
    async fn subscribers_get_events_in_order_and_a_lagging_one_is_told() {
        let call = "call-hub-test";
        let mut fast = subscribe(call);
        let mut slow = subscribe(call);
        for seq in 1..=(BUFFER as u32 + 10) {
            publish(call, entry(seq));
            assert_eq!(fast.recv().await.ok(), Some(entry(seq)));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
        close(call);
        assert!(matches!(
            fast.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
    }

    #[test]
    fn the_last_viewer_to_leave_releases_the_channel() {
        let call = "call-hub-release";
        let (a, b) = (subscribe(call), subscribe(call));
        drop(a);
        release(call);
        assert!(
            CHANNELS.lock().unwrap().contains_key(call),
            "b still listens"
        );
        drop(b);
        release(call);
        assert!(!CHANNELS.lock().unwrap().contains_key(call));
    }
}
