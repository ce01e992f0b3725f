//! Twilio's REST API (2010-04-01), the parts Switchboard uses: the
//! [`Carrier`] port's Twilio client, and what Twilio's call statuses mean.

use async_trait::async_trait;
use serde::Deserialize;

use super::{Carrier, OutboundCall, SendFailure, Sms, twiml};
use crate::engine::call::EndReason;
use crate::error::{Error, Result};

/// Most pages of numbers read in one verification (1,000 numbers a page).
const MAX_PAGES: usize = 50;

/// A Twilio account reached through `base` (`https://api.twilio.com`).
pub struct Twilio {
    base: String,
    account_sid: String,
    auth_token: String,
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

/// The call resource Twilio answers a create or update with (the part used).
#[derive(Deserialize)]
struct CallResource {
    sid: String,
}

/// Twilio's error body (`{code, message, more_info, status}`).
#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

/// What a call's status callback means for the call: still going, or ended
/// for a reason (SPEC §10 `end_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// `queued`, `initiated`, `ringing`: nothing to record yet.
    Pending,
    /// `in-progress`: the callee answered.
    Answered,
    /// A final status.
    Ended(EndReason),
}

/// Whether Twilio's `AnsweredBy` says no person answered (a machine, at its
/// start or after its greeting, or a fax).
pub fn is_machine(answered_by: &str) -> bool {
    answered_by.starts_with("machine") || answered_by == "fax"
}

impl Progress {
    /// Reads Twilio's `CallStatus` (with `AnsweredBy` when answering-machine
    /// detection ran): `None` for a status Twilio does not document.
    pub fn of(call_status: &str, answered_by: Option<&str>) -> Option<Progress> {
        let machine = answered_by.is_some_and(is_machine);
        Some(match call_status {
            "queued" | "initiated" | "ringing" => Progress::Pending,
            "in-progress" => Progress::Answered,
            "completed" if machine => Progress::Ended(EndReason::Voicemail),
            "completed" => Progress::Ended(EndReason::CalleeHungUp),
            "busy" => Progress::Ended(EndReason::Busy),
            "no-answer" => Progress::Ended(EndReason::NoAnswer),
            "failed" => Progress::Ended(EndReason::CarrierError),
            "canceled" => Progress::Ended(EndReason::Cancelled),
            _ => return None,
        })
    }
}

impl Twilio {
    /// An account's client; `account_sid` must already be checked (`AC` + hex).
    pub fn new(base: &str, account_sid: &str, auth_token: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
        }
    }

    fn calls_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.base, self.account_sid
        )
    }

    /// Sends a form to the Calls API and reads the call it answers with. A
    /// refusal is [`Error::Unavailable`] with Twilio's own code and message
    /// (never the credentials, which travel only in the request header).
    async fn post_call(&self, url: String, form: &[(&str, &str)], what: &str) -> Result<String> {
        let resp = super::http()
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(form)
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("could not reach Twilio to {what}: {e}")))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| {
            Error::Unavailable(format!("Twilio's answer to {what} was cut off: {e}"))
        })?;
        if !status.is_success() {
            let err: Option<ApiError> = serde_json::from_slice(&bytes).ok();
            let code = err
                .as_ref()
                .and_then(|e| e.code)
                .map_or(String::new(), |c| format!(" {c}"));
            let message = err.and_then(|e| e.message).unwrap_or_default();
            return Err(Error::Unavailable(format!(
                "Twilio refused to {what} ({}{code}): {message}",
                status.as_u16()
            )));
        }
        let call: CallResource = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Unavailable(format!("Twilio sent an unreadable call to {what}: {e}"))
        })?;
        Ok(call.sid)
    }
}

