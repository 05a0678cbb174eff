//! The token store with no Secret Service reachable (no session bus): the key lives in
//! a 0600 file beside the token (tests/key_file.rs checks that part on its own). tests/keyring.rs runs the same cases against a real
//! Secret Service.

mod common;

use common::cases;

/// Makes sure no Secret Service can be reached, whatever the developer's desktop runs
/// (and nothing is left in their keyring). Called first by every test, so no test
/// thread reads the environment while it changes.
fn without_secret_service() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
        std::env::remove_var("DISPLAY");
    });
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            without_secret_service();
            cases::$name();
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
