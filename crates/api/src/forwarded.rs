//! Which address a request comes from. Behind a load balancer every connection comes
//! from the balancer; its `X-Forwarded-For` names the client. The header is believed
//! only from the proxies the operator listed (`API_TRUSTED_PROXIES`), so nobody can
//! pick their own address to escape the rate limit.

use std::net::IpAddr;

use axum::http::HeaderMap;
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
}
