//! The token store against a real Secret Service: each test re-runs itself in a child
//! process inside a fresh D-Bus session (`dbus-run-session`) with Debian's
//! gnome-keyring daemon unlocked, and a throwaway HOME so the developer's own keyring
//! is never touched. Without `dbus-run-session` or `gnome-keyring-daemon` these tests
//! fail and say what to install: they never skip.

mod common;

use std::path::Path;
use std::process::Command;

use common::cases;
use superset_client::token_store::{KeyLocation, KEYRING_SERVICE};
use superset_client::{StoredToken, TokenStore};

/// Set in the child: the test body runs there.
const INSIDE: &str = "SUPERSET_TEST_IN_KEYRING_SESSION";

/// Unlocks (creating on first use) the login keyring with a password on stdin (an
/// empty one fails), waits until that daemon owns the Secret Service's bus name, then
/// runs the test binary. Without the wait, a test that asks first (seen on a loaded
/// machine) has D-Bus start a second daemon, whose keyring is locked.
const SESSION_SCRIPT: &str = r#"printf '%s' "keyring-test-password" | gnome-keyring-daemon --unlock --components=secrets >/dev/null || { echo "gnome-keyring-daemon --unlock failed" >&2; exit 97; }
for _ in $(seq 200); do
    gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
        --method org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets 2>/dev/null | grep -q true && break
    sleep 0.05
done
exec "$@""#;

/// Returns true in the child, where the test body runs; in the parent, runs the test
/// `name` in the child and checks it passed.
fn in_keyring_session(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        assert!(std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(), "no session bus in the child");
        return true;
    }
    for tool in ["dbus-run-session", "gnome-keyring-daemon", "gdbus"] {
        assert!(
            on_path(tool),
            "`{tool}` is not installed: the keyring tests need a real Secret Service. \
             On Debian: apt-get install dbus-daemon gnome-keyring libsecret-tools libdbus-1-dev libglib2.0-bin"
        );
    }
    let home = tempfile::tempdir().unwrap();
    let output = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", SESSION_SCRIPT, "sh"])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("run dbus-run-session");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{name} failed in the keyring session:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{name} did not run in the keyring session:\n{stdout}\n{stderr}");
    false
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// What `secret-tool` (libsecret, a separate client) finds in the Secret Service.
fn secret_tool_lookup(account: &str) -> Option<String> {
    let out = Command::new("secret-tool")
        .args(["lookup", "service", KEYRING_SERVICE, "username", account])
        .output()
        .expect("run secret-tool (Debian: apt-get install libsecret-tools)");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_key_is_in_the_real_secret_service() {
    if !in_keyring_session("the_key_is_in_the_real_secret_service") {
        return;
    }
    assert!(
        matches!(
            keyring::default::default_credential_builder().persistence(),
            keyring::credential::CredentialPersistence::UntilDelete
        ),
        "keyring was built with its in-memory mock, not a real store"
    );
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path());
    store.save(&StoredToken::new("t", None)).unwrap();

    let KeyLocation::Keyring { account } = store.key_location() else {
        panic!("the key is not in the keyring: {:?}", store.key_location())
    };
    let entry = keyring::Entry::new(KEYRING_SERVICE, &account).unwrap();
    assert!(
        entry.get_credential().downcast_ref::<keyring::secret_service::SsCredential>().is_some(),
        "the entry is not a Secret Service credential"
    );
    let seen = secret_tool_lookup(&account).expect("secret-tool does not find the key in the Secret Service");
    assert_eq!(seen.trim().len(), 44, "a base64-encoded 256-bit key");
    assert!(!Path::new(&dir.path().join("auth-token.key")).exists(), "no key file when the keyring answers");
    assert_eq!(store.load().unwrap().secret(), "t");
}

/// Names the home, and what to do there, of a child process with no session bus.
const HEADLESS_HOME: &str = "SUPERSET_TEST_HEADLESS_HOME";
const HEADLESS_STEP: &str = "SUPERSET_TEST_HEADLESS_STEP";

/// Runs `step` on the token store in `home` in a child process that cannot reach the
/// Secret Service (libdbus reads the bus address once per process, so the keyring
/// cannot be made unreachable from inside this one).
fn without_keyring(home: &Path, step: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "headless_step", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HEADLESS_HOME, home)
        .env(HEADLESS_STEP, step)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove(INSIDE)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "headless step {step:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The child half of [`without_keyring`]. Does nothing when run on its own.
