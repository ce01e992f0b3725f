//! Who is making a request, resolved once at the edge and passed to every use case.

use crate::App;
use crate::domain::{Role, Tenant};
use crate::error::{Error, Result};

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `Authorization: Bearer sb_…`.
    ApiKey {
        /// The key's id (its rate-limit bucket).
        key_id: String,
        /// SHA-256 of the key's secret (the key item's partition: a
        /// revoked or regenerated secret's item is gone).
        key_hash: String,
    },
    /// The `sb_session` cookie.
    Session {
        /// Signed-in user.
        user_id: String,
        /// SHA-256 of the session token (to log out this session).
        token_hash: String,
    },
}

/// An authenticated caller acting in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Credentials used.
    pub principal: Principal,
    /// Role in the org (API keys act as admin: only admins can create them).
    pub role: Role,
    /// Org and mode of this request.
    pub tenant: Tenant,
}

impl Caller {
    /// The caller, once the tenant it acts in is ready: a test-mode sandbox gets
    /// its demo data the first time any credential enters it (SPEC §1
    /// `?mode=test`), whichever edge resolved the credential.
    pub(crate) async fn entering(self, app: &App) -> Result<Self> {
        super::demo::ensure_seeded(app, &self.tenant).await?;
        Ok(self)
    }

    /// The org acted in.
    pub fn org_id(&self) -> &str {
        &self.tenant.org_id
    }

    /// 403 unless an admin.
    pub fn require_admin(&self) -> Result<()> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Agent => Err(Error::Forbidden("this needs the admin role".into())),
        }
    }

    /// The signed-in user; 403 for API keys (SPEC: key management, orgs and
    /// users need a session).
    pub fn require_session(&self) -> Result<&str> {
        match &self.principal {
            Principal::Session { user_id, .. } => Ok(user_id),
            Principal::ApiKey { .. } => Err(Error::Forbidden(
                "this endpoint needs a signed-in user session, not an API key".into(),
            )),
        }
    }

    /// A stable id of the credential, scoping idempotency keys.
    pub fn principal_id(&self) -> String {
        match &self.principal {
            Principal::ApiKey { key_id, .. } => format!("key:{key_id}"),
            Principal::Session { user_id, .. } => format!("user:{user_id}"),
        }
    }
}
