use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new session token: 32 bytes from the OS's CSPRNG, base64url without padding.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The part of a bearer value that is stored in `auth.sessions.token`.
///
/// better-auth hands clients `<token>.<base64 HMAC>` while storing only `<token>`; the
/// signature adds nothing once the token itself is looked up, so it is cut off here
/// and no signing secret is needed. Our own tokens are base64url and contain no `.`.
pub fn lookup_part(bearer: &str) -> &str {
    bearer.rsplit_once('.').map_or(bearer, |(token, _)| token)
}

/// SHA-256 of a token: the key under which caches hold it and the payload of session
/// change notifications, so the token itself never has to be kept or sent.
pub type TokenDigest = [u8; 32];

pub fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_char_base64url_and_distinct() {
        let a = generate_token();
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, generate_token());
    }

    #[test]
    fn signed_form_is_looked_up_by_the_part_before_the_last_dot() {
        assert_eq!(lookup_part("abc.c2lnbmF0dXJl"), "abc");
        assert_eq!(lookup_part("a.b.sig"), "a.b");
        assert_eq!(lookup_part("plain"), "plain");
    }
}
