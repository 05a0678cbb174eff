//! `superset devices` against real servers (`superset dev`): two machines (two homes)
//! signed in to one account through the dev form, listed with this one marked, then
//! signed out one by one, all others at once, and this one.

mod support;

use std::path::Path;

use support::{login, superset, text, Dev};

/// `superset devices` from `home`: its table's rows as (this one?, id, the whole line).
fn devices(home: &Path, servers: &[&str]) -> Vec<(bool, String, String)> {
    let out = superset(home).arg("devices").args(servers).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut rows = stdout.lines();
    assert!(rows.next().is_some_and(|h| h.contains("ID") && h.contains("CLIENT")), "{stdout}");
    rows.map(|line| {
        let current = line.starts_with('*');
        let id = line.trim_start_matches('*').split_whitespace().next().unwrap().to_owned();
        (current, id, line.to_owned())
    })
    .collect()
}

fn whoami(home: &Path, servers: &[&str]) -> Option<i32> {
    superset(home).arg("whoami").args(servers).output().unwrap().status.code()
}

#[tokio::test]
async fn devices_are_listed_and_signed_out() {
    let (server_home, laptop, desk) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dev = Dev::start(server_home.path());
    let servers = dev.servers();
    let (laptop, desk) = (laptop.path(), desk.path());
    login(laptop, &servers, "Ada", "ada@example.test").await;
    login(desk, &servers, "Ada", "ada@example.test").await;

    let listed = devices(laptop, &servers);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed.iter().filter(|(current, ..)| *current).count(), 1, "{listed:?}");
    for (_, _, line) in &listed {
        assert!(line.contains(&format!("superset-cli/{} (", env!("CARGO_PKG_VERSION"))), "the User-Agent: {line}");
        assert!(line.contains("127.0.0.1"), "{line}");
    }
    let this_one = listed.iter().find(|(current, ..)| *current).unwrap().1.clone();
    let other = listed.iter().find(|(current, ..)| !*current).unwrap().1.clone();
    let from_desk = devices(desk, &servers);
    assert!(from_desk.iter().any(|(current, id, _)| *current && *id == other), "{from_desk:?}");

    let revoke = superset(laptop).args(["devices", "revoke", &other]).args(servers).output().unwrap();
    assert!(revoke.status.success(), "{}", text(&revoke));
    assert_eq!(whoami(desk, &servers), Some(1), "the desk is signed out");
    let again = superset(laptop).args(["devices", "revoke", &other]).args(servers).output().unwrap();
    assert!(!again.status.success() && text(&again).contains("no device"), "{}", text(&again));

    login(desk, &servers, "Ada", "ada@example.test").await;
    let others = superset(laptop).args(["devices", "revoke", "--others"]).args(servers).output().unwrap();
    assert!(others.status.success(), "{}", text(&others));
    assert_eq!(String::from_utf8_lossy(&others.stdout), "Signed out 1 other device.\n");
    let none = superset(laptop).args(["devices", "revoke", "--others"]).args(servers).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&none.stdout), "No other device was signed in.\n", "{}", text(&none));
    assert_eq!(whoami(desk, &servers), Some(1));
    assert_eq!(whoami(laptop, &servers), Some(0), "this one stays signed in");

    let own = superset(laptop).args(["devices", "revoke", &this_one]).args(servers).output().unwrap();
    assert!(own.status.success(), "{}", text(&own));
    assert_eq!(String::from_utf8_lossy(&own.stdout), "Signed out this device.\n");
    assert!(!laptop.join("auth-token.enc").exists(), "the dead token is removed");
    assert_eq!(whoami(laptop, &servers), Some(1));

    let neither = superset(laptop).args(["devices", "revoke"]).args(servers).output().unwrap();
    assert!(!neither.status.success(), "an ID or --others is required: {}", text(&neither));
}
