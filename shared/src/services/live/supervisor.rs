//! The supervisor token (a [`signed_token`] of kind `sst1`) that opens
//! `/ws/supervisor/{call_id}`: bound to one org, partition and call, valid
//! [`TOKEN_TTL_SECONDS`]. Stateless: the relay that holds the call checks it
//! without a table read.

use serde::{Deserialize, Serialize};

use super::super::signed_token::{self, Claims};
use crate::App;
use crate::domain::{Mode, Tenant};
use crate::error::{Error, Result};

/// How long a supervisor token opens the socket.
pub const TOKEN_TTL_SECONDS: i64 = 300;

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

impl Claims for SupervisorClaims {
    const PREFIX: &'static str = "sst1";
    fn exp(&self) -> i64 {
        self.exp
    }
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

/// A token for the tenant's call `call_id`, and its expiry (unix seconds).
pub fn sign(app: &App, tenant: &Tenant, call_id: &str) -> (String, i64) {
    let exp = app.now().timestamp() + TOKEN_TTL_SECONDS;
    let claims = SupervisorClaims {
        org_id: tenant.org_id.clone(),
        mode: tenant.mode,
        call_id: call_id.to_owned(),
        exp,
    };
    (signed_token::sign(&app.signing_key, &claims), exp)
}

/// The claims of a valid, unexpired token for `call_id`; anything else is
/// [`Error::Unauthorized`].
pub fn verify(app: &App, token: &str, call_id: &str) -> Result<SupervisorClaims> {
    signed_token::verify::<SupervisorClaims>(&app.signing_key, token, app.now().timestamp())
        .filter(|c| c.call_id == call_id)
        .ok_or_else(|| Error::Unauthorized("the supervisor token is invalid or has expired".into()))
}
