//! Plain domain types: values that cannot hold invalid data once parsed, and
//! the resources' shapes. No I/O here.

pub mod agent;
pub mod automation;
pub mod call;
pub mod campaign;
pub mod channel;
pub mod contact;
pub mod conversation;
pub mod dtmf;
pub mod fields;
pub mod flow;
pub mod identity;
pub mod input;
pub mod knowledge;
pub mod mcp;
pub mod shape;
pub mod task;
pub mod tool;
pub mod webhook;

use serde::{Deserialize, Serialize};

/// Which data partition of an org a request works in (SPEC `?mode=test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Real data.
    #[default]
    Live,
    /// The org's sandbox: seeded demo data, simulated carrier, offline AI.
    Test,
}

impl Mode {
    /// Parses the `mode` query parameter.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "live" => Some(Mode::Live),
            "test" => Some(Mode::Test),
            _ => None,
        }
    }
}

/// The data partition a request acts on: an org and a mode. Every tenant-owned
/// key starts with [`Tenant::pk`], so isolation is structural, not a filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant {
    /// The organization.
    pub org_id: String,
    /// Live or test partition.
    pub mode: Mode,
}

impl Tenant {
    /// The tenant's partition key prefix: `T#<org>#L` or `T#<org>#T`.
    pub fn pk(&self) -> String {
        let m = match self.mode {
            Mode::Live => 'L',
            Mode::Test => 'T',
        };
        format!("T#{}#{m}", self.org_id)
    }

    /// The tenant's blob key prefix: `<org>/live/` or `<org>/test/`.
    pub fn blob_prefix(&self) -> String {
        let m = match self.mode {
            Mode::Live => "live",
            Mode::Test => "test",
        };
        format!("{}/{m}/", self.org_id)
    }
}

/// A user's role in an org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users, keys and settings.
    Admin,
    /// A human inbox agent: works conversations, cannot administer.
    Agent,
}

impl Role {
    /// Parses `admin` / `agent`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// An e-mail address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` shapes (deliverability is not ours to judge).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_lowercase();
        let valid = s.len() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
                    && domain
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
                    && !domain.contains('@')
            });
        if valid {
            Ok(Self(s))
        } else {
            Err("must be a valid e-mail address".into())
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number in E.164 form (`+` and 7–15 digits, no leading zero).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct E164(String);

impl E164 {
    /// Parses `^\+[1-9][0-9]{6,14}$`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix('+').unwrap_or("");
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err("must be an E.164 phone number such as +14155550123".into())
        }
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Now, as an RFC 3339 UTC string with millisecond precision.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// True for a snake_case identifier of at most 64 characters (`a-z`, `0-9`,
/// `_`, starting with a letter): extraction fields, tool names.
pub fn is_snake_case(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks an absolute `http`/`https` URL with a host. `{{variable}}`
/// placeholders (templated tool URLs) are allowed anywhere and count as text.
pub fn parse_http_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let filled = s.replace("{{", "x").replace("}}", "x");
    let ok = s.len() <= 2048
        && reqwest::Url::parse(&filled).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be an absolute http:// or https:// URL".into())
    }
}

/// True when `s` is a canonical UUID (the shape of every Switchboard id).
pub fn is_id(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_only_the_spec_shape() {
        for ok in ["+14155550123", "+442071234567", "+1234567"] {
            assert!(E164::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "14155550123",
            "+0123456789",
            "+123",
            "+1415555012345678",
            "+1 415 555",
            "",
            "+",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.com",
            "ada@x",
            "a b@x.com",
            "ada@x..com@y.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tenant_partitions_differ_by_mode() {
        let live = Tenant {
            org_id: "o1".into(),
            mode: Mode::Live,
        };
        let test = Tenant {
            org_id: "o1".into(),
            mode: Mode::Test,
        };
        assert_ne!(live.pk(), test.pk());
        assert!(
            !test.pk().starts_with(&live.pk()),
            "one partition must not be a prefix of the other"
        );
    }
}
