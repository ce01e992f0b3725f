//! Phone calls whose media reach the relay (SPEC §14 `/ws/media/{provider}`):
//! the token that lets a carrier's media stream in, the outbound placement
//! through the channel's carrier, and the call held while its stream lives.
//!
//! A phone call is created `initiated` with a queued lease (inbound: by the
//! voice webhook; outbound: by a task or the dialer, placed by the runner
//! through [`place`]). When the carrier's stream starts, the relay verifies
//! its [`MediaClaims`], [`MediaCall::start`] takes the lease and
//! [`MediaCall::run`] talks on the call through the voice pipeline
//! ([`super::voice`]) until it ends.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use tokio::sync::mpsc;

use super::held::Held;
use super::voice::{self, Carrier, Inbound, Outbound, Timings};
use super::{finish, lease};
use crate::App;
use crate::domain::call::Call;
use crate::domain::{Mode, Tenant};
use crate::engine::call::EndReason;
use crate::error::{Error, Result};
use crate::services::channels;
use crate::services::signed_token::{self, Claims};
use crate::services::table_keys::carrier_call_sk;
use crate::store::{Condition, Item};
use crate::telephony::{MediaStream, OutboundCall};

/// How long a media token is accepted: the stream starts within seconds of
/// the answer; an outbound call may ring for a minute first.
pub const TOKEN_TTL_SECONDS: i64 = 180;

/// What a media-stream token says: the stream of this one call of this
/// tenant may connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaClaims {
    /// The call's org.
    pub org_id: String,
    /// The call's partition.
    pub mode: Mode,
    /// The call.
    pub call_id: String,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl Claims for MediaClaims {
    const PREFIX: &'static str = "mst1";
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// A token for `call_id`'s media stream.
pub fn issue(app: &App, tenant: &Tenant, call_id: &str) -> String {
    let claims = MediaClaims {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call_id.to_owned(),
        exp: app.now().timestamp() + TOKEN_TTL_SECONDS,
    };
    signed_token::sign(&app.signing_key, &claims)
}

/// Where `call_id`'s audio goes: the relay, with a fresh token that admits
/// the call's stream.
pub fn stream(app: &App, tenant: &Tenant, call_id: &str) -> MediaStream {
    MediaStream {
        relay_url: app.config.relay_url.clone(),
        call_id: call_id.to_owned(),
        token: issue(app, tenant, call_id),
    }
}

/// The item that finds a call from its carrier call SID (status callbacks
/// name only that).
pub(crate) fn carrier_ref(tenant: &Tenant, call_sid: &str, call_id: &str) -> Item {
    Item::new(
        tenant.pk(),
        carrier_call_sk(call_sid),
        serde_json::json!({ "call_id": call_id }),
    )
}

/// The call of carrier call `call_sid` in `tenant`.
pub async fn by_carrier_sid(app: &App, tenant: &Tenant, call_sid: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct Ref {
        call_id: String,
    }
    let item = app
        .table
        .get(&tenant.pk(), &carrier_call_sk(call_sid))
        .await?
        .ok_or(Error::NotFound("call"))?;
    Ok(item.parse::<Ref>()?.call_id)
}

/// Places an outbound phone call through its channel's carrier: the
/// carrier dials the callee and, on answer, streams the call to the relay;
/// its status callbacks report the rest. The lease goes back to the queue, so
/// the stream (or the sweep, if it never comes) picks the call up. Any
/// failure ends the call (`carrier_error`) with the reason logged.
pub(crate) async fn place(app: &App, tenant: &Tenant, call: &Call) -> Result<()> {
    if let Err(why) = dial(app, tenant, call).await {
        tracing::warn!(call = %call.id, error = %why, "the carrier did not place the call");
        finish(app, tenant, &call.id, None, |c, at| {
            c.end(EndReason::CarrierError, at)
        })
        .await?;
    }
    Ok(())
}

async fn dial(app: &App, tenant: &Tenant, call: &Call) -> Result<()> {
    let channel_id = call
        .channel_id
        .as_deref()
        .ok_or_else(|| Error::Conflict("the call has no channel".into()))?;
    let (channel, _) = channels::load(app, tenant, channel_id).await?;
    let carrier = channels::carrier(app, &channel)?;
    let sid = carrier
        .place_call(&OutboundCall {
            to: &call.to,
            from: &call.from,
            stream: &stream(app, tenant, &call.id),
            status_callback: &channels::webhook_url(app, &channel, "status"),
        })
        .await?;
    app.table
        .put(carrier_ref(tenant, &sid, &call.id), Condition::None)
        .await?;
    app.table
        .put(lease::queued(app, tenant, call), Condition::None)
        .await?;
    Ok(())
}

/// Checks a stream's `token` for `call_id` and finds the call, which must
/// still be live.
pub async fn admit(app: &App, token: &str, call_id: &str) -> Result<(Tenant, Call)> {
    let claims =
        signed_token::verify::<MediaClaims>(&app.signing_key, token, app.now().timestamp())
            .filter(|c| c.call_id == call_id)
            .ok_or_else(|| {
                Error::Unauthorized(
                    "the media token is invalid, expired or for another call".into(),
                )
            })?;
    let tenant = Tenant {
        org_id: claims.org_id,
        mode: claims.mode,
    };
    let (call, _) = super::load(app, &tenant, call_id).await?;
    if call.status.is_final() {
        return Err(Error::Conflict("the call already ended".into()));
    }
    Ok((tenant, call))
}

/// Hands carrier call `call_sid` of `channel_id` to `number` through the
/// channel's carrier (the stream ends as the carrier moves on).
pub(crate) async fn transfer(
    app: &App,
    tenant: &Tenant,
    channel_id: &str,
    call_sid: &str,
    number: &str,
) -> Result<()> {
    let (channel, _) = channels::load(app, tenant, channel_id).await?;
    channels::carrier(app, &channel)?
        .transfer(call_sid, number)
        .await
}

/// A phone call held by this process while its media stream lives.
pub struct MediaCall {
    held: Held,
    carrier: Carrier,
}

impl MediaCall {
    /// Takes the call's lease (a call another runner holds is a 409) and
    /// builds its conversation. `call_sid` is the carrier's id of the call
    /// (for transfers).
    pub async fn start(
        app: Arc<App>,
        tenant: Tenant,
        call: Call,
        call_sid: &str,
    ) -> Result<MediaCall> {
        let held = Held::take(
            app,
            tenant,
            &call,
            "the call is held elsewhere or has ended",
        )
        .await?;
        let carrier = Carrier {
            channel_id: call.channel_id.clone().unwrap_or_default(),
            call_sid: call_sid.to_owned(),
        };
        Ok(MediaCall { held, carrier })
    }

    /// The call's id.
    pub fn call_id(&self) -> &str {
        &self.held.call_id
    }

    /// Talks on the call until it ends (see [`voice`]): the agent greets,
    /// listens and answers; keypad digits reach its `dtmf_rules`; the
    /// stream's end hangs up. Returns the call as it ended.
    pub async fn run(
        self,
        inbound: mpsc::Receiver<Inbound>,
        out: &mut dyn Outbound,
    ) -> Result<(Call, Timings)> {
        voice::run(self.held, Some(self.carrier), inbound, out).await
    }
}
