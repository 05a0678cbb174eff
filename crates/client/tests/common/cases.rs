//! Token-store behaviour that must hold wherever the key lives: run once with the key
//! file (tests/token_store.rs) and once with a real Secret Service (tests/keyring.rs).

use std::fs;
use std::sync::Barrier;
use std::thread;

use chrono::{Duration, SubsecRound, Utc};
use rand::{Rng, RngCore};
use superset_client::token_store::writer_lock::LOCK_FILE;
use superset_client::token_store::KeyLocation;
use superset_client::{StoredToken, TokenStore};

use super::{delete_key, mode, CapturedLogs};

fn random_token() -> String {
    let bytes: [u8; 24] = rand::thread_rng().gen();
    format!("tok_{}", hex::encode(bytes))
}

fn fresh_store() -> (tempfile::TempDir, TokenStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path().join("home"));
    (dir, store)
}

fn save_random(store: &TokenStore) -> String {
    let token = random_token();
    store.save(&StoredToken::new(token.clone(), Some(Utc::now() + Duration::days(30)))).unwrap();
    token
}

pub fn round_trip() {
    let (_dir, store) = fresh_store();
    assert!(store.load().is_none(), "a new home is signed out");
    let expires = (Utc::now() + Duration::days(30)).trunc_subsecs(3);
    let token = random_token();
    store.save(&StoredToken::new(token.clone(), Some(expires))).unwrap();

    let again = TokenStore::new(store.home());
    let loaded = again.load().expect("signed in");
    assert_eq!(loaded.secret(), token);
    assert_eq!(loaded.expires_at, Some(expires));
    assert!(!format!("{loaded:?}").contains(&token), "Debug must not print the token");

    let second = save_random(&store);
    assert_eq!(again.load().unwrap().secret(), second, "a save replaces the token");
    store.clear().unwrap();
    assert!(again.load().is_none());
    assert!(!store.path().exists());
    store.clear().expect("clearing twice is fine");
}

pub fn expired_tokens_still_load() {
    let (_dir, store) = fresh_store();
    store.save(&StoredToken::new("old", Some(Utc::now() - Duration::days(3)))).unwrap();
    assert_eq!(store.load().expect("the server's 401 decides, not the clock").secret(), "old");
}

