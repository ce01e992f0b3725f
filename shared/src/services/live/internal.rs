//! The signed internal request that carries a live-space control to the
//! process holding a call: `POST {owner}/internal/calls/{id}/control` on the
//! owner's relay routes, signed with the installation's signing key over a
//! timestamp, the call and the body, accepted within [`WINDOW_SECS`].

use std::sync::LazyLock;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::control::{self, Control};
use crate::App;
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};

/// The header with the request's unix time in seconds.
pub const TIMESTAMP_HEADER: &str = "x-switchboard-timestamp";
/// The header with the hex HMAC-SHA256 of `"{timestamp}.{call_id}.{body}"`.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";
/// How far a request's timestamp may be from the receiver's clock.
pub const WINDOW_SECS: i64 = 60;
/// How long the sender waits for the owner's answer (the owner waits up to
/// 15 s for the call to take the control).
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

/// The body of the internal control request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRequest {
    /// The call's org.
    pub org_id: String,
    /// The call's partition.
    pub mode: Mode,
    /// What to do.
    pub control: Control,
}

/// The MAC of one request: its timestamp, its call and its body.
fn mac(app: &App, timestamp: i64, call_id: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(&app.signing_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("{timestamp}.{call_id}.").as_bytes());
    mac.update(body);
    mac
}

fn signature(app: &App, timestamp: i64, call_id: &str, body: &[u8]) -> String {
    hex::encode(mac(app, timestamp, call_id, body).finalize().into_bytes())
}

/// The path of call `call_id`'s internal control route.
pub fn control_path(call_id: &str) -> String {
    format!("/internal/calls/{call_id}/control")
}

/// A plain client: owners live on the installation's private network, which
/// the tenant-facing client's SSRF guard rightly refuses.
static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(ANSWER_WITHIN)
        .connect_timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
});

/// Sends `control` for the tenant's call `call_id` to the relay at `owner_url`.
pub async fn forward(
    app: &App,
    owner_url: &str,
    tenant: &Tenant,
    call_id: &str,
    control: &Control,
) -> Result<()> {
    let body = serde_json::to_vec(&ControlRequest {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        control: control.clone(),
    })
    .map_err(|e| Error::Internal(e.to_string()))?;
    let timestamp = app.now().timestamp();
    let unreachable = |why: String| {
        tracing::warn!(call = %call_id, owner = %owner_url, error = %why, "the call's relay did not take a control");
        Error::Unavailable(
            "the relay holding this call cannot be reached; try again in a moment".into(),
        )
    };
    let resp = CLIENT
        .post(format!(
            "{}{}",
            owner_url.trim_end_matches('/'),
            control_path(call_id)
        ))
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(app, timestamp, call_id, &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    let message = resp
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|b| b.get("error").and_then(|e| e.as_str()).map(str::to_owned));
    match status {
        200..=299 => Ok(()),
        409 => Err(Error::Conflict(
            message.unwrap_or_else(|| "the call refused the control".into()),
        )),
        // The owner no longer runs the call: its lease is stale.
        404 => Err(Error::Unavailable(
            "the relay recorded for this call no longer runs it; try again in a moment".into(),
        )),
        _ => Err(unreachable(format!(
            "status {status}: {}",
            message.unwrap_or_default()
        ))),
    }
}

/// The owner's side: checks the signature and the time window, then hands
/// the control to the call run here (404 when this process does not run it).
pub async fn receive(
    app: &App,
    call_id: &str,
    timestamp: Option<&str>,
    signature_hex: Option<&str>,
    body: &[u8],
) -> Result<()> {
    let refused = || Error::Unauthorized("not a valid internal request".into());
    let timestamp: i64 = timestamp.and_then(|t| t.parse().ok()).ok_or_else(refused)?;
    if (app.now().timestamp() - timestamp).abs() > WINDOW_SECS {
        return Err(refused());
    }
    let given = signature_hex
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(refused)?;
    mac(app, timestamp, call_id, body)
        .verify_slice(&given)
        .map_err(|_| refused())?;
    let request: ControlRequest = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("not a control request: {e}")))?;
    // The call must belong to the org the request names.
    let tenant = Tenant {
        org_id: request.org_id,
        mode: request.mode,
    };
    crate::services::calls::load(app, &tenant, call_id).await?;
    control::deliver_here(call_id, request.control)
        .await
        .unwrap_or(Err(Error::NotFound("running call")))
}
