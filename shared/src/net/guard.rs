//! The rules every outbound URL and address is held to, and the DNS resolver that applies
//! them at connect time (so the addresses checked are the addresses connected to).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use ipnet::IpNet;
use reqwest;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};

use super::NetError;
use super::address::{forbidden_reason, never_a_destination};

/// Exceptions to the outbound rules, for development and tests only (production leaves it
/// empty): reaching a local double on 127.0.0.1, or a private staging network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardConfig {
    /// Host names (`mock.internal`, `localhost`), addresses (`127.0.0.1`) or networks
    /// (`127.0.0.0/8`, `fd00::/8`) that may be reached although they are not public.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Lets every private, loopback and link-local address through (never unspecified,
    /// multicast or broadcast ones). Meant for a developer's own machine.
    #[serde(default)]
    pub allow_private: bool,
}

impl GuardConfig {
    /// Reads a comma-separated allow-list (`"127.0.0.1, mock.internal, 10.0.0.0/8"`), the
    /// form an environment variable holds; empty entries are skipped.
    pub fn from_list(list: &str, allow_private: bool) -> GuardConfig {
        GuardConfig {
            allow_hosts: list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            allow_private,
        }
    }
}

/// Host names that name internal services whatever they resolve to.
const BLOCKED_NAMES: &[&str] = &[
    "localhost",
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "metadata.azure.com",
    "instance-data",
    "instance-data.ec2.internal",
];

/// The parsed form of a [`GuardConfig`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Guard {
    names: Vec<String>,
    nets: Vec<IpNet>,
    allow_private: bool,
}

fn normalise_host(host: &str) -> String {
    host.trim()
        .trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl Guard {
    pub(crate) fn new(config: &GuardConfig) -> Result<Guard, NetError> {
        let mut guard = Guard {
            allow_private: config.allow_private,
            ..Guard::default()
        };
        for entry in &config.allow_hosts {
            let entry = normalise_host(entry);
            if entry.is_empty() {
                return Err(NetError::InvalidUrl(
                    "an allowed host must not be empty".into(),
                ));
            }
            if let Ok(net) = entry.parse::<IpNet>() {
                guard.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                guard.nets.push(IpNet::from(ip));
            } else if entry.contains('/') || entry.contains(':') {
                return Err(NetError::InvalidUrl(format!(
                    "{entry} is neither a host name, an address nor a network"
                )));
            } else {
                guard.names.push(entry);
            }
        }
        Ok(guard)
    }

    fn name_allowed(&self, host: &str) -> bool {
        self.names.iter().any(|n| n == host)
    }

    /// Checks one address a request would connect to.
    pub(crate) fn check_ip(&self, ip: IpAddr) -> Result<(), NetError> {
        if self.nets.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        if self.allow_private && !never_a_destination(ip) {
            return Ok(());
        }
        match forbidden_reason(ip) {
            Some(reason) => Err(NetError::Blocked {
                reason: format!("{ip} is {reason}"),
            }),
            None => Ok(()),
        }
    }

    /// Checks a URL before anything is sent: the scheme, a literal IP address (in whatever
    /// notation the URL parser accepted: `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]` all
    /// arrive here as addresses), and host names that are internal by definition. Returns
    /// the host name still to be resolved, if the host is a name.
    pub(crate) fn check_url(&self, url: &Url) -> Result<Option<String>, NetError> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(NetError::Blocked {
                    reason: format!("the scheme {other}: is not allowed (only http and https)"),
                });
            }
        }
        match url.host() {
            None => Err(NetError::InvalidUrl("the URL has no host".into())),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)).map(|()| None),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)).map(|()| None),
            Some(url::Host::Domain(name)) => {
                let name = normalise_host(name);
                // A name that is itself an address would be caught by the URL parser for
                // http(s); this is a second line for anything it lets through.
                if let Ok(ip) = name.parse::<IpAddr>() {
                    return self.check_ip(ip).map(|()| None);
                }
                if self.name_allowed(&name) || self.allow_private {
                    return Ok(Some(name));
                }
                let internal = BLOCKED_NAMES.contains(&name.as_str())
                    || name.ends_with(".localhost")
                    || name.ends_with(".internal")
                    || name.ends_with(".local");
                if internal {
                    return Err(NetError::Blocked {
                        reason: format!("the host {name} is an internal name"),
                    });
                }
                Ok(Some(name))
            }
        }
    }

    /// Checks every address a name resolved to; one bad address refuses the lot, so a
    /// resolver cannot slip a private address in beside a public one.
    pub(crate) fn check_resolved(&self, name: &str, addrs: &[IpAddr]) -> Result<(), NetError> {
        if self.name_allowed(&normalise_host(name)) {
            return Ok(());
        }
        if addrs.is_empty() {
            return Err(NetError::Http(format!(
                "{name} did not resolve to any address"
            )));
        }
        for ip in addrs {
            self.check_ip(*ip).map_err(|e| match e {
                // The address stays in the server's debug log: told to a tenant (tool
                // tests, document errors) it would map the internal network by DNS.
                NetError::Blocked { reason } => {
                    tracing::debug!(host = name, %reason, "outbound request refused: the name resolves to a forbidden address");
                    NetError::Blocked {
                        reason: format!("the destination {name} is not allowed"),
                    }
                }
                other => other,
            })?;
        }
        Ok(())
    }
}

/// Turns host names into addresses. The system resolver in production; tests inject a
/// fixed table so `evil.example` can "resolve" to 127.0.0.1 without a network.
#[async_trait]
pub trait HostResolver: Send + Sync {
    /// Every address `host` resolves to.
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver (`getaddrinfo` through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl HostResolver for SystemResolver {
    async fn resolve(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        let addrs = tokio::net::lookup_host((host, 0)).await?;
        Ok(addrs.map(|a| a.ip()).collect())
    }
}

/// The resolver reqwest connects through: resolves once, checks every address, and hands
/// reqwest only checked addresses.
pub(crate) struct CheckingResolver {
    pub(crate) guard: Arc<Guard>,
    pub(crate) inner: Arc<dyn HostResolver>,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let ips = inner
                .resolve(&host)
                .await
                .map_err(|e| NetError::Http(format!("could not resolve {host}: {e}")))?;
            guard.check_resolved(&host, &ips)?;
            let addrs: Addrs = Box::new(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}