pub fn private_modes() {
    let (_dir, store) = fresh_store();
    fs::create_dir_all(store.home()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(store.home(), fs::Permissions::from_mode(0o755)).unwrap();
    save_random(&store);
    assert_eq!(mode(store.home()), 0o700, "home directory");
    assert_eq!(mode(&store.path()), 0o600, "token file");
    assert_eq!(mode(&store.home().join(LOCK_FILE)), 0o600, "writer lock file");
    if let KeyLocation::File(key) = store.key_location() {
        assert_eq!(mode(&key), 0o600, "key file");
    }
    save_random(&store);
    assert_eq!(mode(&store.path()), 0o600, "token file after a rewrite");
}

pub fn never_in_clear() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let (_dir, store) = fresh_store();
    let token = save_random(&store);
    let first = fs::read(store.path()).unwrap();
    for form in [token.clone(), STANDARD.encode(&token), URL_SAFE_NO_PAD.encode(&token), hex::encode(&token)] {
        assert!(!contains(&first, form.as_bytes()), "the file holds the token as {form}");
    }
    assert!(!contains(&first, b"expiresAt"), "the file holds the plaintext JSON");
    store.save(&StoredToken::new(token.clone(), None)).unwrap();
    store.save(&StoredToken::new(token, None)).unwrap();
    assert_ne!(fs::read(store.path()).unwrap(), first, "each write uses a new nonce");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Flips one byte in each region of the file (magic, version, nonce, ciphertext, tag).
pub fn tampered_byte_signs_out() {
    let (_dir, store) = fresh_store();
    save_random(&store);
    let len = fs::read(store.path()).unwrap().len();
    for at in [0, 4, 5, 16, len / 2, len - 1] {
        let (logs, _guard) = CapturedLogs::start();
        save_random(&store);
        let mut bytes = fs::read(store.path()).unwrap();
        bytes[at] ^= 0x20;
        fs::write(store.path(), &bytes).unwrap();
        assert!(store.load().is_none(), "byte {at} flipped and still signed in");
        assert!(store.load().is_none());
        assert_eq!(logs.count("WARN"), 1, "one warning for byte {at}, got:\n{}", logs.text());
        assert!(!store.path().exists(), "the useless file is removed");
    }
    let token = save_random(&store);
    assert_eq!(store.load().unwrap().secret(), token, "signing in again works");
}

pub fn truncated_file_signs_out() {
    let (_dir, store) = fresh_store();
    for keep in [0usize, 3, 5, 17, 33] {
        save_random(&store);
        let bytes = fs::read(store.path()).unwrap();
        fs::write(store.path(), &bytes[..keep.min(bytes.len() - 1)]).unwrap();
        assert!(store.load().is_none(), "truncated to {keep} bytes and still signed in");
    }
    save_random(&store);
    let bytes = fs::read(store.path()).unwrap();
    fs::write(store.path(), &bytes[..bytes.len() - 1]).unwrap();
    assert!(store.load().is_none(), "missing the last byte and still signed in");
}

pub fn garbage_signs_out() {
    let (_dir, store) = fresh_store();
    save_random(&store);
    let mut noise = vec![0u8; 300];
    rand::thread_rng().fill_bytes(&mut noise);
    let plain_json = br#"{"token":"abc","expiresAt":null}"#.to_vec();
    for junk in [noise, plain_json, b"SSTK\x07whatever-comes-next".to_vec(), Vec::new()] {
        fs::write(store.path(), &junk).unwrap();
        assert!(store.load().is_none(), "{junk:?} read as a token");
    }
}

pub fn deleted_key_signs_out() {
    let (_dir, store) = fresh_store();
    save_random(&store);
    let (logs, _guard) = CapturedLogs::start();
    delete_key(&store);
    assert!(store.load().is_none());
    assert!(store.load().is_none());
    assert_eq!(logs.count("token key is gone"), 1, "{}", logs.text());
    let token = save_random(&store);
    assert_eq!(store.load().unwrap().secret(), token, "a new key is made on the next sign-in");
}

/// Each home has its own key: a token file copied to another home does not open there.
pub fn another_homes_key_does_not_open_it() {
    let (_a, first) = fresh_store();
    let (_b, second) = fresh_store();
    save_random(&first);
    save_random(&second);
    fs::copy(first.path(), second.path()).unwrap();
    assert!(second.load().is_none());
}

/// The CLI and the desktop app signing in at the same moment, the first time in this
/// home (here threads, each with a store of its own: the writer lock excludes them as
/// it does processes). Every save succeeds, and the one key made opens the token that
/// was saved last; two keys would leave a token that no longer opens.
pub fn first_saves_at_once_make_one_key() {
    for round in 0..8 {
        let (_dir, store) = fresh_store();
        let tokens: Vec<String> = (0..4).map(|_| random_token()).collect();
        let start = Barrier::new(tokens.len());
        thread::scope(|s| {
            for token in &tokens {
                let (home, start) = (store.home(), &start);
                s.spawn(move || {
                    let mine = TokenStore::new(home);
                    start.wait();
                    mine.save(&StoredToken::new(token.clone(), None)).expect("a first save racing others");
                });
            }
        });
        let loaded = store.load().unwrap_or_else(|| panic!("round {round}: signed out after first saves at once"));
        assert!(tokens.iter().any(|t| t == loaded.secret()), "round {round}: a token nobody saved");
    }
}

/// Writers saving again and again at once: none removes another's temporary file
/// (that one's save would then fail to move it in place), and none is left behind.
pub fn saves_at_once_leave_each_others_files_alone() {
    let (_dir, store) = fresh_store();
    save_random(&store);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mine = TokenStore::new(store.home());
                for _ in 0..25 {
                    mine.save(&StoredToken::new(random_token(), None)).expect("a save among others");
                }
            });
        }
    });
    assert!(store.load().is_some(), "signed in after saves at once");
    let temporary: Vec<_> = fs::read_dir(store.home())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(temporary.is_empty(), "temporary files left behind: {temporary:?}");
}
