//! The supervisor token (`sst1.<payload>.<signature>`) that opens
//! `/ws/supervisor/{call_id}`: base64url JSON of [`SupervisorClaims`],
//! signed HMAC-SHA256 with the installation's signing key over
//! `sst1.<payload>`, bound to one org, partition and call, valid
//! [`TOKEN_TTL_SECONDS`]. Stateless: the relay that holds the call checks it
//! without a table read.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::App;
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};

/// How long a supervisor token opens the socket.
pub const TOKEN_TTL_SECONDS: i64 = 300;

const TOKEN_PREFIX: &str = "sst1";

/// What a supervisor token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorClaims {
    /// The call's org.
    pub org_id: String,
    /// The call's partition.
    pub mode: Mode,
    /// The call.
    pub call_id: String,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl SupervisorClaims {
    /// The tenant of the call.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }
}

fn mac(app: &App, signed: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    let mut m = Hmac::<Sha256>::new_from_slice(&app.signing_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(signed.as_bytes());
    m
}

/// A token for the tenant's call `call_id`, and its expiry (unix seconds).
pub fn sign(app: &App, tenant: &Tenant, call_id: &str) -> (String, i64) {
    let exp = app.now().timestamp() + TOKEN_TTL_SECONDS;
    let claims = SupervisorClaims {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call_id.to_owned(),
        exp,
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let signed = format!("{TOKEN_PREFIX}.{payload}");
    let sig = URL_SAFE_NO_PAD.encode(mac(app, &signed).finalize().into_bytes());
    (format!("{signed}.{sig}"), exp)
}

/// The claims of a valid, unexpired token for `call_id`; anything else is
/// [`Error::Unauthorized`].
pub fn verify(app: &App, token: &str, call_id: &str) -> Result<SupervisorClaims> {
    let bad = || Error::Unauthorized("the supervisor token is invalid or has expired".into());
    let (signed, sig) = token.rsplit_once('.').ok_or_else(bad)?;
    let payload = signed
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|p| p.strip_prefix('.'))
        .ok_or_else(bad)?;
    let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| bad())?;
    mac(app, signed).verify_slice(&sig).map_err(|_| bad())?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
    let claims: SupervisorClaims = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if claims.exp <= app.now().timestamp() || claims.call_id != call_id {
        return Err(bad());
    }
    Ok(claims)
}
