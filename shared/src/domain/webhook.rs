//! Webhooks (SPEC §13): an org's endpoints, and the delivery records of
//! everything sent to them (and to tasks' `webhook_url`s).
//!
//! An endpoint's signing secret is write-once: generated on create, shown in
//! that response only, stored [`Sealed`] with a hint so reads mask it
//! without decrypting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::input::{Checks, Field};
use super::tool::Sealed;
use crate::error::{Error, Result};
use crate::net::GuardedClient;

/// The event types an org endpoint can subscribe to (SPEC §13).
pub const EVENT_TYPES: [&str; 8] = [
    "call.started",
    "call.completed",
    "call.failed",
    "knowledge.ready",
    "knowledge.failed",
    "campaign.completed",
    "conversation.created",
    "message.received",
];

/// Longest accepted endpoint URL.
pub const MAX_URL_CHARS: usize = 2048;

/// An org's webhook endpoint as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// UUIDv7.
    pub id: String,
    /// Where deliveries are POSTed (https; http only for a loopback host in development).
    pub url: String,
    /// Subscribed event types, each one of [`EVENT_TYPES`].
    pub events: Vec<String>,
    /// Inactive endpoints receive nothing new.
    pub active: bool,
    /// The `whsec_…` signing secret, sealed.
    pub secret: Sealed,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl WebhookEndpoint {
    /// Whether a new event of `event_type` goes to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        self.active && self.events.iter().any(|e| e == event_type)
    }
}

/// The body of `POST /webhooks`. Every field is a [`Field`], so
/// [`WebhookSpec::parse`] reports every bad field at once.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct WebhookInput {
    /// `https://…` (`http://` only to a loopback address in development); a
    /// private or internal destination is refused.
    #[schema(value_type = String, required = true, max_length = 2048)]
    #[serde(default)]
    pub url: Field<String>,
    /// Event types to receive: `call.started`, `call.completed`,
    /// `call.failed`, `knowledge.ready`, `knowledge.failed`,
    /// `campaign.completed`, `conversation.created`, `message.received`.
    #[schema(value_type = Vec<String>, required = true, min_items = 1)]
    #[serde(default)]
    pub events: Field<Vec<Value>>,
    /// Default true.
    #[schema(value_type = Option<bool>)]
    #[serde(default)]
    pub active: Field<bool>,
    /// Keys an endpoint does not have: each one is a 422.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, Value>,
}

/// A validated `POST /webhooks` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    /// Checked destination.
    pub url: String,
    /// Distinct known event types, in the order sent.
    pub events: Vec<String>,
    /// Default true.
    pub active: bool,
}

impl WebhookSpec {
    /// Parses a create body, naming every bad field. The URL is held to the
    /// outbound rules of `net` (SSRF) now, and again at every delivery.
    pub fn parse(body: WebhookInput, net: &GuardedClient) -> Result<WebhookSpec> {
        let mut f = Checks::new();
        f.unknown(body.unknown.keys(), "is not a field of a webhook endpoint");
        let url = f.req_str("url", body.url, MAX_URL_CHARS);
        let url = match url {
            Some(u) => match check_destination(&u, net) {
                Ok(u) => Some(u),
                Err(reason) => {
                    f.error("url", reason);
                    None
                }
            },
            None => None,
        };
        let events = match body.events {
            Field::Absent | Field::Null => {
                f.error("events", "is required");
                None
            }
            Field::Invalid(_) => {
                f.error("events", "must be an array of event types");
                None
            }
            Field::Value(v) => match parse_events(&v) {
                Ok(e) => Some(e),
                Err(reason) => {
                    f.error("events", reason);
                    None
                }
            },
        };
        let active = f.opt_bool("active", body.active).unwrap_or(true);
        f.finish()?;
        match (url, events) {
            (Some(url), Some(events)) => Ok(WebhookSpec {
                url,
                events,
                active,
            }),
            _ => Err(Error::Internal(
                "webhook fields missing after validation".into(),
            )),
        }
    }
}

