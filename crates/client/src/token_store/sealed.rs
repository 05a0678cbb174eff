//! The token file's format: a header naming the format, then AES-256-GCM.
//!
//! ```text
//! "SSTK" | version (1 byte) | key kind (1 byte) | nonce (12 bytes) | ciphertext + 16-byte tag
//! ```
//!
//! The key kind says where the key was kept when the file was sealed, so that a key
//! file deleted on a headless machine (the token is lost) is told apart from a keyring
//! that is only unreachable for now (the token comes back with it). The header is
//! authenticated as associated data: a changed header byte fails to open instead of
//! being read under the wrong rules. A later format gets a new version byte; readers
//! refuse versions they do not know.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"SSTK";
const VERSION: u8 = 1;
const HEADER_LEN: usize = MAGIC.len() + 2;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A 256-bit AES key, wiped from memory when dropped.
pub type Key = Zeroizing<[u8; 32]>;

/// Where the key that sealed a file was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Keyring = 1,
    File = 2,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not a Superset token file (too short or wrong magic bytes)")]
    NotATokenFile,
    #[error("token file format version {0} is not supported by this build")]
    UnknownVersion(u8),
    #[error("the token file does not decrypt: tampered with, or sealed under another key")]
    Undecryptable,
}

pub fn new_key() -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}

/// Encrypts `plaintext` under `key` (kept as `kind` says) with a fresh random nonce.
pub fn seal(key: &Key, kind: KeyKind, plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let header = header(kind);
    let ciphertext = cipher(key)
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &header })
        .expect("AES-GCM encryption of a small buffer cannot fail");
    [&header[..], &nonce, &ciphertext].concat()
}

/// Checks the header and decrypts. Any damage to any byte is an error.
pub fn open(key: &Key, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    key_kind(sealed)?;
    if sealed.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(OpenError::NotATokenFile);
    }
    let (header, rest) = sealed.split_at(HEADER_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    cipher(key)
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: header })
        .map(Zeroizing::new)
        .map_err(|_| OpenError::Undecryptable)
}

/// Where the key of a file this build can read was kept, read from its (not yet
/// authenticated) header, so the store knows where to look for the key.
pub fn key_kind(sealed: &[u8]) -> Result<KeyKind, OpenError> {
    if sealed.len() < HEADER_LEN || &sealed[..MAGIC.len()] != MAGIC {
        return Err(OpenError::NotATokenFile);
    }
    match (sealed[MAGIC.len()], sealed[MAGIC.len() + 1]) {
        (VERSION, 1) => Ok(KeyKind::Keyring),
        (VERSION, 2) => Ok(KeyKind::File),
        (VERSION, _) => Err(OpenError::NotATokenFile),
        (other, _) => Err(OpenError::UnknownVersion(other)),
    }
}

fn header(kind: KeyKind) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..MAGIC.len()].copy_from_slice(MAGIC);
    h[MAGIC.len()] = VERSION;
    h[MAGIC.len() + 1] = kind as u8;
    h
}

fn cipher(key: &Key) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(key.as_ref()).expect("a 32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_uses_a_new_nonce_each_time() {
        let key = new_key();
        let a = seal(&key, KeyKind::File, b"secret");
        let b = seal(&key, KeyKind::File, b"secret");
        assert_ne!(a, b, "two seals of the same text must differ (fresh nonce)");
        assert_eq!(&open(&key, &a).unwrap()[..], b"secret");
        assert_eq!(&open(&key, &b).unwrap()[..], b"secret");
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let key = new_key();
        let sealed = seal(&key, KeyKind::File, b"{\"token\":\"abc\"}");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&key, &bad).is_err(), "flipping byte {i} went unnoticed");
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let key = new_key();
        let sealed = seal(&key, KeyKind::File, b"{\"token\":\"abc\"}");
        for len in 0..sealed.len() {
            assert!(open(&key, &sealed[..len]).is_err(), "truncation to {len} bytes went unnoticed");
        }
    }

    #[test]
    fn another_key_does_not_open_it() {
        let sealed = seal(&new_key(), KeyKind::Keyring, b"secret");
        assert_eq!(open(&new_key(), &sealed), Err(OpenError::Undecryptable));
    }

    #[test]
    fn unknown_versions_are_refused_by_name() {
        let key = new_key();
        let mut sealed = seal(&key, KeyKind::File, b"secret");
        sealed[4] = 9;
        assert_eq!(open(&key, &sealed), Err(OpenError::UnknownVersion(9)));
    }

    #[test]
    fn the_header_says_where_the_key_is() {
        let key = new_key();
        assert_eq!(key_kind(&seal(&key, KeyKind::Keyring, b"x")), Ok(KeyKind::Keyring));
        assert_eq!(key_kind(&seal(&key, KeyKind::File, b"x")), Ok(KeyKind::File));
    }
}
