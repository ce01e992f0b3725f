//! Twilio's request signature (`X-Twilio-Signature`): base64 HMAC-SHA1, keyed
//! with the account's auth token, over the full URL Twilio requested followed
//! by every POST parameter's name and value, sorted by name (then value), with
//! no separators. The URL is the public one Twilio was given (from config),
//! never rebuilt from the `Host` header a caller controls.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    // HMAC takes keys of any length; this cannot fail.
    let mut m = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(url.as_bytes());
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        m.update(name.as_bytes());
        m.update(value.as_bytes());
    }
    m
}

/// The signature Twilio sends with a request to `url` carrying the form
/// `params` (what the Twilio double signs with).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `signature` (the header's value) is Twilio's for this request;
/// compared in constant time. Anything unreadable is `false`.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(sig) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The vector Twilio's helper libraries test their validators with
    /// (auth token `12345`), so this implementation cannot be merely
    /// consistent with itself.
    #[test]
    fn matches_the_published_twilio_vector() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let p = params(&[
            ("To", "+18005551212"),
            ("From", "+14158675309"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        assert_eq!(sign("12345", url, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify("12345", url, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn any_change_or_junk_fails() {
        let url = "https://api.example.com/api/v1/telephony/twilio/x/voice";
        let p = params(&[("CallSid", "CA1"), ("To", "+15005550006")]);
        let good = sign("tok", url, &p);
        assert!(verify("tok", url, &p, &good));
        assert!(!verify("other", url, &p, &good), "another token");
        assert!(
            !verify("tok", &format!("{url}?a=1"), &p, &good),
            "another URL"
        );
        let tampered = params(&[("CallSid", "CA2"), ("To", "+15005550006")]);
        assert!(!verify("tok", url, &tampered, &good), "a changed parameter");
        let added = params(&[("CallSid", "CA1"), ("To", "+15005550006"), ("X", "")]);
        assert!(!verify("tok", url, &added, &good), "an added parameter");
        for junk in ["", "!!!", "AAAA", &good[..good.len() - 2]] {
            assert!(!verify("tok", url, &p, junk), "{junk:?}");
        }
    }
}