fn parse_events(items: &[Value]) -> std::result::Result<Vec<String>, String> {
    if items.is_empty() {
        return Err("must name at least one event type".into());
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        match item.as_str() {
            Some(e) if EVENT_TYPES.contains(&e) => {
                if !out.iter().any(|o| o == e) {
                    out.push(e.to_owned());
                }
            }
            _ => {
                return Err(format!(
                    "each must be one of {} (got {item})",
                    EVENT_TYPES.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// Checks a webhook destination: `https`, or `http` to a loopback host
/// (a developer's receiver, which the outbound allow-list must also let
/// through), and then the SSRF rules of `net`. Returns the URL normalised.
pub fn check_destination(url: &str, net: &GuardedClient) -> std::result::Result<String, String> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|_| "must be an absolute https:// URL".to_owned())?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(
                "must be an https:// URL (http:// only to a loopback address in development)"
                    .into(),
            );
        }
    }
    net.check_url(parsed.as_str())
        .map(|u| u.to_string())
        .map_err(|e| format!("is not an allowed destination: {e}"))
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Queued, or waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed (or the destination is refused); redeliverable.
    Failed,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// When it was sent (RFC 3339).
    pub at: String,
    /// The response's status, when there was one.
    pub status_code: Option<u16>,
    /// From sending to the end of the (bounded) response.
    pub latency_ms: u64,
    /// Why there was no 2xx response (timeout, refused, …).
    pub error: Option<String>,
}

/// Attempts a delivery record keeps (the newest).
pub const MAX_ATTEMPT_LOG: usize = 10;

/// A delivery record: one payload to one destination, signed and sent by the
/// webhook worker, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// UUIDv7; the `webhook-id` header, the same on every attempt.
    pub id: String,
    /// The org endpoint; `None` for a task's webhook.
    pub webhook_id: Option<String>,
    /// The event delivered (org endpoints).
    pub event_id: Option<String>,
    /// `knowledge.ready`, … or a task event (`call_completed`, …).
    pub event_type: String,
    /// The destination.
    pub url: String,
    /// The JSON body sent.
    pub payload: Value,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Whether its queue message was sent (a redelivered event sends none again).
    #[serde(default)]
    pub enqueued: bool,
    /// Attempts made, over every (re)delivery.
    pub attempts: u32,
    /// The newest attempts, oldest first (at most [`MAX_ATTEMPT_LOG`]).
    #[serde(default)]
    pub attempt_log: Vec<DeliveryAttempt>,
    /// Status code of the last response.
    pub last_status_code: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The start of the last response body (bounded).
    pub response_excerpt: Option<String>,
    /// When the next attempt is due, while retrying.
    pub next_attempt_at: Option<String>,
    /// When a 2xx arrived.
    pub delivered_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Delivery {
    /// A new pending delivery.
    pub fn new(
        id: String,
        webhook_id: Option<String>,
        event_id: Option<String>,
        event_type: String,
        url: String,
        payload: Value,
        now: String,
    ) -> Delivery {
        Delivery {
            id,
            webhook_id,
            event_id,
            event_type,
            url,
            payload,
            status: DeliveryStatus::Pending,
            enqueued: false,
            attempts: 0,
            attempt_log: Vec::new(),
            last_status_code: None,
            last_error: None,
            response_excerpt: None,
            next_attempt_at: None,
            delivered_at: None,
            created_at: now.clone(),
            updated_at: now,
        }
    }

    /// Notes an attempt, keeping the log bounded.
    pub fn record(&mut self, attempt: DeliveryAttempt) {
        self.attempts += 1;
        self.last_status_code = attempt.status_code;
        self.last_error = attempt.error.clone();
        self.updated_at = attempt.at.clone();
        self.attempt_log.push(attempt);
        let extra = self.attempt_log.len().saturating_sub(MAX_ATTEMPT_LOG);
        self.attempt_log.drain(..extra);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::net::GuardConfig;

    fn net(allow: &str) -> GuardedClient {
        GuardedClient::new(&GuardConfig::from_list(allow, false)).unwrap()
    }

    fn parse(body: Value, allow: &str) -> Result<WebhookSpec> {
        WebhookSpec::parse(crate::domain::input::from_json(body)?, &net(allow))
    }

    fn field_errors(r: Result<WebhookSpec>) -> std::collections::BTreeMap<String, String> {
        match r {
            Err(Error::Validation(f)) => f,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_body_parses_with_events_deduplicated() {
        let spec = parse(
            json!({"url": "https://example.com/hook", "events": ["call.completed", "knowledge.ready", "call.completed"]}),
            "",
        )
        .unwrap();
        assert_eq!(spec.url, "https://example.com/hook");
        assert_eq!(spec.events, ["call.completed", "knowledge.ready"]);
        assert!(spec.active);
    }

    #[test]
    fn bad_bodies_name_every_field() {
        let f = field_errors(parse(
            json!({"url": "ftp://example.com", "events": [], "active": "yes", "secret": "x"}),
            "",
        ));
        assert!(f["url"].contains("https"), "{f:?}");
        assert!(f["events"].contains("at least one"), "{f:?}");
        assert!(
            f.contains_key("active") && f.contains_key("secret"),
            "{f:?}"
        );
        let f = field_errors(parse(json!({"events": ["call.done"]}), ""));
        assert_eq!(f["url"], "is required");
        assert!(f["events"].contains("call.completed"), "{f:?}");
    }

    #[test]
    fn http_is_only_for_an_allowed_loopback_host() {
        let f = field_errors(parse(
            json!({"url": "http://example.com/hook", "events": ["call.failed"]}),
            "",
        ));
        assert!(f["url"].contains("https://"), "{f:?}");
        // Loopback, but not allow-listed: the SSRF rules refuse it.
        let f = field_errors(parse(
            json!({"url": "http://127.0.0.1:9/hook", "events": ["call.failed"]}),
            "",
        ));
        assert!(f["url"].contains("not an allowed destination"), "{f:?}");
        assert!(
            parse(
                json!({"url": "http://127.0.0.1:9/hook", "events": ["call.failed"]}),
                "127.0.0.1"
            )
            .is_ok()
        );
    }

    #[test]
    fn private_and_metadata_addresses_are_refused() {
        for url in [
            "https://10.0.0.5/hook",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://metadata.google.internal/",
            "https://2130706433/",
        ] {
            let f = field_errors(parse(json!({"url": url, "events": ["call.failed"]}), ""));
            assert!(
                f["url"].contains("not an allowed destination"),
                "{url}: {f:?}"
            );
        }
    }

    #[test]
    fn the_attempt_log_stays_bounded() {
        let mut d = Delivery::new(
            "d".into(),
            None,
            None,
            "call_completed".into(),
            "https://example.com".into(),
            json!({}),
            "t0".into(),
        );
        for i in 0..(MAX_ATTEMPT_LOG + 3) {
            d.record(DeliveryAttempt {
                at: format!("t{i}"),
                status_code: Some(500),
                latency_ms: 1,
                error: None,
            });
        }
        assert_eq!(d.attempts as usize, MAX_ATTEMPT_LOG + 3);
        assert_eq!(d.attempt_log.len(), MAX_ATTEMPT_LOG);
        assert_eq!(d.attempt_log[0].at, "t3");
    }
}
