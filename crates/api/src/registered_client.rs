//! The one registered client, the desktop app, and the rules its requests must meet:
//! where codes may be sent (RFC 8252 native-app redirects) and PKCE with S256 (RFC 7636),
//! and how answers are sent back to it.

use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use url::{Host, Url};

use crate::oauth_error::ErrorCode;
use crate::pages;

/// The desktop app: a public client, so it has no secret and must use PKCE.
pub const DESKTOP_CLIENT_ID: &str = "superset-desktop";

/// How the sign-in page names it to the person consenting.
pub const DESKTOP_CLIENT_NAME: &str = "Superset desktop";

/// The desktop's custom-scheme redirect, for platforms where it registers one.
const CUSTOM_SCHEME_REDIRECT: &str = "superset://auth/callback";

pub fn is_known_client(client_id: &str) -> bool {
    client_id == DESKTOP_CLIENT_ID
}

/// Whether codes may be sent to `uri`: a loopback IP literal over http with any port
/// and path (RFC 8252 §7.3; the name `localhost` is refused, §8.3, since it can
/// resolve elsewhere), or the desktop's custom scheme. Returns why not.
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri == CUSTOM_SCHEME_REDIRECT {
        return Ok(());
    }
    let url = Url::parse(uri).map_err(|_| "redirect_uri is not a valid URL")?;
    if url.scheme() != "http" {
        return Err(
            "redirect_uri must be http://127.0.0.1:PORT/..., http://[::1]:PORT/... or superset://auth/callback",
        );
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback() && ip.octets() == [127, 0, 0, 1],
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    if !loopback {
        return Err("redirect_uri must be a loopback address (127.0.0.1 or [::1]), not a host name");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("redirect_uri must not carry credentials");
    }
    if url.fragment().is_some() {
        return Err("redirect_uri must not have a fragment");
    }
    Ok(())
}

/// An S256 code challenge: the base64url SHA-256 of a verifier, 43 characters.
pub fn is_valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && URL_SAFE_NO_PAD.decode(challenge).is_ok_and(|d| d.len() == 32)
}

/// RFC 7636 §4.1: 43 to 128 characters from `[A-Z] [a-z] [0-9] - . _ ~`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` is the one `challenge` was made from, compared in constant time.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    constant_time_eq(&computed, challenge)
}

/// Compares two secrets without stopping at the first differing byte, so response
/// times do not reveal how much of a guess was right.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sends the browser to the client's redirect URI with `answer` added to its query.
/// The URI has been checked when the request came in.
pub fn redirect_to_client(redirect_uri: &str, answer: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            Some(ErrorCode::InvalidRequest.as_str()),
            "The redirect_uri is not valid.",
        );
    };
    url.query_pairs_mut().extend_pairs(answer);
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return pages::error(
            StatusCode::BAD_REQUEST,
            Some(ErrorCode::InvalidRequest.as_str()),
            "The redirect_uri is not valid.",
        );
    };
    (StatusCode::SEE_OTHER, [(LOCATION, location), (CACHE_CONTROL, HeaderValue::from_static("no-store"))])
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_custom_scheme_redirects_are_accepted() {
        assert!(check_redirect_uri("http://127.0.0.1:49152/callback").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1/").is_ok());
        assert!(check_redirect_uri("http://[::1]:8080/cb?x=1").is_ok());
        assert!(check_redirect_uri("superset://auth/callback").is_ok());
    }

    #[test]
    fn other_redirects_are_refused() {
        for uri in [
            "http://localhost:8080/cb",
            "https://127.0.0.1:8080/cb",
            "http://127.0.0.2:8080/cb",
            "http://evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://user@127.0.0.1:8080/cb",
            "http://127.0.0.1:8080/cb#frag",
            "superset://auth/other",
            "superset://evil/callback",
            "javascript:alert(1)",
            "",
        ] {
            assert!(check_redirect_uri(uri).is_err(), "{uri} was accepted");
        }
    }

    #[test]
    fn pkce_s256_round_trip() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_valid_verifier(verifier));
        assert!(is_valid_challenge(challenge));
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", challenge));
        assert!(!is_valid_verifier("short"));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_challenge(verifier.trim_end_matches('k')));
    }
}
