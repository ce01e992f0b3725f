//! Channel parsing, sealing and masking.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::*;
use crate::crypto::Cipher;
use crate::domain::input::from_json;
use crate::error::Error;

fn parse(v: Value) -> Result<ChannelSpec, Error> {
    ChannelSpec::parse(from_json(v)?, &BTreeSet::new())
}

fn fields(v: Value) -> crate::error::FieldErrors {
    match parse(v) {
        Err(Error::Validation(f)) => f,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn origins_are_normalised_and_checked() {
    assert_eq!(
        parse_origin("https://Example.com").unwrap(),
        "https://example.com"
    );
    assert_eq!(
        parse_origin("https://example.com:443/").unwrap(),
        "https://example.com"
    );
    assert_eq!(
        parse_origin("http://localhost:3000").unwrap(),
        "http://localhost:3000"
    );
    for bad in [
        "example.com",
        "ftp://example.com",
        "https://example.com/path",
        "https://user@example.com",
        "https://example.com?x=1",
        "*",
        "null",
        "",
    ] {
        assert!(parse_origin(bad).is_err(), "{bad}");
    }
}

#[test]
fn each_carrier_needs_its_credentials() {
    let f = fields(json!({"name": "T", "type": "twilio", "credentials": {"account_sid": "XX1"}}));
    assert!(f.contains_key("credentials.account_sid"), "{f:?}");
    assert!(f.contains_key("credentials.auth_token"), "{f:?}");
    let f = fields(json!({"name": "E", "type": "exotel", "credentials": {}}));
    for k in [
        "credentials.api_key",
        "credentials.api_token",
        "credentials.sid",
    ] {
        assert!(f.contains_key(k), "{k} in {f:?}");
    }
    let f = fields(json!({"name": "W", "type": "web", "credentials": {"x": "y"}}));
    assert!(f.contains_key("credentials"), "{f:?}");
    assert!(parse(json!({"name": "S", "type": "sim"})).is_ok());
    assert!(
        parse(json!({"name": "T", "type": "telnyx", "credentials": {"api_key": "KEY123"}})).is_ok()
    );
}

#[test]
fn patch_keeps_stored_credentials_unless_removed() {
    let kept: BTreeSet<String> = ["account_sid".into(), "auth_token".into()].into();
    let body = json!({"name": "T", "type": "twilio", "credentials": {"auth_token": "new"}});
    assert!(ChannelSpec::parse(from_json(body.clone()).unwrap(), &kept).is_ok());
    let body = json!({"name": "T", "type": "twilio", "credentials": {"auth_token": null}});
    let Err(Error::Validation(f)) = ChannelSpec::parse(from_json(body.clone()).unwrap(), &kept)
    else {
        panic!("removing a required credential must fail")
    };
    assert!(f.contains_key("credentials.auth_token"));
}

#[test]
fn every_bad_field_is_reported() {
    let f = fields(json!({
        "type": "web", "phone_numbers": ["+14155550100"], "default_agent_id": "nope",
        "config": {"allowed_origins": ["not an origin"], "public": "yes", "colour": 1}
    }));
    for k in [
        "name",
        "phone_numbers",
        "default_agent_id",
        "config.allowed_origins.0",
        "config.public",
        "config.colour",
    ] {
        assert!(f.contains_key(k), "{k} in {f:?}");
    }
    let f = fields(
        json!({"name": "S", "type": "sim", "phone_numbers": ["555", "+14155550100", "+14155550100"]}),
    );
    assert!(
        f.contains_key("phone_numbers.0") && f.contains_key("phone_numbers.2"),
        "{f:?}"
    );
    assert!(fields(json!({"name": "X", "type": "fax"})).contains_key("type"));
}

#[test]
fn credentials_are_sealed_and_masked() {
    let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
    let sid = "AC0123456789abcdef0123456789abcdef";
    let ch = twilio_channel(&cipher, sid);
    assert!(ch.credentials["auth_token"].ciphertext.starts_with("v1:"));
    let shown = ch.masked_credentials();
    assert_eq!(shown["account_sid"], "••••cdef");
    assert_eq!(shown["auth_token"], "••••alue");
    let stored = serde_json::to_string(&ch).unwrap();
    assert!(!stored.contains("tok_secret_value") && !stored.contains(sid));
    assert_eq!(ch.open_credentials(&cipher).unwrap()["account_sid"], sid);
}

fn twilio_channel(cipher: &Cipher, sid: &str) -> Channel {
    let spec = parse(json!({"name": "T", "type": "twilio", "credentials": {"account_sid": sid, "auth_token": "tok_secret_value"}})).unwrap();
    spec.into_channel("i".into(), &BTreeMap::new(), cipher, "t".into(), "t".into())
}

/// The mask comes from the hint stored beside the ciphertext: a ciphertext no
/// key opens still masks as before, so reads never decrypt.
#[test]
fn masks_come_from_the_stored_hint_not_the_ciphertext() {
    let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
    let mut ch = twilio_channel(&cipher, "AC0123456789abcdef0123456789abcdef");
    for sealed in ch.credentials.values_mut() {
        sealed.ciphertext = "v1:not-a-ciphertext".into();
    }
    let shown = ch.masked_credentials();
    assert_eq!(shown["account_sid"], "••••cdef");
    assert_eq!(shown["auth_token"], "••••alue");
}

/// Channels stored before hints existed hold bare ciphertexts: they still read
/// (fully masked) and still open for the carrier.
#[test]
fn credentials_stored_without_a_hint_read_fully_masked() {
    let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
    let stored = json!({
        "id": "i", "name": "T", "type": "twilio",
        "credentials": {"auth_token": cipher.seal("tok_secret_value")},
        "phone_numbers": [], "default_agent_id": null, "config": {},
        "created_at": "t", "updated_at": "t",
    });
    let ch: Channel = serde_json::from_value(stored).unwrap();
    assert_eq!(ch.masked_credentials()["auth_token"], "••••");
    assert_eq!(
        ch.open_credentials(&cipher).unwrap()["auth_token"],
        "tok_secret_value"
    );
}
