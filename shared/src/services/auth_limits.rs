//! What keeps the public sign-in routes (signup, login, accept-invite) from
//! being a brute-force oracle or a memory bomb.
//!
//! - Per client address: [`ADDRESS_LIMIT`] attempts a minute on each route.
//! - Per e-mail: after [`EMAIL_FAILURES`] failed logins in
//!   [`EMAIL_WINDOW`] seconds, logins for that e-mail are refused before
//!   any password is checked, whoever sends them.
//!
//! Both are counted in the table, so they hold across every Lambda instance.
//! Refusals are [`Error::RateLimited`] (429 with `Retry-After`).
//!
//! And each password hash (argon2id, ~19 MiB and tens of milliseconds of a
//! core) runs through one [`HashGate`] per process: at most as many at once
//! as there are cores, a bounded queue behind them, and 429 past it, so a
//! flood costs a bounded amount of memory. Hashing runs on the blocking
//! pool, off the async workers.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::rate_limit::{exhausted, hit};
use super::table_keys::auth_rate_pk;
use crate::App;
use crate::crypto;
use crate::error::{Error, Result};

/// Attempts one client address may make on one public auth route a minute.
pub const ADDRESS_LIMIT: i64 = 30;
/// Failed logins for one e-mail before its logins are refused for the rest
/// of the window.
pub const EMAIL_FAILURES: i64 = 10;
/// The e-mail window, in seconds.
pub const EMAIL_WINDOW: i64 = 15 * 60;

/// Counts an attempt on `route` from `address` (requests with no known
/// address share one bucket); 429 past [`ADDRESS_LIMIT`].
pub async fn check_address(app: &App, route: &str, address: Option<&str>) -> Result<()> {
    let pk = auth_rate_pk(route, address.unwrap_or("unknown"));
    match hit(&*app.table, &pk, 60, ADDRESS_LIMIT, app.now().timestamp()).await? {
        Some(retry) => Err(Error::RateLimited(retry)),
        None => Ok(()),
    }
}

fn email_pk(email: &str) -> String {
    auth_rate_pk("login-failures", &email.trim().to_lowercase())
}

/// 429 when `email` has had [`EMAIL_FAILURES`] failed logins in this window.
pub async fn check_email(app: &App, email: &str) -> Result<()> {
    let now = app.now().timestamp();
    match exhausted(
        &*app.table,
        &email_pk(email),
        EMAIL_WINDOW,
        EMAIL_FAILURES,
        now,
    )
    .await?
    {
        Some(retry) => Err(Error::RateLimited(retry)),
        None => Ok(()),
    }
}

/// Counts a failed login for `email`.
pub async fn login_failed(app: &App, email: &str) -> Result<()> {
    let now = app.now().timestamp();
    hit(&*app.table, &email_pk(email), EMAIL_WINDOW, i64::MAX, now).await?;
    Ok(())
}

/// A bound on concurrent password hashing.
pub struct HashGate {
    permits: Semaphore,
    size: usize,
    /// Callers waiting or hashing.
    queued: AtomicUsize,
    /// Most callers allowed to wait or hash at once.
    max_queued: usize,
    hashing: AtomicUsize,
    peak: AtomicUsize,
}

/// Longest a caller waits for its turn before a 429.
const GATE_WAIT: Duration = Duration::from_secs(10);

impl HashGate {
    /// `size` hashes at once, `queue` more callers waiting.
    pub fn new(size: usize, queue: usize) -> Self {
        Self {
            permits: Semaphore::new(size),
            size,
            queued: AtomicUsize::new(0),
            max_queued: size + queue,
            hashing: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// How many hashes may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Runs `work` on the blocking pool when its turn comes; 429 when the
    /// queue is full or the turn does not come within [`GATE_WAIT`].
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let busy = || Error::RateLimited(1);
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let _queued = Leave(&self.queued);
        let _permit = tokio::time::timeout(GATE_WAIT, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| Error::Internal("the hashing gate is closed".into()))?;
        let now = self.hashing.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::AcqRel);
        let _hashing = Leave(&self.hashing);
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| Error::Internal(format!("password hashing task: {e}")))
    }
}

/// Decrements a counter when dropped (also when the caller goes away).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// This process's gate: one hash per core (so at most ~19 MiB of argon2
/// memory per core), and up to 32 callers per core waiting (a waiting call
/// holds no hashing memory); past that, 429.
pub static HASH_GATE: LazyLock<HashGate> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    HashGate::new(cores, 32 * cores)
});

/// Hashes a new password through [`HASH_GATE`].
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    HASH_GATE
        .run(move || crypto::hash_password(&password))
        .await?
        .map_err(|e| Error::Internal(format!("hashing password: {e}")))
}

/// Checks a password through [`HASH_GATE`].
pub async fn verify_password(password: &str, hash: &str) -> Result<bool> {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    HASH_GATE
        .run(move || crypto::verify_password(&password, &hash))
        .await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_never_hashes_more_than_the_gate_allows() {
        let gate = Arc::new(HashGate::new(2, 6));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                gate.run(|| std::thread::sleep(Duration::from_millis(50)))
                    .await
            }));
        }
        let mut ran = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ran += 1,
                Err(Error::RateLimited(_)) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(gate.peak(), 2, "two at once, never more");
        assert!(ran >= 8, "the gate and its queue were served: {ran}");
        assert!(refused > 0, "the rest of the flood was refused");
        assert_eq!(ran + refused, 40);
        // Once the flood is over, the gate is free again.
        assert!(gate.run(|| ()).await.is_ok());
    }
}
