//! Draining a process that holds live calls (the relay on SIGTERM): it
//! takes no new call, fails its health check, lets live calls finish for a
//! bounded time, then ends the rest cleanly instead of leaving them to the
//! lease sweep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep};

use super::runner::{running_calls, signal_stop};

/// Set once this process drains.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// How long stopped runners get to write their calls' end.
const WRITE_ENDS_WITHIN: Duration = Duration::from_secs(10);

/// Whether this process is draining (its health check fails so no new work
/// comes).
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Lets the calls this process runs finish for up to `within`, then stops
/// the rest, which their runners end as `runner_lost` (their tasks and
/// campaigns retry by their own policies). Stop [`super::runner::consume`]
/// first so no call starts meanwhile. Returns how many calls it cut.
pub async fn drain(within: Duration) -> usize {
    DRAINING.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + within;
    while !running_calls().is_empty() && Instant::now() < deadline {
        sleep(Duration::from_millis(100)).await;
    }
    let left = running_calls();
    for id in &left {
        signal_stop(id);
    }
    let written = Instant::now() + WRITE_ENDS_WITHIN;
    while !running_calls().is_empty() && Instant::now() < written {
        sleep(Duration::from_millis(50)).await;
    }
    left.len()
}
