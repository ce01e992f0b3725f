//! Which IP addresses an outbound request may reach: only public unicast ones.
//!
//! The rules are written as "refuse unless plainly public": for IPv6 only the global
//! unicast block `2000::/3` is considered at all, and within IPv4 and that block every
//! special-purpose range (IANA's registries) is refused. Addresses that embed an IPv4
//! address (mapped, compatible, NAT64, 6to4) are judged by what they embed, or refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` must not be reached, or `None` when it is a public unicast address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// Whether the address can never be a unicast destination (even on a development machine
/// that allows private addresses).
pub fn never_a_destination(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    // (network, prefix, reason), most common first.
    const RANGES: &[([u8; 4], u32, &str)] = &[
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 168, 0, 0], 16, "a private address"),
        (
            [169, 254, 0, 0],
            16,
            "a link-local address (cloud metadata lives here)",
        ),
        ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
        ([0, 0, 0, 0], 8, "an unspecified (\"this network\") address"),
        ([192, 0, 0, 0], 24, "an IETF protocol address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([192, 88, 99, 0], 24, "a deprecated relay address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved or broadcast address"),
    ];
    RANGES
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, reason)| *reason)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("an unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible): no resolver hands these out for
    // a public service; refuse them outright rather than trust the embedded address.
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
        return Some("an IPv4-mapped or IPv4-compatible IPv6 address");
    }
    // 64:ff9b::/96, the well-known NAT64 prefix: judged by the IPv4 address it carries.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return forbidden_v4(v4).map(|_| "a NAT64 address of a non-public IPv4 address");
    }
    if s[0] & 0xfe00 == 0xfc00 {
        return Some("a unique-local address");
    }
    if s[0] & 0xffc0 == 0xfe80 {
        return Some("a link-local address");
    }
    if s[0] & 0xffc0 == 0xfec0 {
        return Some("a site-local address");
    }
    if s[0] & 0xff00 == 0xff00 {
        return Some("a multicast address");
    }
    // Everything else outside 2000::/3 (global unicast) is reserved or special.
    if s[0] & 0xe000 != 0x2000 {
        return Some("a reserved IPv6 address");
    }
    if s[0] == 0x2001 && s[1] == 0x0db8 {
        return Some("a documentation address");
    }
    if s[0] == 0x3fff && s[1] & 0xf000 == 0 {
        return Some("a documentation address");
    }
    // 2001::/23 holds Teredo (2001::/32, which hides an IPv4 address), ORCHID and other
    // IETF assignments; none is a web server.
    if s[0] == 0x2001 && s[1] < 0x0200 {
        return Some("an IETF special-purpose IPv6 address");
    }
    // 2002::/16, 6to4: judged by the IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return forbidden_v4(v4).map(|_| "a 6to4 address of a non-public IPv4 address");
    }
    None
}
