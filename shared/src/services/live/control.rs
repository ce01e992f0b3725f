//! Supervisors steering a live call (SPEC §11): what the live space sends a
//! call ([`Control`]), the calls this process runs that take it, and how a
//! request reaches the process holding a call, whichever it is.
//!
//! A call run here registers a steering channel for as long as it runs. A
//! control for a call held elsewhere goes to the owner recorded in the
//! call's lease over a signed internal request ([`super::internal`]); an
//! owner that stopped renewing its lease or cannot be reached is a 503, an
//! ended call a 409: a control is never dropped silently.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::App;
use crate::domain::Tenant;
use crate::domain::call::CallStatus;
use crate::engine::conversation::Input;
use crate::engine::sim::{Refused, Steer};
use crate::error::{Error, Result};
use crate::services::calls::{self, lease, runner};

/// The longest text a supervisor may send a call in one control.
pub const MAX_TEXT: usize = 2_000;
/// Controls one call may have waiting to be taken.
const PENDING: usize = 16;
/// How long a control may wait for its call to take it (a turn waiting on
/// its model holds it up).
const TAKE_WITHIN: Duration = Duration::from_secs(15);

/// What a supervisor does to a live call. Ending it is [`calls::stop`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// A hidden instruction the agent follows from its next turn; noted in the
    /// transcript as a `system` entry only supervisors read.
    Whisper(String),
    /// Words the agent says now, cutting itself off.
    Barge(String),
    /// `true` pauses the agent (a supervisor holds the call), `false` hands it back.
    Takeover(bool),
    /// Words said as the `supervisor` while the call is taken over.
    SupervisorText(String),
    /// The call was ended through the API by another process: the one holding
    /// it stops talking now instead of at its next lease renewal.
    Stop,
    /// The carrier's answering-machine detection says a machine answered
    /// (its greeting is over): the agent's `voicemail` setting applies now.
    Voicemail,
}

impl Control {
    /// The text a control carries, checked: not blank, at most [`MAX_TEXT`].
    pub fn checked(self, field: &str) -> Result<Control> {
        let text = match &self {
            Control::Whisper(t) | Control::Barge(t) | Control::SupervisorText(t) => t,
            Control::Takeover(_) | Control::Stop | Control::Voicemail => return Ok(self),
        };
        if text.trim().is_empty() {
            return Err(Error::field(field, "must not be empty"));
        }
        if text.chars().count() > MAX_TEXT {
            return Err(Error::field(
                field,
                format!("must be at most {MAX_TEXT} characters"),
            ));
        }
        Ok(self)
    }

    fn input(self) -> Input {
        match self {
            Control::Whisper(t) => Input::Whisper(t.trim().to_owned()),
            Control::Barge(t) => Input::Barge(t.trim().to_owned()),
            Control::Takeover(true) => Input::Takeover,
            Control::Takeover(false) => Input::Resume,
            Control::SupervisorText(t) => Input::SupervisorText(t.trim().to_owned()),
            Control::Stop => Input::EndedByUser,
            Control::Voicemail => Input::Voicemail {
                greeting: String::new(),
            },
        }
    }
}

/// The steering channel of each call this process runs.
static STEERING: LazyLock<Mutex<HashMap<String, mpsc::Sender<Steer>>>> =
    LazyLock::new(Default::default);

/// Opens call `call_id`'s steering channel; the runner reads it while the call runs.
pub(crate) fn register(call_id: &str) -> mpsc::Receiver<Steer> {
    let (tx, rx) = mpsc::channel(PENDING);
    let mut steering = STEERING.lock().unwrap_or_else(|p| p.into_inner());
    steering.insert(call_id.to_owned(), tx);
    rx
}

/// Closes call `call_id`'s steering channel once the call stopped running here.
pub(crate) fn forget(call_id: &str) {
    let mut steering = STEERING.lock().unwrap_or_else(|p| p.into_inner());
    steering.remove(call_id);
}

