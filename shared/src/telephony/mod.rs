//! Clients of the carriers' REST APIs. Base URLs come from
//! [`crate::Config`], so tests point them at local doubles that speak the
//! carrier's public protocol.

pub mod signature;
pub mod twilio;
pub mod twiml;

use std::sync::OnceLock;
use std::time::Duration;

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
