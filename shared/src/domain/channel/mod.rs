//! A channel: where conversations reach an agent — a carrier account with
//! phone numbers, the website widget, or the built-in simulated carrier
//! (SPEC §7).
//!
//! Credentials are write-only. A stored [`Channel`] holds them sealed
//! ([`crate::crypto::Sealed`]) with a hint of their last characters; the API
//! shows them masked from that hint, never opened; only the telephony
//! code that talks to the carrier opens them.

mod input;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::E164;
use super::input::{Checks, Field, from_json, overlay};
use crate::crypto::{Cipher, MASK, Sealed};
use crate::error::Error;

pub use input::{ChannelCreate, ChannelPatch, VerifyProviderInput, WebConfigInput};

/// The kinds of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// Twilio Programmable Voice.
    Twilio,
    /// Plivo.
    Plivo,
    /// Telnyx.
    Telnyx,
    /// Vonage (Nexmo).
    Vonage,
    /// Exotel.
    Exotel,
    /// The website widget (browser audio or text chat through the relay).
    Web,
    /// The built-in simulated carrier (test mode and local development).
    Sim,
}

/// Every channel type, in the order the API documents them.
pub const CHANNEL_TYPES: [ChannelType; 7] = [
    ChannelType::Twilio,
    ChannelType::Plivo,
    ChannelType::Telnyx,
    ChannelType::Vonage,
    ChannelType::Exotel,
    ChannelType::Web,
    ChannelType::Sim,
];

impl ChannelType {
    /// Parses the API name (`twilio`, …, `sim`).
    pub fn parse(s: &str) -> Option<Self> {
        CHANNEL_TYPES.into_iter().find(|t| t.as_str() == s)
    }

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::Plivo => "plivo",
            Self::Telnyx => "telnyx",
            Self::Vonage => "vonage",
            Self::Exotel => "exotel",
            Self::Web => "web",
            Self::Sim => "sim",
        }
    }

    /// The credential fields the carrier needs; a channel cannot be saved
    /// without them.
    pub fn required_credentials(self) -> &'static [&'static str] {
        match self {
            Self::Twilio => &["account_sid", "auth_token"],
            Self::Plivo => &["auth_id", "auth_token"],
            Self::Telnyx => &["api_key"],
            Self::Vonage => &["api_key", "api_secret"],
            // `subdomain` (the API region host, e.g. `api.in.exotel.com`) is optional.
            Self::Exotel => &["api_key", "api_token", "sid"],
            Self::Web | Self::Sim => &[],
        }
    }

    /// Whether the channel is a carrier account that has credentials and numbers.
    pub fn is_carrier(self) -> bool {
        !matches!(self, Self::Web | Self::Sim)
    }
}

/// The settings of a web channel (`config` when `type` is `web`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WebConfig {
    /// Origins (`scheme://host[:port]`) whose pages may open sessions.
    pub allowed_origins: Vec<String>,
    /// Whether pages may open sessions without credentials (public-session).
    pub public: bool,
    /// What the widget shows or says first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// The widget's look, as the page's script understands it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<Value>,
}