/// The next supervisor input of a call's steering channel; never resolves
/// once the channel is closed (or when there is none), so a `select!` loop
/// can keep it as a branch for the call's whole life.
pub async fn next_steer(steering: &mut Option<mpsc::Receiver<Steer>>) -> Option<Steer> {
    if let Some(rx) = steering {
        if let Some(steer) = rx.recv().await {
            return Some(steer);
        }
        *steering = None;
    }
    std::future::pending().await
}

/// Hands `control` to call `call_id` if this process runs it (`None` if it
/// does not) and waits until the call took it or refused it.
pub async fn deliver_here(call_id: &str, control: Control) -> Option<Result<()>> {
    if control == Control::Stop {
        // The store already says the call ended; its runner only has to stop.
        if !runner::runs_here(call_id) {
            return None;
        }
        runner::signal_stop(call_id);
        return Some(Ok(()));
    }
    let tx = {
        let steering = STEERING.lock().unwrap_or_else(|p| p.into_inner());
        steering.get(call_id).cloned()
    }?;
    let (done, taken) = oneshot::channel();
    let steer = Steer {
        input: control.input(),
        done,
    };
    let refused = |r: Refused| Error::Conflict(r.to_string());
    let taken = async {
        tx.send(steer).await.map_err(|_| Refused::Ended)?;
        // A dropped answer: the call ended with the control still waiting.
        taken.await.unwrap_or(Err(Refused::Ended))
    };
    Some(match tokio::time::timeout(TAKE_WITHIN, taken).await {
        Ok(result) => result.map_err(refused),
        Err(_) => Err(Error::Unavailable(
            "the call did not take the control in time; try again".into(),
        )),
    })
}

/// Delivers `control` to the tenant's call `id`, wherever it runs: here
/// directly, elsewhere through its owner's relay. Another org's call is a
/// 404, a call that is not connected or has ended a 409, an owner that is
/// gone or unreachable a 503.
pub async fn deliver(app: &App, tenant: &Tenant, id: &str, control: Control) -> Result<()> {
    let (call, _) = calls::load(app, tenant, id).await?;
    let ended = || Error::Conflict(format!("the call already ended ({})", call.status.as_str()));
    if call.status.is_final() {
        return Err(ended());
    }
    if call.status != CallStatus::InProgress {
        return Err(Error::Conflict(
            "the call is not connected yet; steer it once it is in progress".into(),
        ));
    }
    let Some((lease, _)) = lease::read(app, tenant, id).await? else {
        return Err(ended());
    };
    match (&lease.owner, &lease.owner_url) {
        (Some(owner), _) if owner == runner::owner() => deliver_here(id, control)
            .await
            .unwrap_or_else(|| Err(Error::Conflict("the call is no longer running".into()))),
        _ if lease.expires_at_ms <= app.now().timestamp_millis() => Err(Error::Unavailable(
            "the relay holding this call stopped answering; the call will be ended shortly".into(),
        )),
        (Some(_), Some(url)) => super::internal::forward(app, url, tenant, id, &control).await,
        _ => Err(Error::Unavailable(
            "the call's relay is not known yet; try again in a moment".into(),
        )),
    }
}

/// How long ending a call waits for the process holding it to hear so.
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// Tells the process that held call `id` (its `lease` read before the call
/// was ended in the store) to stop talking now. Best effort: the holder finds
/// the end at its next lease renewal anyway, so a holder that is gone or slow
/// only delays that, and the API's answer waits at most [`STOP_WITHIN`].
pub(crate) async fn stop_holder(app: &App, tenant: &Tenant, id: &str, lease: &lease::Lease) {
    let (Some(owner), Some(url)) = (&lease.owner, &lease.owner_url) else {
        return;
    };
    // Here, `calls::finish` has stopped it already; a lapsed lease has no holder.
    if owner == runner::owner() || lease.expires_at_ms <= app.now().timestamp_millis() {
        return;
    }
    let told = super::internal::forward(app, url, tenant, id, &Control::Stop);
    match tokio::time::timeout(STOP_WITHIN, told).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::info!(call = %id, error = %e, "the call's holder hears of its end at its next lease renewal")
        }
        Err(_) => {
            tracing::info!(call = %id, "the call's holder did not answer in time; it hears of the end at its next lease renewal")
        }
    }
}