#[test]
#[ignore = "run as a child process by the keyring tests"]
fn headless_step() {
    let (Some(home), Ok(step)) = (std::env::var_os(HEADLESS_HOME), std::env::var(HEADLESS_STEP)) else { return };
    let store = TokenStore::new(home);
    assert!(matches!(store.key_location(), KeyLocation::File(_)), "the keyring is reachable in the headless child");
    match step.split_once(':') {
        Some(("save", token)) => store.save(&StoredToken::new(token, None)).unwrap(),
        _ if step == "signed-out-file-kept" => {
            assert!(store.load().is_none());
            assert!(store.path().exists(), "a token whose keyring is only unreachable must be kept");
        }
        _ => panic!("unknown step {step:?}"),
    }
}

/// A token saved while the keyring was unreachable (key file) still loads once it is
/// back, and the next save moves the key into the keyring and removes the file.
#[test]
fn a_key_file_from_a_time_without_keyring_moves_into_it() {
    if !in_keyring_session("a_key_file_from_a_time_without_keyring_moves_into_it") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path());
    let key_file = dir.path().join("auth-token.key");
    without_keyring(dir.path(), "save:while-headless");
    assert!(key_file.exists());

    assert_eq!(store.load().unwrap().secret(), "while-headless");
    store.save(&StoredToken::new("with-keyring", None)).unwrap();
    assert!(!key_file.exists(), "the key file should be gone once the keyring holds the key");
    assert!(matches!(store.key_location(), KeyLocation::Keyring { .. }));
    assert_eq!(store.load().unwrap().secret(), "with-keyring");
}

/// A token sealed under the keyring's key while the keyring is unreachable: signed
/// out for now, but the file is kept, so the user is signed in again once it is back.
#[test]
fn an_unreachable_keyring_does_not_destroy_the_token() {
    if !in_keyring_session("an_unreachable_keyring_does_not_destroy_the_token") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path());
    store.save(&StoredToken::new("kept", None)).unwrap();
    without_keyring(dir.path(), "signed-out-file-kept");
    assert_eq!(store.load().unwrap().secret(), "kept");
}

/// Locks the Secret Service's default collection, as a desktop does when the screen
/// locks; with no display, nobody can answer its unlock prompt.
fn lock_the_keyring() {
    let output = Command::new("gdbus")
        .args(["call", "--session", "--dest", "org.freedesktop.secrets", "--object-path", "/org/freedesktop/secrets"])
        .args(["--method", "org.freedesktop.Secret.Service.Lock", "['/org/freedesktop/secrets/aliases/default']"])
        .output()
        .expect("run gdbus (Debian: apt-get install libglib2.0-bin)");
    assert!(output.status.success(), "locking the keyring failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// A keyring that is there but fails this time (locked, its unlock prompt unanswered):
/// the save fails and says why, instead of moving the key to a file for good.
#[test]
fn a_keyring_failing_this_time_fails_the_save_instead_of_using_a_key_file() {
    if !in_keyring_session("a_keyring_failing_this_time_fails_the_save_instead_of_using_a_key_file") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = TokenStore::new(dir.path());
    lock_the_keyring();
    let error = store.save(&StoredToken::new("t", None)).expect_err("saved with the keyring locked");
    assert!(error.to_string().contains("OS keyring failed"), "{error}");
    assert!(!dir.path().join("auth-token.key").exists(), "the key went to a file");
    assert!(!store.path().exists(), "a token was stored without a key");
    assert!(matches!(store.key_location(), KeyLocation::Keyring { .. }));
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            if in_keyring_session(stringify!($name)) {
                cases::$name();
            }
        }
    )*};
}

cases!(
    round_trip,
    expired_tokens_still_load,
    private_modes,
    never_in_clear,
    tampered_byte_signs_out,
    truncated_file_signs_out,
    garbage_signs_out,
    deleted_key_signs_out,
    another_homes_key_does_not_open_it,
    first_saves_at_once_make_one_key,
    saves_at_once_leave_each_others_files_alone,
);