/// A channel as stored. `credentials` values are sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// UUIDv7.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The kind.
    #[serde(rename = "type")]
    pub kind: ChannelType,
    /// Credential name → sealed value with its hint (a value stored before
    /// hints existed reads with none, and shows as `••••`).
    #[serde(default)]
    pub credentials: BTreeMap<String, Sealed>,
    /// Numbers this channel answers and dials from.
    #[serde(default)]
    pub phone_numbers: Vec<E164>,
    /// The agent that answers inbound conversations.
    pub default_agent_id: Option<String>,
    /// Type-specific settings ([`WebConfig`] for web channels).
    #[serde(default)]
    pub config: Map<String, Value>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Channel {
    /// The credentials as a read shows them: masked from their stored
    /// hints, never opened.
    pub fn masked_credentials(&self) -> BTreeMap<String, String> {
        self.credentials
            .iter()
            .map(|(k, sealed)| (k.clone(), sealed.masked()))
            .collect()
    }

    /// The web settings, for a web channel.
    pub fn web_config(&self) -> Option<WebConfig> {
        if self.kind != ChannelType::Web {
            return None;
        }
        serde_json::from_value(Value::Object(self.config.clone())).ok()
    }

    /// The credentials in clear, for the code that talks to the carrier.
    pub fn open_credentials(&self, cipher: &Cipher) -> Result<BTreeMap<String, String>, Error> {
        self.credentials
            .iter()
            .map(|(k, sealed)| {
                sealed.open(cipher).map(|v| (k.clone(), v)).map_err(|e| {
                    Error::Internal(format!("channel {} credential {k}: {e}", self.id))
                })
            })
            .collect()
    }

    /// This channel as a body [`ChannelSpec::parse`] accepts, with `patch`'s
    /// fields laid over it. Credentials are not included: the patch's
    /// `credentials` (if any) are changes to the stored ones.
    pub fn patched(&self, patch: ChannelPatch) -> ChannelPatch {
        let stored = ChannelPatch {
            name: Field::Value(self.name.clone()),
            kind: Field::Value(self.kind.as_str().to_owned()),
            credentials: Field::Absent,
            phone_numbers: Field::Value(
                self.phone_numbers
                    .iter()
                    .map(|n| Value::from(n.as_str()))
                    .collect(),
            ),
            default_agent_id: self.default_agent_id.clone().into(),
            config: Field::Value(self.config.clone()),
            unknown: BTreeMap::new(),
        };
        overlay!(
            ChannelPatch {
                name,
                kind,
                credentials,
                phone_numbers,
                default_agent_id,
                config;
                own unknown
            },
            stored,
            patch
        )
    }
}

/// Credential changes in a request: values to set (in clear, sealed on
/// store) and names to remove (`null` on PATCH).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CredentialChanges {
    /// Name → new value.
    pub set: BTreeMap<String, String>,
    /// Names to drop.
    pub remove: BTreeSet<String>,
}

impl CredentialChanges {
    /// The sealed credentials after these changes are applied to `kept`.
    pub fn apply(
        &self,
        kept: &BTreeMap<String, Sealed>,
        cipher: &Cipher,
    ) -> BTreeMap<String, Sealed> {
        let mut out: BTreeMap<String, Sealed> = kept
            .iter()
            .filter(|(k, _)| !self.remove.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &self.set {
            out.insert(k.clone(), Sealed::seal(cipher, v));
        }
        out
    }
}

const NAME_MAX: usize = 200;
const TEXT_MAX: usize = 2_000;
const CREDENTIAL_MAX: usize = 4_096;
const MAX_CREDENTIALS: usize = 16;
const MAX_NUMBERS: usize = 100;
const MAX_ORIGINS: usize = 50;
/// Largest `config` (JSON text) a channel keeps.
const CONFIG_MAX_BYTES: usize = 16 * 1024;

/// Normalises a web origin: `scheme://host[:port]` with an http(s) scheme and
/// nothing after the authority (a trailing `/` is tolerated). Default ports
/// and letter case are normalised the way browsers send the `Origin` header.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let err = || "must be an origin such as https://www.example.com or http://localhost:3000";
    let url = reqwest::Url::parse(s.trim()).map_err(|_| err())?;
    let bare = url.path() == "/" || url.path().is_empty();
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || !bare
        || url.query().is_some()
        || url.fragment().is_some()
        || s.trim().trim_end_matches('/').matches('/').count() != 2
    {
        return Err(err().into());
    }
    Ok(url.origin().ascii_serialization())
}

/// Checks a credential's format where the provider documents one.
fn check_credential(kind: ChannelType, key: &str, value: &str) -> Result<(), String> {
    match (kind, key) {
        (ChannelType::Twilio, "account_sid") => {
            let ok = value.len() == 34
                && value.starts_with("AC")
                && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if ok {
                Ok(())
            } else {
                Err("must be a Twilio account SID: AC followed by 32 hex digits".into())
            }
        }
        (ChannelType::Exotel, "subdomain") | (ChannelType::Exotel, "sid") => {
            let ok = value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
            if ok {
                Ok(())
            } else {
                Err("may contain only letters, digits, '.', '-' and '_'".into())
            }
        }
        _ => Ok(()),
    }
}

