//! Standard Webhooks signatures (SPEC §13), shared by webhook tools and webhook delivery:
//! headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`,
//! where the key is the base64 part of a `whsec_<base64>` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a webhook secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// The header carrying the message id.
pub const HEADER_ID: &str = "webhook-id";
/// The header carrying the unix timestamp (seconds).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying the signature(s).
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A webhook signing key. Its text form is `whsec_<base64 of the key>`; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(****)")
    }
}

impl WebhookSecret {
    /// A fresh random 32-byte key.
    pub fn generate() -> WebhookSecret {
        let mut key = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        WebhookSecret(key)
    }

    /// Parses `whsec_<base64>` (a key of 16 to 128 bytes).
    pub fn parse(text: &str) -> Result<WebhookSecret, String> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("must start with {SECRET_PREFIX}"))?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| format!("must be {SECRET_PREFIX} followed by base64"))?;
        if !(16..=128).contains(&key.len()) {
            return Err("the key must be 16 to 128 bytes".into());
        }
        Ok(WebhookSecret(key))
    }

    /// The text form, `whsec_<base64>` (shown once to its owner).
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for one message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// The three headers to send with `body`, in order.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, id.to_owned()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (HEADER_SIGNATURE, self.sign(id, timestamp, body)),
        ]
    }

    /// Whether a `webhook-signature` header (space-separated `v1,<sig>` entries, as sent
    /// during key rotation) holds a valid signature of this message. Constant-time.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let expected = self.mac(id, timestamp, body).finalize().into_bytes();
        header.split_whitespace().any(|entry| {
            entry
                .strip_prefix("v1,")
                .and_then(|sig| STANDARD.decode(sig).ok())
                .is_some_and(|sig| bool::from(sig.as_slice().ct_eq(expected.as_slice())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &signature));
    }

    #[test]
    fn verification_rejects_any_change_and_accepts_rotation_lists() {
        let secret = WebhookSecret::generate();
        let other = WebhookSecret::generate();
        let sig = secret.sign("msg_1", 1700000000, b"{}");
        assert!(secret.verify("msg_1", 1700000000, b"{}", &sig));
        assert!(!secret.verify("msg_2", 1700000000, b"{}", &sig));
        assert!(!secret.verify("msg_1", 1700000001, b"{}", &sig));
        assert!(!secret.verify("msg_1", 1700000000, b"{ }", &sig));
        assert!(!other.verify("msg_1", 1700000000, b"{}", &sig));
        let rotated = format!("{} {sig}", other.sign("msg_1", 1700000000, b"{}"));
        assert!(secret.verify("msg_1", 1700000000, b"{}", &rotated));
        assert!(!secret.verify("msg_1", 1700000000, b"{}", "v2,abc"));
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let secret = WebhookSecret::generate();
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text).unwrap(), secret);
        assert!(!format!("{secret:?}").contains(&text[6..]));
        for bad in ["", "whsec_", "sk_abc", "whsec_!!!", "whsec_c2hvcnQ="] {
            assert!(WebhookSecret::parse(bad).is_err(), "{bad}");
        }
    }
}
