//! Stateless signed tokens: `<prefix>.<payload>.<signature>`, the payload the
//! base64url JSON of some claims, the signature base64url HMAC-SHA256 with
//! the installation's signing key over `<prefix>.<payload>`. The prefix names
//! the kind of token, so a token of one kind never passes as another; each
//! kind's claims carry their expiry. Web-session tokens (`wst1`), call
//! session tokens (`cst1`) and supervisor tokens (`sst1`) are such tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

/// What one kind of token says.
pub trait Claims: Serialize + DeserializeOwned {
    /// The kind's prefix (`wst1`, `cst1`): part of what is signed.
    const PREFIX: &'static str;
    /// Expiry, unix seconds.
    fn exp(&self) -> i64;
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// Signs `claims` with `key`.
pub fn sign<C: Claims>(key: &[u8], claims: &C) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signed = format!("{}.{payload}", C::PREFIX);
    let mut m = mac(key);
    m.update(signed.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{signed}.{sig}")
}

/// The claims of `token` when it is a `C` token signed with `key` that has
/// not expired at `now` (unix seconds); `None` for anything else.
pub fn verify<C: Claims>(key: &[u8], token: &str, now: i64) -> Option<C> {
    let (signed, sig) = token.rsplit_once('.')?;
    let payload = signed.strip_prefix(C::PREFIX)?.strip_prefix('.')?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    let mut m = mac(key);
    m.update(signed.as_bytes());
    m.verify_slice(&sig).ok()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: C = serde_json::from_slice(&bytes).ok()?;
    (claims.exp() > now).then_some(claims)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct A {
        who: String,
        exp: i64,
    }
    impl Claims for A {
        const PREFIX: &'static str = "aaa1";
        fn exp(&self) -> i64 {
            self.exp
        }
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct B {
        who: String,
        exp: i64,
    }
    impl Claims for B {
        const PREFIX: &'static str = "bbb1";
        fn exp(&self) -> i64 {
            self.exp
        }
    }

    #[test]
    fn a_token_verifies_only_unchanged_unexpired_with_its_key_and_kind() {
        let a = A {
            who: "ann".into(),
            exp: 100,
        };
        let token = sign(b"key", &a);
        assert!(token.starts_with("aaa1."));
        assert_eq!(verify::<A>(b"key", &token, 99), Some(a));
        assert_eq!(verify::<A>(b"key", &token, 100), None, "expired");
        assert_eq!(verify::<A>(b"other", &token, 0), None, "another key");
        assert_eq!(verify::<B>(b"key", &token, 0), None, "another kind");
        let renamed = token.replacen("aaa1", "bbb1", 1);
        assert_eq!(
            verify::<B>(b"key", &renamed, 0),
            None,
            "the prefix is signed"
        );
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!(
            "aaa1.{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"who":"eve","exp":999}"#),
            head.rsplit_once('.').unwrap().1
        );
        assert_eq!(verify::<A>(b"key", &forged, 0), None);
        for junk in ["", ".", "aaa1", "aaa1..", "aaa1.x.y", "aaa1.!!.!!"] {
            assert_eq!(verify::<A>(b"key", junk, 0), None, "{junk:?}");
        }
    }
}