/// Reads `credentials` of a request for channel type `kind`. `kept` names the
/// stored credentials that stay unless removed (empty on create).
pub fn parse_credentials(
    f: &mut Checks,
    credentials: Field<Map<String, Value>>,
    kind: Option<ChannelType>,
    kept: &BTreeSet<String>,
) -> CredentialChanges {
    let mut changes = CredentialChanges::default();
    match credentials {
        Field::Absent | Field::Null => {}
        Field::Value(map) => {
            if map.len() > MAX_CREDENTIALS {
                f.error(
                    "credentials",
                    format!("must have at most {MAX_CREDENTIALS} entries"),
                );
            }
            for (k, v) in &map {
                let field = format!("credentials.{k}");
                let key_ok = !k.is_empty()
                    && k.len() <= 64
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !key_ok {
                    f.error(
                        field,
                        "credential names are snake_case, at most 64 characters",
                    );
                    continue;
                }
                match v {
                    Value::Null => {
                        changes.remove.insert(k.clone());
                    }
                    // A read's mask of a stored credential, sent back: kept as it is.
                    Value::String(s) if s.starts_with(MASK) && kept.contains(k) => {}
                    Value::String(s) if !s.trim().is_empty() && s.len() <= CREDENTIAL_MAX => {
                        let s = s.trim();
                        if let Some(kind) = kind
                            && let Err(e) = check_credential(kind, k, s)
                        {
                            f.error(field, e);
                            continue;
                        }
                        changes.set.insert(k.clone(), s.to_owned());
                    }
                    _ => f.error(
                        field,
                        format!(
                            "must be a non-empty string of at most {CREDENTIAL_MAX} characters, or null to remove it"
                        ),
                    ),
                }
            }
        }
        Field::Invalid(_) => f.error(
            "credentials",
            "must be an object of credential name to value",
        ),
    }
    if let Some(kind) = kind {
        if !kind.is_carrier() && !changes.set.is_empty() {
            f.error(
                "credentials",
                format!("{} channels take no credentials", kind.as_str()),
            );
        }
        for key in kind.required_credentials() {
            let present = changes.set.contains_key(*key)
                || (kept.contains(*key) && !changes.remove.contains(*key));
            if !present {
                f.error(
                    format!("credentials.{key}"),
                    format!("is required for {} channels", kind.as_str()),
                );
            }
        }
    }
    changes
}

fn parse_web_config(f: &mut Checks, config: Map<String, Value>) -> Map<String, Value> {
    let mut web = WebConfig::default();
    let input: WebConfigInput = match from_json(Value::Object(config)) {
        Ok(input) => input,
        Err(e) => {
            f.error("config", e.to_string());
            return Map::new();
        }
    };
    let mut c = Checks::new();
    for key in input.unknown.keys() {
        c.error(
            key.clone(),
            "is not a web channel setting (allowed_origins, public, greeting, theme)",
        );
    }
    match input.allowed_origins {
        Field::Absent | Field::Null => {}
        Field::Value(list) if list.len() <= MAX_ORIGINS => {
            for (i, o) in list.iter().enumerate() {
                match o.as_str().map(parse_origin) {
                    Some(Ok(origin)) => {
                        if !web.allowed_origins.contains(&origin) {
                            web.allowed_origins.push(origin);
                        }
                    }
                    Some(Err(e)) => c.error(format!("allowed_origins.{i}"), e),
                    None => c.error(format!("allowed_origins.{i}"), "must be a string"),
                }
            }
        }
        Field::Value(_) | Field::Invalid(_) => c.error(
            "allowed_origins",
            format!("must be a list of at most {MAX_ORIGINS} origins"),
        ),
    }
    web.public = c.opt_bool("public", input.public).unwrap_or(false);
    web.greeting = c.opt_str("greeting", input.greeting, TEXT_MAX);
    match input.theme {
        Field::Absent | Field::Null => {}
        Field::Value(t) => web.theme = Some(Value::Object(t)),
        Field::Invalid(_) => c.error("theme", "must be an object"),
    }
    if web.public && web.allowed_origins.is_empty() {
        // Public with no origin would let no page in: say so now.
        c.error(
            "allowed_origins",
            "a public web channel needs at least one allowed origin",
        );
    }
    for (k, v) in c.into_errors() {
        f.error(format!("config.{k}"), v);
    }
    match serde_json::to_value(&web) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Keys a channel body may echo back from a read without a 422: the
/// stored fields a body does not write. They are not changed by a body.
pub const ECHOED: [&str; 3] = ["id", "created_at", "updated_at"];

/// The channel fields a client may write, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    name: String,
    kind: ChannelType,
    credentials: CredentialChanges,
    phone_numbers: Vec<E164>,
    default_agent_id: Option<String>,
    config: Map<String, Value>,
}

