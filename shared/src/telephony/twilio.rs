//! Twilio's REST API (2010-04-01), the parts Switchboard uses.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Most pages of numbers read in one verification (1,000 numbers a page).
const MAX_PAGES: usize = 50;

/// A Twilio account reached through `base` (`https://api.twilio.com`).
pub struct Twilio<'a> {
    base: &'a str,
    account_sid: &'a str,
    auth_token: &'a str,
}

#[derive(Deserialize)]
struct NumbersPage {
    #[serde(default)]
    incoming_phone_numbers: Vec<IncomingNumber>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
struct IncomingNumber {
    phone_number: String,
}

impl<'a> Twilio<'a> {
    /// An account's client; `account_sid` must already be checked (`AC` + hex).
    pub fn new(base: &'a str, account_sid: &'a str, auth_token: &'a str) -> Self {
        Self {
            base: base.trim_end_matches('/'),
            account_sid,
            auth_token,
        }
    }

    /// The account's incoming phone numbers, every page of them; `None` when
    /// Twilio rejects the credentials. An unreachable or failing Twilio is
    /// [`Error::Unavailable`].
    pub async fn incoming_phone_numbers(&self) -> Result<Option<Vec<String>>> {
        let mut numbers = Vec::new();
        let mut uri = format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json?PageSize=1000",
            self.account_sid
        );
        for _ in 0..MAX_PAGES {
            let resp = super::http()
                .get(format!("{}{uri}", self.base))
                .basic_auth(self.account_sid, Some(self.auth_token))
                .send()
                .await
                .map_err(|e| Error::Unavailable(format!("could not reach Twilio: {e}")))?;
            let status = resp.status().as_u16();
            // 401: wrong SID/token pair; 403/404: the token is not this account's.
            if matches!(status, 401 | 403 | 404) {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(Error::Unavailable(format!(
                    "Twilio answered {status} while listing phone numbers"
                )));
            }
            let page: NumbersPage = resp.json().await.map_err(|e| {
                Error::Unavailable(format!("Twilio sent an unreadable phone-number list: {e}"))
            })?;
            numbers.extend(
                page.incoming_phone_numbers
                    .into_iter()
                    .map(|n| n.phone_number),
            );
            match page.next_page_uri.filter(|u| !u.is_empty()) {
                // Only a path on the same host: the credentials go with it.
                Some(next) if next.starts_with('/') && !next.starts_with("//") => uri = next,
                Some(_) => {
                    return Err(Error::Unavailable(
                        "Twilio sent a next page outside its API".into(),
                    ));
                }
                None => return Ok(Some(numbers)),
            }
        }
        Ok(Some(numbers))
    }
}
