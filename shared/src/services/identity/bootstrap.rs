//! First-run bootstrap and installation orgs.

use serde_json::{Value, json};

use super::*;
use crate::App;
use crate::crypto::{random_token, token_hash};
use crate::domain::Email;
use crate::domain::identity::User;
use crate::error::{Error, Result};
use crate::services::table_keys::*;
use crate::store::{Condition, Item};

/// Creates an org with an admin (random password) and an API key, without
/// HTTP — the CLI path of self-hosting (`switchboard create-org`).
pub async fn create_installation_org(app: &App, org_name: &str, email: &str) -> Result<Value> {
    let (org_id, email, password) = new_org_and_admin(app, org_name, email).await?;
    let (_, key) = crate::services::api_keys::create_for_org(app, &org_id, "default").await?;
    Ok(json!({"org_id": org_id, "email": email, "password": password, "api_key": key}))
}

async fn new_org_and_admin(
    app: &App,
    org_name: &str,
    email: &str,
) -> Result<(String, String, String)> {
    let email = Email::parse(email).map_err(|e| Error::field("email", e))?;
    let password = random_token(12);
    let user = User {
        id: app.new_id(),
        email,
        name: "Admin".into(),
        password_hash: hash(&password).await?,
        created_at: app.now_rfc3339(),
    };
    let org = new_org(app, app.new_id(), org_name.to_owned());
    create_org_with_admin(app, &org, &user, true).await?;
    Ok((org.id, user.email.as_str().to_owned(), password))
}

/// What [`bootstrap`] made.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    /// The org.
    pub org_id: String,
    /// Admin's e-mail.
    pub email: String,
    /// Admin's generated password (only when the admin was just created).
    pub password: Option<String>,
    /// The API key, when one was created now.
    pub api_key: Option<String>,
    /// False when the installation was already set up.
    pub created: bool,
}

/// First-start setup without HTTP: a default org, an admin and an API key.
/// With `api_key` given, that exact key is made to exist (for scripts). Safe
/// to run on every start: it does nothing the second time.
pub async fn bootstrap(
    app: &App,
    org_name: &str,
    email: &str,
    api_key: Option<&str>,
) -> Result<Bootstrapped> {
    let marker = app.table.get(SYSTEM_PK, "BOOTSTRAP").await?;
    let (org_id, email, password, created) = match marker {
        Some(m) => (
            m.data["org_id"].as_str().unwrap_or_default().to_owned(),
            m.data["email"].as_str().unwrap_or_default().to_owned(),
            None,
            false,
        ),
        None => {
            let (org_id, email, password) = new_org_and_admin(app, org_name, email).await?;
            let marker = Item::new(
                SYSTEM_PK,
                "BOOTSTRAP",
                json!({"org_id": org_id, "email": email}),
            );
            app.table.put(marker, Condition::MustNotExist).await?;
            (org_id, email, Some(password), true)
        }
    };
    let api_key = match api_key {
        Some(key) => {
            if !key.starts_with("sb_") || key.len() < 20 {
                return Err(Error::field(
                    "SWITCHBOARD_BOOTSTRAP_API_KEY",
                    "must start with sb_ and be at least 20 characters",
                ));
            }
            if app
                .table
                .get(&api_key_pk(&token_hash(key)), API_KEY_SK)
                .await?
                .is_none()
            {
                crate::services::api_keys::store_key(app, &org_id, "bootstrap", key).await?;
            }
            None
        }
        None if created => Some(
            crate::services::api_keys::create_for_org(app, &org_id, "default")
                .await?
                .1,
        ),
        None => None,
    };
    Ok(Bootstrapped {
        org_id,
        email,
        password,
        api_key,
        created,
    })
}
