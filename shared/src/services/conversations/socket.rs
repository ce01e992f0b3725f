//! Who may open the relay's inbox socket (`/ws/inbox`) and what each one
//! sees. `GET /conversations/live` gives a signed-in user (or an API key) a
//! short-lived inbox token (a [`signed_token`] of kind `ist1`, bound to the
//! org, the mode, the user and their role), so a browser opens the socket
//! without its HttpOnly session cookie. The relay checks the token without
//! a read, and then re-checks now and then ([`Viewer::still_allowed`]) that
//! the session and the membership it came from still hold: a user who signs
//! out or leaves the org stops receiving, and so does a revoked API key.

use serde::{Deserialize, Serialize};

use super::feed::FeedEntry;
use crate::App;
use crate::domain::identity::Membership;
use crate::domain::{Mode, Role, Tenant};
use crate::error::{Error, Result};
use crate::services::caller::{Caller, Principal};
use crate::services::signed_token::{self, Claims};
use crate::services::table_keys::{
    API_KEY_SK, SESSION_SK, api_key_pk, member_sk, org_pk, session_pk,
};
use crate::services::views::InboxSocketView;

/// How long an inbox token opens the socket (it may be reused until then;
/// an open socket stays open past it).
pub const TTL_SECONDS: i64 = 300;

/// Who holds an inbox socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    /// The org.
    pub org_id: String,
    /// The org's partition.
    pub mode: Mode,
    /// The signed-in user (`None`: an API key).
    pub user_id: Option<String>,
    /// The hash of the user's session, re-checked while the socket is open.
    pub session_hash: Option<String>,
    /// The hash of the API key's secret (an API key's socket), re-checked
    /// the same way: revoking or regenerating the key closes it.
    #[serde(default)]
    pub key_hash: Option<String>,
    /// Whether the user has the `agent` role (sees only conversations
    /// assigned to them or to no one).
    pub agent: bool,
    /// The token's id (the relay counts sockets per token by it).
    pub token_id: String,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl Claims for Viewer {
    const PREFIX: &'static str = "ist1";
    fn exp(&self) -> i64 {
        self.exp
    }
}

impl Viewer {
    /// The viewer a caller of the API is (an API key: no user, sees all).
    pub fn of(app: &App, caller: &Caller) -> Self {
        let (user_id, session_hash, key_hash) = match &caller.principal {
            Principal::Session {
                user_id,
                token_hash,
            } => (Some(user_id.clone()), Some(token_hash.clone()), None),
            Principal::ApiKey { key_hash, .. } => (None, None, Some(key_hash.clone())),
        };
        Self {
            org_id: caller.tenant.org_id.clone(),
            mode: caller.tenant.mode,
            agent: caller.role == Role::Agent && user_id.is_some(),
            user_id,
            session_hash,
            key_hash,
            token_id: app.new_id(),
            exp: app.now().timestamp() + TTL_SECONDS,
        }
    }

    /// The tenant whose inbox it sees.
    pub fn tenant(&self) -> Tenant {
        Tenant {
            org_id: self.org_id.clone(),
            mode: self.mode,
        }
    }

    /// Whether `entry` is for this viewer's eyes.
    pub fn sees(&self, entry: &FeedEntry) -> bool {
        match (&self.user_id, self.agent) {
            (Some(user), true) => entry.visible_to_agent(user),
            _ => true,
        }
    }

    /// Whether the session the socket was opened with still lasts and its
    /// user is still a member of the org with the same role, or the API key
    /// it was opened with is still neither revoked nor regenerated.
    pub async fn still_allowed(&self, app: &App) -> Result<bool> {
        if let Some(key) = &self.key_hash {
            return Ok(app.table.get(&api_key_pk(key), API_KEY_SK).await?.is_some());
        }
        let (Some(user), Some(hash)) = (&self.user_id, &self.session_hash) else {
            return Ok(false);
        };
        if app
            .table
            .get(&session_pk(hash), SESSION_SK)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        let Some(item) = app
            .table
            .get(&org_pk(&self.org_id), &member_sk(user))
            .await?
        else {
            return Ok(false);
        };
        let member: Membership = item.parse()?;
        Ok((member.role == Role::Agent) == self.agent)
    }
}

/// The viewer `token` names, if it is a valid, unexpired inbox token;
/// anything else is [`Error::Unauthorized`].
pub fn verify(app: &App, token: &str) -> Result<Viewer> {
    signed_token::verify::<Viewer>(&app.signing_key, token, app.now().timestamp())
        .ok_or_else(|| Error::Unauthorized("the session token is invalid or expired".into()))
}

/// `GET /conversations/live`: the inbox socket on the relay, with a fresh
/// token for the caller.
pub fn live(app: &App, caller: &Caller) -> InboxSocketView {
    let viewer = Viewer::of(app, caller);
    let token = signed_token::sign(&app.signing_key, &viewer);
    InboxSocketView::new(&app.config.relay_url, token, viewer.exp)
}
