//! Driving the `superset` binary as a person does: `superset dev` in the background,
//! `superset login --no-open` with an HTTP client playing the browser.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_superset");

/// A `superset` command with a private home and no keyring (the key goes to a file).
pub fn superset(home: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("SUPERSET_HOME", home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("SUPERSET_API_URL")
        .env_remove("SUPERSET_STREAMS_URL")
        .env("RUST_LOG", "warn");
    command
}

/// Lines of a child's stdout, read on a thread so a test can wait with a limit. The
/// thread reads to the end even once nobody listens, so the child never writes to a
/// closed pipe.
pub fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    receiver
}

/// Reads lines until one starts with `prefix`; returns the rest of it.
pub fn wait_for(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line =
            lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no line starting {prefix:?}"));
        if let Some(rest) = line.trim().strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
}

/// `superset dev` on ports of its own, killed when dropped.
pub struct Dev {
    pub child: Child,
    pub api: String,
    pub streams: String,
}

impl Dev {
    pub fn start(home: &Path) -> Dev {
        let mut child = superset(home)
            .args(["dev", "--api-port", "0", "--streams-port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let output = lines(child.stdout.take().unwrap());
        let api = wait_for(&output, "api listening on");
        let streams = wait_for(&output, "streams listening on");
        Dev { child, api, streams }
    }

    /// The flags that point a command at these servers.
    pub fn servers(&self) -> [&str; 4] {
        ["--api-url", &self.api, "--streams-url", &self.streams]
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The value following `marker` in `html`, up to the closing quote.
fn attribute<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}")) + marker.len();
    &html[at..at + html[at..].find('"').unwrap()]
}

/// The browser's part: the sign-in page, the dev form (with the page's anti-CSRF
/// token), the redirect to the loopback; returns the loopback's page.
async fn play_browser(authorize_url: &str, name: &str, email: &str) -> String {
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(authorize_url).send().await.unwrap().text().await.unwrap();
    let form = &page[page.find("<form").expect("a sign-in form")..];
    let action = attribute(form, "action=\"");
    let token = attribute(form, "name=\"csrf_token\" value=\"");
    let answer =
        browser.post(action).form(&[("csrf_token", token), ("name", name), ("email", email)]).send().await.unwrap();
    assert!(answer.status().is_redirection(), "{}", answer.status());
    let loopback = answer.headers()["location"].to_str().unwrap().to_owned();
    browser.get(loopback).send().await.unwrap().text().await.unwrap()
}

/// `superset login --no-open` from `home` through the dev form; returns the page the
/// browser was shown at the end.
pub async fn login(home: &Path, servers: &[&str], name: &str, email: &str) -> String {
    let mut login = superset(home).arg("login").arg("--no-open").args(servers).stdout(Stdio::piped()).spawn().unwrap();
    let output = lines(login.stdout.take().unwrap());
    wait_for(&output, "Sign in at this URL");
    let url = loop {
        let line = output.recv_timeout(Duration::from_secs(30)).unwrap();
        if line.trim().starts_with("http") {
            break line.trim().to_owned();
        }
    };
    let page = play_browser(&url, name, email).await;
    assert_eq!(wait_for(&output, "Signed in as"), email);
    assert!(login.wait().unwrap().success());
    page
}
