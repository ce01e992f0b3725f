//! The carrier port: what Switchboard asks of a carrier's REST API
//! ([`Carrier`]), and its clients beside it ([`twilio`]). Base URLs come
//! from [`crate::Config`], so tests point them at local doubles that speak
//! the carrier's public protocol. The carrier's webhooks (what it sends us)
//! are answered in `services::telephony`.

pub mod signature;
pub mod twilio;
pub mod twiml;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;

use crate::Config;
use crate::domain::channel::ChannelType;
use crate::error::{Error, Result};

/// How long a carrier API call may take before the carrier counts as down.
pub const CARRIER_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client every carrier call shares (connection pool, TLS config),
/// built once per process.
pub fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(CARRIER_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // Carrier APIs do not redirect; following one could send the
            // basic-auth credentials somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// One carrier account's REST API, in the platform's words: place a call
/// that streams to the relay, transfer a live call, send an SMS, list the
/// account's numbers. Each carrier's instructions language (Twilio's TwiML)
/// stays inside its client; callers never build one.
///
/// Twilio ([`twilio::Twilio`]) is the one implementation today; a Plivo,
/// Telnyx or Vonage client implements this trait and gets its arm in
/// [`connect`], and the dialer, transfers, SMS and channel verification use
/// it unchanged.
#[async_trait]
pub trait Carrier: Send + Sync {
    /// Places an outbound call that, once answered, streams its audio both
    /// ways to the relay, reports its progress (and the answering-machine
    /// detection's verdict) to `call.status_callback`. Returns the
    /// carrier's id of the call, which its callbacks name. A refusal or an
    /// unreachable carrier is [`Error::Unavailable`] with the carrier's own
    /// reason, never the credentials.
    async fn place_call(&self, call: &OutboundCall<'_>) -> Result<String>;

    /// Hands the live call `call_id` (the carrier's id) to `number`: the
    /// carrier connects the caller to it, and the relay's stream ends.
    async fn transfer(&self, call_id: &str, number: &str) -> Result<()>;

    /// Sends an SMS; the carrier's id of the message when it took it (its
    /// delivery callbacks name that). A failure says whether a retry can
    /// help.
    async fn send_sms(&self, sms: &Sms<'_>) -> std::result::Result<String, SendFailure>;

    /// The account's phone numbers (E.164), all of them; `None` when the
    /// carrier rejects the credentials. An unreachable or failing carrier
    /// is [`Error::Unavailable`].
    async fn phone_numbers(&self) -> Result<Option<Vec<String>>>;
}

/// Where an answered call's audio goes: the relay, and what admits this
/// call's stream there (the carrier passes both back when the stream
/// starts, not in the URL).
#[derive(Debug, Clone)]
pub struct MediaStream {
    /// The relay's public base URL (`wss://…`); each carrier streams to its
    /// own `/ws/media/{provider}` under it.
    pub relay_url: String,
    /// The call.
    pub call_id: String,
    /// The call's media token (`services::calls::media::issue`).
    pub token: String,
}

/// An outbound call for a carrier to place.
#[derive(Debug, Clone)]
pub struct OutboundCall<'a> {
    /// The callee (E.164).
    pub to: &'a str,
    /// The caller id: one of the account's numbers.
    pub from: &'a str,
    /// Where the call's audio goes once answered.
    pub stream: &'a MediaStream,
    /// Where the carrier reports the call's status changes and the
    /// answering-machine detection's result.
    pub status_callback: &'a str,
}

/// An SMS for a carrier to send.
#[derive(Debug, Clone)]
pub struct Sms<'a> {
    /// The customer (E.164).
    pub to: &'a str,
    /// One of the account's numbers.
    pub from: &'a str,
    /// What it says.
    pub body: &'a str,
    /// Where the carrier reports its delivery status.
    pub status_callback: &'a str,
}

/// Why a carrier did not take a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// Worth another try later: the carrier unreachable, a 5xx, or 429.
    Transient(String),
    /// The carrier refused it (with its error code and message): trying
    /// again cannot help.
    Refused(String),
}

/// Why there is no carrier client for an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoCarrier {
    /// Switchboard has no client for this channel type (yet, or ever: `web`
    /// and `sim` have no carrier account).
    #[error("{} channels have no carrier client yet", .0.as_str())]
    Unsupported(ChannelType),
    /// The credentials lack what the client signs in with.
    #[error("the channel has no {0} credentials")]
    NoCredentials(&'static str),
}

impl From<NoCarrier> for Error {
    fn from(e: NoCarrier) -> Self {
        Error::Conflict(e.to_string())
    }
}

/// The client of the `kind` carrier account that `credentials` (opened)
/// sign in to, at the API base `config` names. The one place a channel type
/// becomes a carrier client.
pub fn connect(
    config: &Config,
    kind: ChannelType,
    credentials: &BTreeMap<String, String>,
) -> std::result::Result<Box<dyn Carrier>, NoCarrier> {
    match kind {
        ChannelType::Twilio => {
            let (Some(account_sid), Some(auth_token)) = (
                credentials.get("account_sid"),
                credentials.get("auth_token"),
            ) else {
                return Err(NoCarrier::NoCredentials("Twilio"));
            };
            Ok(Box::new(twilio::Twilio::new(
                &config.twilio_api_base,
                account_sid,
                auth_token,
            )))
        }
        other => Err(NoCarrier::Unsupported(other)),
    }
}
