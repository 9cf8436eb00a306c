//! Which IP addresses a webhook may target.
//!
//! Used twice: when a webhook URL names a literal address (checked by
//! [`WebhookUrl::parse`](crate::webhook::WebhookUrl::parse)), and by the sender after DNS
//! resolution, so a public name that resolves to a private address is refused at delivery
//! time too. Both go through [`is_public_ip`], so the two checks cannot drift apart.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// True when `ip` is a publicly routable unicast address: not private, loopback, link-local,
/// CGNAT (100.64/10), multicast, unspecified, broadcast, documentation, benchmarking or
/// otherwise reserved. IPv6 addresses that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the address they embed.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_ipv4(v4),
        IpAddr::V6(v6) => is_public_ipv6(v6),
    }
}

/// `(network, prefix length)` blocks of IPv4 space that are never a webhook target.
const REFUSED_V4: &[(u32, u32)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network", includes unspecified
    (0x0a00_0000, 8),  // 10/8 private
    (0x6440_0000, 10), // 100.64/10 carrier-grade NAT
    (0x7f00_0000, 8),  // 127/8 loopback
    (0xa9fe_0000, 16), // 169.254/16 link-local (and cloud metadata endpoints)
    (0xac10_0000, 12), // 172.16/12 private
    (0xc000_0000, 24), // 192.0.0/24 IETF protocol assignments
    (0xc000_0200, 24), // 192.0.2/24 documentation (TEST-NET-1)
    (0xc058_6300, 24), // 192.88.99/24 deprecated 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168/16 private
    (0xc612_0000, 15), // 198.18/15 benchmarking
    (0xc633_6400, 24), // 198.51.100/24 documentation (TEST-NET-2)
    (0xcb00_7100, 24), // 203.0.113/24 documentation (TEST-NET-3)
    (0xe000_0000, 4),  // 224/4 multicast
    (0xf000_0000, 4),  // 240/4 reserved, includes 255.255.255.255 broadcast
];

fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !REFUSED_V4.iter().any(|&(network, len)| bits >> (32 - len) == network >> (32 - len))
}

fn in_v6(bits: u128, network: u128, len: u32) -> bool {
    bits >> (128 - len) == network >> (128 - len)
}

fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    // Addresses that carry an IPv4 address are as public as that address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_ipv4(v4);
    }
    if in_v6(bits, 0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96) {
        return is_public_ipv4(Ipv4Addr::from(bits as u32));
    }
    if in_v6(bits, 0x2002_0000_0000_0000_0000_0000_0000_0000, 16) {
        return is_public_ipv4(Ipv4Addr::from((bits >> 80) as u32));
    }
    // Only 2000::/3 is global unicast; that alone refuses ::/96 (unspecified, loopback,
    // IPv4-compatible), 100::/64 discard, fc00::/7 unique-local, fe80::/10 link-local,
    // fec0::/10 site-local and ff00::/8 multicast.
    in_v6(bits, 0x2000_0000_0000_0000_0000_0000_0000_0000, 3)
        && !in_v6(bits, 0x2001_0000_0000_0000_0000_0000_0000_0000, 23) // IETF protocol assignments, Teredo, benchmarking
        && !in_v6(bits, 0x2001_0db8_0000_0000_0000_0000_0000_0000, 32) // documentation
        && !in_v6(bits, 0x3fff_0000_0000_0000_0000_0000_0000_0000, 20) // documentation (RFC 9637)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public_ip(text.parse().expect("test address"))
    }

    #[test]
    fn refuses_every_non_public_ipv4_class() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!public(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn accepts_public_ipv4_including_neighbours_of_refused_blocks() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert!(public(ip), "{ip} should be accepted");
        }
    }

    #[test]
    fn refuses_every_non_public_ipv6_class() {
        for ip in [
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
        ] {
            assert!(!public(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn accepts_public_ipv6_and_embedded_public_ipv4() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(public(ip), "{ip} should be accepted");
        }
    }
}
