//! The live space (SPEC §11): supervisors list the live calls, read one with
//! its transcript so far (whispers included), and steer it — whisper, barge,
//! take over, end — or join its supervisor socket. Every action reaches the
//! process holding the call ([`control::deliver`]).

use super::control::{self, Control};
use super::supervisor;
use crate::App;
use crate::domain::input::Checks;
use crate::domain::rfc3339;
use crate::error::{Error, Result};
use crate::services::caller::Caller;
use crate::services::calls::{self, lease};
use crate::services::views::{
    CallView, LiveCallView, LiveControlView, LiveMessageInput, SupervisorJoinView, TakeoverInput,
};

/// `GET /live-space/live-calls`: the org's live calls, newest first.
pub async fn live_calls(app: &App, caller: &Caller) -> Result<Vec<LiveCallView>> {
    Ok(lease::live(app, &caller.tenant)
        .await?
        .into_iter()
        .map(LiveCallView::from)
        .collect())
}

/// `GET /live-space/live-calls/{id}`: the call with everything said so far,
/// whispers included (supervisors read them).
pub async fn live_call(app: &App, caller: &Caller, id: &str) -> Result<CallView> {
    let (call, _) = calls::load(app, &caller.tenant, id).await?;
    let transcript = calls::full_transcript_of(app, &caller.tenant, &call).await?;
    Ok(CallView::new(call, Some(transcript)))
}

/// The text of a whisper or barge body.
fn message(body: LiveMessageInput) -> Result<String> {
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a field of this request");
    let message = f.req_str("message", body.message, control::MAX_TEXT);
    f.finish()?;
    message.ok_or_else(|| Error::field("message", "is required"))
}

/// Delivers `control` to the call and says so.
async fn steer(
    app: &App,
    caller: &Caller,
    id: &str,
    action: &str,
    control: Control,
) -> Result<LiveControlView> {
    control::deliver(app, &caller.tenant, id, control).await?;
    Ok(LiveControlView {
        call_id: id.to_owned(),
        action: action.to_owned(),
        delivered: true,
    })
}

/// `POST …/{id}/whisper {message}`.
pub async fn whisper(
    app: &App,
    caller: &Caller,
    id: &str,
    body: LiveMessageInput,
) -> Result<LiveControlView> {
    let control = Control::Whisper(message(body)?);
    steer(app, caller, id, "whisper", control).await
}

/// `POST …/{id}/barge {message}`.
pub async fn barge(
    app: &App,
    caller: &Caller,
    id: &str,
    body: LiveMessageInput,
) -> Result<LiveControlView> {
    let control = Control::Barge(message(body)?);
    steer(app, caller, id, "barge", control).await
}

/// `POST …/{id}/takeover {active}`: `takeover` or `resume`.
pub async fn takeover(
    app: &App,
    caller: &Caller,
    id: &str,
    body: TakeoverInput,
) -> Result<LiveControlView> {
    let mut f = Checks::new();
    f.unknown(body.unknown.keys(), "is not a field of this request");
    if body.active.is_absent() {
        f.error("active", "is required");
    }
    let active = f.opt_bool("active", body.active);
    f.finish()?;
    let active = active.ok_or_else(|| Error::field("active", "is required"))?;
    let action = if active { "takeover" } else { "resume" };
    steer(app, caller, id, action, Control::Takeover(active)).await
}

/// `POST …/{id}/supervisor/join`: a token for the call's supervisor socket
/// (a live call only: an ended one is a 409).
pub async fn join(app: &App, caller: &Caller, id: &str) -> Result<SupervisorJoinView> {
    let (call, _) = calls::load(app, &caller.tenant, id).await?;
    if call.status.is_final() {
        return Err(Error::Conflict(format!(
            "the call already ended ({})",
            call.status.as_str()
        )));
    }
    let (token, exp) = supervisor::sign(app, &caller.tenant, &call.id);
    Ok(SupervisorJoinView {
        token,
        websocket_url: format!("{}/ws/supervisor/{}", app.config.relay_url, call.id),
        expires_at: chrono::DateTime::from_timestamp(exp, 0)
            .map(rfc3339)
            .unwrap_or_default(),
    })
}
