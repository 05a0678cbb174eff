//! Which address a request comes from, and which addresses count as one client for
//! the per-client limits.
//!
//! Behind a load balancer every connection comes from the balancer; its
//! `X-Forwarded-For` names the client. The header is believed only from the proxies the
//! operator listed, so nobody can pick their own address to escape a limit.

use std::net::{IpAddr, Ipv6Addr};

use http::HeaderMap;
use ipnet::IpNet;

/// The nearest address in the `X-Forwarded-For` chain that is not a trusted proxy;
/// `peer` itself when it is not trusted (or the header is absent or unreadable).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Each proxy appends the address it received the request from: read right to left.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        nearest = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    nearest
}

/// One entry of a trusted-proxies setting: an address or a CIDR range.
pub fn parse_trusted_proxy(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is neither an IP address nor a CIDR range"))
}

/// The group `ip` is counted in: an IPv4 address by itself (an IPv4-mapped IPv6
/// address too), an IPv6 address with its /64, since one host or household is
/// routinely given a whole /64 and can pick any address in it.
pub fn client_group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers(&["1.2.3.4"]);
        assert_eq!(client_address(ip("203.0.113.9"), &spoofed, &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.2"), &spoofed, &[]), ip("10.0.0.2"), "nothing trusted by default");
        assert_eq!(client_address(ip("10.0.0.2"), &spoofed, &trusted), ip("1.2.3.4"));
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "192.0.2.7/32".parse().unwrap()];
        // The client wrote its own first entry; the proxies added the rest.
        let chain = headers(&["6.6.6.6, 198.51.100.4", "192.0.2.7"]);
        assert_eq!(client_address(ip("10.1.1.1"), &chain, &trusted), ip("198.51.100.4"));
        assert_eq!(client_address(ip("10.1.1.1"), &headers(&["garbage, 10.2.2.2"]), &trusted), ip("10.2.2.2"));
        assert_eq!(client_address(ip("10.1.1.1"), &HeaderMap::new(), &trusted), ip("10.1.1.1"));
        assert_eq!(client_address(ip("10.1.1.1"), &headers(&["2001:db8::1"]), &trusted), ip("2001:db8::1"));
    }

    #[test]
    fn ipv6_counts_by_its_64_and_ipv4_by_itself() {
        assert_eq!(client_group(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_group(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), ip("2001:db8:1:2::"));
        assert_ne!(client_group(ip("2001:db8:1:3::1")), client_group(ip("2001:db8:1:2::1")));
        assert_eq!(client_group(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_group(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
