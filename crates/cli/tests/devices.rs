//! `superset devices` against real servers (`superset dev`): two machines (two homes)
//! signed in to one account through the dev form, listed with this one marked, then
//! signed out one by one, all others at once, and this one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_superset");

fn superset(home: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("SUPERSET_HOME", home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("SUPERSET_API_URL")
        .env_remove("SUPERSET_STREAMS_URL")
        .env("RUST_LOG", "warn");
    command
}

fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

fn wait_for(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line =
            lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no line starting {prefix:?}"));
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
}

struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn attribute<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}")) + marker.len();
    &html[at..at + html[at..].find('"').unwrap()]
}

/// `superset login --no-open` from `home`, the browser's part played here.
async fn login(home: &Path, servers: &[&str]) {
    let mut login = superset(home).arg("login").arg("--no-open").args(servers).stdout(Stdio::piped()).spawn().unwrap();
    let output = lines(login.stdout.take().unwrap());
    wait_for(&output, "Sign in at this URL");
    let url = loop {
        let line = output.recv_timeout(Duration::from_secs(30)).unwrap();
        if line.trim().starts_with("http") {
            break line.trim().to_owned();
        }
    };
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(&url).send().await.unwrap().text().await.unwrap();
    let form = &page[page.find("<form").expect("a sign-in form")..];
    let fields = [
        ("csrf_token", attribute(form, "name=\"csrf_token\" value=\"")),
        ("name", "Ada"),
        ("email", "ada@example.test"),
    ];
    let answer = browser.post(attribute(form, "action=\"")).form(&fields).send().await.unwrap();
    let loopback = answer.headers()["location"].to_str().unwrap().to_owned();
    browser.get(loopback).send().await.unwrap();
    assert_eq!(wait_for(&output, "Signed in as"), "ada@example.test");
    assert!(login.wait().unwrap().success());
}

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
    let mut dev = superset(server_home.path())
        .args(["dev", "--api-port", "0", "--streams-port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let dev_lines = lines(dev.stdout.take().unwrap());
    let _dev = Dev(dev);
    let api = wait_for(&dev_lines, "api listening on");
    let streams = wait_for(&dev_lines, "streams listening on");
    let servers = ["--api-url", api.as_str(), "--streams-url", streams.as_str()];
    let (laptop, desk) = (laptop.path(), desk.path());
    login(laptop, &servers).await;
    login(desk, &servers).await;

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

    login(desk, &servers).await;
    let others = superset(laptop).args(["devices", "revoke", "--others"]).args(servers).output().unwrap();
    assert!(others.status.success(), "{}", text(&others));
    assert_eq!(String::from_utf8_lossy(&others.stdout), "Signed out 1 other device.\n");
    assert_eq!(whoami(desk, &servers), Some(1));
    assert_eq!(whoami(laptop, &servers), Some(0), "this one stays signed in");

    let own = superset(laptop).args(["devices", "revoke", &this_one]).args(servers).output().unwrap();
    assert!(own.status.success(), "{}", text(&own));
    assert_eq!(String::from_utf8_lossy(&own.stdout), "Signed out this device.\n");
    assert!(!laptop.join("auth-token.enc").exists(), "the dead token is removed");
    assert_eq!(whoami(laptop, &servers), Some(1));

    let neither = superset(laptop).args(["devices", "revoke"]).args(servers).output().unwrap();
    assert!(!neither.status.success(), "an ID or --others is required: {}", text(&neither));
    for help in [&["devices", "--help"][..], &["devices", "revoke", "--help"]] {
        let out = superset(laptop).args(help).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Usage: superset"), "{help:?}");
    }
}