impl ChannelSpec {
    /// Checks a create body (or a stored channel with a PATCH laid over it,
    /// see [`Channel::patched`]). `kept` names the stored credentials
    /// that stay unless the body removes them. Every bad field is reported.
    pub fn parse(body: ChannelPatch, kept: &BTreeSet<String>) -> Result<Self, Error> {
        let mut f = Checks::new();
        f.unknown_except(body.unknown.keys(), &ECHOED, "is not a channel field");
        let name = f.req_str("name", body.name, NAME_MAX);
        let kind = f.req_parsed("type", body.kind, |s| {
            ChannelType::parse(s).ok_or_else(|| {
                "must be one of twilio, plivo, telnyx, vonage, exotel, web, sim".to_owned()
            })
        });
        let credentials = parse_credentials(&mut f, body.credentials, kind, kept);
        let mut phone_numbers = Vec::new();
        match body.phone_numbers {
            Field::Absent | Field::Null => {}
            Field::Value(list) if list.len() <= MAX_NUMBERS => {
                for (i, n) in list.iter().enumerate() {
                    match n.as_str().map(E164::parse) {
                        Some(Ok(n)) if phone_numbers.contains(&n) => {
                            f.error(format!("phone_numbers.{i}"), "is listed twice")
                        }
                        Some(Ok(n)) => phone_numbers.push(n),
                        Some(Err(e)) => f.error(format!("phone_numbers.{i}"), e),
                        None => f.error(format!("phone_numbers.{i}"), "must be a string"),
                    }
                }
            }
            Field::Value(_) | Field::Invalid(_) => f.error(
                "phone_numbers",
                format!("must be a list of at most {MAX_NUMBERS} E.164 numbers"),
            ),
        }
        if kind == Some(ChannelType::Web) && !phone_numbers.is_empty() {
            f.error("phone_numbers", "web channels have no phone numbers");
        }
        let default_agent_id = f.opt_parsed("default_agent_id", body.default_agent_id, |s| {
            if super::is_id(s) {
                Ok(s.to_owned())
            } else {
                Err("must be an agent id".into())
            }
        });
        let config = match body.config {
            Field::Absent | Field::Null => Map::new(),
            Field::Value(m) => m,
            Field::Invalid(_) => {
                f.error("config", "must be an object");
                Map::new()
            }
        };
        let config = if kind == Some(ChannelType::Web) {
            parse_web_config(&mut f, config)
        } else {
            if Value::Object(config.clone()).to_string().len() > CONFIG_MAX_BYTES {
                f.error(
                    "config",
                    format!("must be at most {} KB of JSON", CONFIG_MAX_BYTES / 1024),
                );
            }
            config
        };
        f.finish()?;
        let (Some(name), Some(kind)) = (name, kind) else {
            return Err(Error::Internal(
                "required channel fields missing after validation".into(),
            ));
        };
        Ok(Self {
            name,
            kind,
            credentials,
            phone_numbers,
            default_agent_id,
            config,
        })
    }

    /// The channel type.
    pub fn kind(&self) -> ChannelType {
        self.kind
    }

    /// The agent the spec points at, to check that it exists.
    pub fn default_agent_id(&self) -> Option<&str> {
        self.default_agent_id.as_deref()
    }

    /// Builds the stored channel; `kept` are the stored sealed credentials
    /// that carry over (empty on create).
    pub fn into_channel(
        self,
        id: String,
        kept: &BTreeMap<String, Sealed>,
        cipher: &Cipher,
        created_at: String,
        updated_at: String,
    ) -> Channel {
        Channel {
            id,
            name: self.name,
            kind: self.kind,
            credentials: self.credentials.apply(kept, cipher),
            phone_numbers: self.phone_numbers,
            default_agent_id: self.default_agent_id,
            config: self.config,
            created_at,
            updated_at,
        }
    }
}
