//! The fallback where no OS keyring is reachable (a headless Linux box: no session
//! bus, so no Secret Service): the key goes to a 0600 file beside the token, and the
//! log says so once per process. One test in its own binary, so "once" is measurable.

mod common;

use common::CapturedLogs;
use superset_client::token_store::KeyLocation;
use superset_client::{StoredToken, TokenStore};

#[test]
fn without_a_keyring_the_key_goes_to_a_private_file_and_the_log_says_so_once() {
    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    std::env::remove_var("DISPLAY");
    let (logs, _guard) = CapturedLogs::start();
    let dir = tempfile::tempdir().unwrap();
    let first = TokenStore::new(dir.path().join("a"));
    let second = TokenStore::new(dir.path().join("b"));

    for (i, store) in [&first, &second, &first].into_iter().enumerate() {
        let token = format!("token-{i}");
        store.save(&StoredToken::new(token.clone(), None)).unwrap();
        assert_eq!(store.load().unwrap().secret(), token);
    }

    let key_file = first.home().join("auth-token.key");
    assert_eq!(first.key_location(), KeyLocation::File(key_file.clone()));
    assert_eq!(common::mode(&key_file), 0o600);
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 44, "a base64-encoded 256-bit key");
    assert_eq!(logs.count("no OS keyring reachable"), 1, "{}", logs.text());
}