#[async_trait]
impl Carrier for Twilio {
    /// Sends an SMS (`POST Messages.json`); Twilio's message SID when it
    /// took the message. A failure's reason carries Twilio's code and
    /// message, never the credentials (they travel only in the request
    /// header).
    async fn send_sms(&self, sms: &Sms<'_>) -> std::result::Result<String, SendFailure> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base, self.account_sid
        );
        let form = [
            ("To", sms.to),
            ("From", sms.from),
            ("Body", sms.body),
            ("StatusCallback", sms.status_callback),
        ];
        let resp = super::http()
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            // The URL names the account: left out of a reason tenants read.
            .map_err(|e| {
                SendFailure::Transient(format!("could not reach Twilio: {}", e.without_url()))
            })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| {
            SendFailure::Transient(format!("Twilio's answer was cut off: {}", e.without_url()))
        })?;
        if status.is_success() {
            return serde_json::from_slice::<CallResource>(&bytes)
                .map(|m| m.sid)
                .map_err(|e| {
                    SendFailure::Transient(format!("Twilio sent an unreadable message: {e}"))
                });
        }
        let err: Option<ApiError> = serde_json::from_slice(&bytes).ok();
        let code = err
            .as_ref()
            .and_then(|e| e.code)
            .map_or(String::new(), |c| format!(" {c}"));
        let message = err.and_then(|e| e.message).unwrap_or_default();
        let reason = format!("Twilio answered {}{code}: {message}", status.as_u16());
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SendFailure::Transient(reason))
        } else {
            Err(SendFailure::Refused(reason))
        }
    }

    /// Places an outbound call (`POST Calls.json`) whose TwiML is
    /// `<Connect><Stream>` to the relay, with its status callbacks and
    /// asynchronous answering-machine detection; returns Twilio's call SID.
    async fn place_call(&self, call: &OutboundCall<'_>) -> Result<String> {
        let twiml = twiml::relay_stream(call.stream);
        let form = [
            ("To", call.to),
            ("From", call.from),
            ("Twiml", twiml.as_str()),
            ("StatusCallback", call.status_callback),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
            ("MachineDetection", "DetectMessageEnd"),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", call.status_callback),
        ];
        self.post_call(self.calls_url(), &form, "place the call")
            .await
    }

    /// Replaces the live call's instructions (`POST Calls/{sid}.json`) with
    /// `<Dial>` to the person's number.
    async fn transfer(&self, call_sid: &str, number: &str) -> Result<()> {
        if !call_sid.starts_with("CA") || !call_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::BadRequest("not a Twilio call SID".into()));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Calls/{call_sid}.json",
            self.base, self.account_sid
        );
        let twiml = twiml::dial(number);
        self.post_call(url, &[("Twiml", twiml.as_str())], "update the call")
            .await
            .map(|_| ())
    }

    /// The account's incoming phone numbers, every page of them; `None` when
    /// Twilio rejects the credentials. An unreachable or failing Twilio is
    /// [`Error::Unavailable`].
    async fn phone_numbers(&self) -> Result<Option<Vec<String>>> {
        let mut numbers = Vec::new();
        let mut uri = format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers.json?PageSize=1000",
            self.account_sid
        );
        for _ in 0..MAX_PAGES {
            let resp = super::http()
                .get(format!("{}{uri}", self.base))
                .basic_auth(&self.account_sid, Some(&self.auth_token))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_maps_and_others_do_not() {
        use Progress::*;
        for (status, want) in [
            ("queued", Pending),
            ("initiated", Pending),
            ("ringing", Pending),
            ("in-progress", Answered),
            ("completed", Ended(EndReason::CalleeHungUp)),
            ("busy", Ended(EndReason::Busy)),
            ("no-answer", Ended(EndReason::NoAnswer)),
            ("failed", Ended(EndReason::CarrierError)),
            ("canceled", Ended(EndReason::Cancelled)),
        ] {
            assert_eq!(Progress::of(status, None), Some(want), "{status}");
        }
        assert_eq!(
            Progress::of("completed", Some("machine_end_beep")),
            Some(Ended(EndReason::Voicemail))
        );
        assert_eq!(
            Progress::of("completed", Some("human")),
            Some(Ended(EndReason::CalleeHungUp))
        );
        assert_eq!(Progress::of("exploded", None), None);
    }
}
