//! A call this process holds and talks on from outside the runner's loop: a
//! web chat ([`super::web_chat`]) or a phone call whose media stream reached
//! the relay ([`super::media`]). Both take the call's lease, build its
//! conversation, store each new transcript entry as it is said, renew the
//! lease, stop when the call is ended elsewhere, and finally write how it
//! ended; that shared part lives here once.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::runner::{StoreSink, forget, owner, register};
use super::{finish, lease};
use crate::App;
use crate::domain::Tenant;
use crate::domain::call::Call;
use crate::engine::call::{CallOutcome, CallSink, EndReason, Role, TranscriptEntry};
use crate::engine::conversation::{Conversation, Input};
use crate::engine::sim::Refused;
use crate::error::{Error, Result};

/// A call held here: its lease, its conversation and what of it is stored.
pub(crate) struct Held {
    pub(crate) app: Arc<App>,
    pub(crate) tenant: Tenant,
    pub(crate) call_id: String,
    pub(crate) conversation: Conversation,
    /// The call as taken (its campaign's concurrency slots are renewed with the lease).
    call: Call,
    /// Transcript entries already stored.
    sent: usize,
    started: Instant,
    /// Turns `true` when the call is ended through the API.
    stop: watch::Receiver<bool>,
}

impl Held {
    /// Takes `call`'s lease for this process (held elsewhere or ended: a 409
    /// saying `taken`), builds its conversation and records the answer. A
    /// call whose setup fails ends as `error`: never a call nobody holds.
    pub(crate) async fn take(
        app: Arc<App>,
        tenant: Tenant,
        call: &Call,
        taken: &str,
    ) -> Result<Held> {
        let id = call.id.clone();
        if lease::hold(&app, &tenant, &id, owner(), None)
            .await?
            .is_none()
        {
            return Err(Error::Conflict(taken.to_owned()));
        }
        let setup = match super::runner::setup(&app, Some(app.clone()), &tenant, call).await {
            Ok(setup) => setup,
            Err(e) => {
                finish(&app, &tenant, &id, None, |c, at| {
                    c.end(EndReason::Error, at)
                })
                .await?;
                return Err(e);
            }
        };
        let stop = register(&id);
        StoreSink::new(&app, &tenant, &id).answered(0).await;
        Ok(Held {
            conversation: Conversation::new(setup),
            call: call.clone(),
            app,
            tenant,
            call_id: id,
            sent: 0,
            started: Instant::now(),
            stop,
        })
    }

    /// Why a supervisor's `input` cannot be taken now, if it cannot:
    /// supervisor text is spoken only while the call is taken over.
    pub(crate) fn refuses(&self, input: &Input) -> Option<Refused> {
        match input {
            Input::SupervisorText(_) if !self.conversation.is_paused() => {
                Some(Refused::NotTakenOver)
            }
            _ => None,
        }
    }

    /// Milliseconds since the call was taken (the transcript's `at_ms`).
    pub(crate) fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Stores the entries the conversation added since the last call and
    /// returns them.
    pub(crate) async fn store_new_entries(&mut self) -> Vec<TranscriptEntry> {
        let fresh = self
            .conversation
            .transcript()
            .get(self.sent..)
            .unwrap_or_default()
            .to_vec();
        let mut sink = StoreSink::new(&self.app, &self.tenant, &self.call_id);
        for entry in &fresh {
            sink.entry(entry).await;
        }
        self.sent += fresh.len();
        fresh
    }

    /// Stores again the agent line an interruption cut short after it was
    /// stored whole (the caller heard only part of it).
    pub(crate) async fn store_interrupted(&mut self) {
        let stored = self
            .conversation
            .transcript()
            .get(..self.sent)
            .unwrap_or_default();
        let Some(cut) = stored
            .iter()
            .rev()
            .find(|e| e.role == Role::Agent)
            .filter(|e| e.interrupted)
            .cloned()
        else {
            return;
        };
        StoreSink::new(&self.app, &self.tenant, &self.call_id)
            .entry(&cut)
            .await;
    }

    /// Renews the lease (every [`lease::RENEW_EVERY`]) and a campaign call's
    /// slots. `false` when the call is no longer this process's (ended
    /// through the API, or swept): stop.
    pub(crate) async fn keep(&self) -> bool {
        match lease::hold(&self.app, &self.tenant, &self.call_id, owner(), None).await {
            Ok(Some(_)) => {
                // A campaign call keeps its campaign's concurrency slot as long as it talks.
                crate::services::campaigns::slots::renew(&self.app, &self.tenant, &self.call).await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                // A store hiccup: the lease has TERM to spare; try again next time.
                tracing::warn!(call = %self.call_id, error = %e, "renewing a held call's lease failed");
                true
            }
        }
    }

    /// Resolves when the call was ended through the API.
    pub(crate) async fn stopped(&mut self) {
        if self.stop.wait_for(|stop| *stop).await.is_err() {
            // The switch was forgotten (the call ended here): never resolve.
            std::future::pending::<()>().await;
        }
    }

    /// The caller left: the conversation hears it hang up (unless it ended
    /// itself first), and what that adds is stored.
    pub(crate) async fn hang_up(&mut self) {
        if self.conversation.ended().is_none() {
            let at_ms = self.elapsed_ms();
            self.conversation
                .handle(at_ms, Input::HangUp, &mut |_| {})
                .await;
            self.store_new_entries().await;
        }
    }

    /// Lets the call go and returns it as it ended. With `latencies`, the
    /// conversation's outcome (changed by `adjust`) is written as the end;
    /// without, or when the call had already ended elsewhere, the call stays
    /// as that ending left it.
    pub(crate) async fn close(
        self,
        latencies: Option<&[u64]>,
        adjust: impl FnOnce(&mut CallOutcome),
    ) -> Result<Call> {
        forget(&self.call_id);
        crate::services::live::control::forget(&self.call_id);
        let duration_ms = self.elapsed_ms();
        let Held {
            app,
            tenant,
            call_id,
            conversation,
            ..
        } = self;
        if let Some(latencies) = latencies {
            let mut outcome = conversation.into_outcome(true, 0, duration_ms, latencies);
            adjust(&mut outcome);
            if let Some(call) = finish(&app, &tenant, &call_id, None, |c, at| {
                c.finish(&outcome, at)
            })
            .await?
            {
                return Ok(call);
            }
        }
        Ok(super::load(&app, &tenant, &call_id).await?.0)
    }
}
