//! The call session token of `GET /calls/{id}/live` (the seed's
//! `temp_token`): lets a browser open `/ws/calls/{call_id}` without holding
//! the org's API key. A [`signed_token`] of kind `cst1`, bound to the org,
//! the mode and the one call, valid [`TTL_SECONDS`]; it may be reused until
//! it expires. Each token has its own id, which the relay counts connections
//! by.

use serde::{Deserialize, Serialize};

use super::super::caller::Caller;
use super::super::signed_token::{self, Claims};
use super::super::views::LiveTranscriptView;
use crate::App;
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};

/// How long a call session token is accepted (SPEC §10: 5 minutes).
pub const TTL_SECONDS: i64 = 300;

/// What a call session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSessionClaims {
    /// The call's org.
    pub org_id: String,
    /// The call's partition.
    pub mode: Mode,
    /// The one call it opens.
    pub call_id: String,
    /// This token's id.
    pub token_id: String,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl Claims for CallSessionClaims {
    const PREFIX: &'static str = "cst1";
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl CallSessionClaims {
    /// The tenant the token acts in.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }
}

/// A new token for `call_id` of `tenant`, with its expiry (unix seconds).
pub fn issue(app: &App, tenant: &Tenant, call_id: &str) -> (String, i64) {
    let exp = app.now().timestamp() + TTL_SECONDS;
    let claims = CallSessionClaims {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call_id.to_owned(),
        token_id: app.new_id(),
        exp,
    };
    (signed_token::sign(&app.signing_key, &claims), exp)
}

/// The claims of `token` if it is a valid, unexpired call session token for
/// `call_id`; anything else (forged, expired, another call's) is
/// [`Error::Unauthorized`].
pub fn verify(app: &App, token: &str, call_id: &str) -> Result<CallSessionClaims> {
    signed_token::verify::<CallSessionClaims>(&app.signing_key, token, app.now().timestamp())
        .filter(|c| c.call_id == call_id)
        .ok_or_else(|| {
            Error::Unauthorized("the session token is invalid, expired or for another call".into())
        })
}

/// `GET /calls/{id}/live`: the call's live transcript socket on the relay,
/// with a fresh token for it (another org's call: not found).
pub async fn live(app: &App, caller: &Caller, call_id: &str) -> Result<LiveTranscriptView> {
    let (call, _) = super::super::calls::load(app, &caller.tenant, call_id).await?;
    let (token, _) = issue(app, &caller.tenant, &call.id);
    Ok(LiveTranscriptView::new(
        &app.config.relay_url,
        &call.id,
        token,
    ))
}
