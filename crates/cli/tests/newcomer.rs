//! A newcomer's first run, scripted: `superset dev` in the background, `superset login
//! --no-open` with an HTTP client playing the browser on the printed URL through the
//! dev form, then `superset whoami` and `superset logout`. Real processes, real ports.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_superset");

/// A `superset` command with a private home and no keyring (the key goes to a file).
fn superset(home: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("SUPERSET_HOME", home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("SUPERSET_API_URL")
        .env_remove("SUPERSET_STREAMS_URL")
        .env("RUST_LOG", "warn");
    command
}

/// Lines of a child's stdout, read on a thread so a test can wait with a limit.
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

/// Reads lines until one starts with `prefix`; returns the rest of it.
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

fn interrupt(child: &Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The value following `marker` in `html`, up to the closing quote.
fn attribute<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}")) + marker.len();
    &html[at..at + html[at..].find('"').unwrap()]
}

/// The browser's part: the sign-in page, the dev form (with the page's anti-CSRF
/// token), the redirect to the loopback.
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

#[tokio::test]
async fn dev_then_login_then_whoami_then_logout() {
    let home = tempfile::tempdir().unwrap();
    let mut dev = superset(home.path())
        .args(["dev", "--api-port", "0", "--streams-port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let dev_lines = lines(dev.stdout.take().unwrap());
    let mut dev = Dev(dev);
    let api = wait_for(&dev_lines, "api listening on");
    let streams = wait_for(&dev_lines, "streams listening on");
    assert!(api.starts_with("http://127.0.0.1:") && streams.starts_with("http://127.0.0.1:"), "{api} {streams}");
    assert!(home.path().join("dev/auth.db").exists(), "SQLite under $SUPERSET_HOME/dev");

    let servers = ["--api-url", api.as_str(), "--streams-url", streams.as_str()];
    let mut login =
        superset(home.path()).arg("login").arg("--no-open").args(servers).stdout(Stdio::piped()).spawn().unwrap();
    let login_lines = lines(login.stdout.take().unwrap());
    wait_for(&login_lines, "Sign in at this URL");
    let url = loop {
        let line = login_lines.recv_timeout(Duration::from_secs(30)).unwrap();
        if line.trim().starts_with("http") {
            break line.trim().to_owned();
        }
    };
    let page = play_browser(&url, "Newcomer", "newcomer@example.test").await;
    assert!(page.contains("Signed in to Superset"), "{page}");
    assert_eq!(wait_for(&login_lines, "Signed in as"), "newcomer@example.test");
    assert!(login.wait().unwrap().success());
    let token_file = std::fs::read(home.path().join("auth-token.enc")).unwrap();
    assert!(!token_file.is_empty());

    let whoami = superset(home.path()).arg("whoami").args(servers).output().unwrap();
    assert_eq!(whoami.status.code(), Some(0), "{}", text(&whoami));
    assert_eq!(String::from_utf8_lossy(&whoami.stdout), "newcomer@example.test\n");

    let sessions = superset(home.path()).arg("sessions").args(servers).output().unwrap();
    assert!(sessions.status.success(), "{}", text(&sessions));
    assert!(String::from_utf8_lossy(&sessions.stdout).contains("No sessions yet"), "{}", text(&sessions));

    let chat = superset(home.path()).args(["chat", "--message", "hello, stream"]).args(servers).output().unwrap();
    assert!(chat.status.success(), "{}", text(&chat));
    assert_eq!(
        String::from_utf8_lossy(&chat.stdout),
        "you: hello, stream\nassistant: You said: hello, stream\n",
        "the message and the echo assistant's reply, replayed from the stream"
    );
    let session_id = String::from_utf8_lossy(&chat.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("session ").map(str::to_owned))
        .unwrap();

    let again =
        superset(home.path()).args(["chat", &session_id, "--message", "second"]).args(servers).output().unwrap();
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "you: hello, stream\nassistant: You said: hello, stream\nyou: second\nassistant: You said: second\n",
        "history shown on resume"
    );

    let sessions = superset(home.path()).arg("sessions").args(servers).output().unwrap();
    assert!(String::from_utf8_lossy(&sessions.stdout).starts_with(&session_id), "{}", text(&sessions));

    let logout = superset(home.path()).arg("logout").args(servers).output().unwrap();
    assert!(logout.status.success(), "{}", text(&logout));
    assert!(String::from_utf8_lossy(&logout.stdout).contains("Signed out."), "{}", text(&logout));
    assert!(!home.path().join("auth-token.enc").exists());

    let whoami = superset(home.path()).arg("whoami").args(servers).output().unwrap();
    assert_eq!(whoami.status.code(), Some(1), "{}", text(&whoami));
    assert_eq!(String::from_utf8_lossy(&whoami.stdout), "not signed in\n");

    interrupt(&dev.0);
    let status = dev.0.wait().unwrap();
    assert!(status.success(), "Ctrl-C stops `superset dev` cleanly: {status:?}");
}

#[test]
fn whoami_cannot_tell_when_the_auth_server_is_down_and_keeps_the_token() {
    let home = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = superset(home.path()).args(["whoami", "--api-url", &nowhere]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "signed out: {}", text(&out));

    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    let store = superset_client::TokenStore::new(home.path());
    store.save(&superset_client::StoredToken::new("some-token", None)).unwrap();
    let out = superset(home.path()).args(["whoami", "--api-url", &nowhere]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unavailable"), "{}", text(&out));
    assert!(store.load().is_some(), "still signed in");
}

#[test]
fn every_command_has_help() {
    let home = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 12] = [
        &[],
        &["dev"],
        &["login"],
        &["whoami"],
        &["logout"],
        &["sessions"],
        &["chat"],
        &["config"],
        &["config", "show"],
        &["config", "set-provider"],
        &["config", "set-key"],
        &["config", "delete-key"],
    ];
    for command in commands {
        let out = superset(home.path()).args(command).arg("--help").output().unwrap();
        assert!(out.status.success(), "{command:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: superset"), "{command:?}: {}", text(&out));
    }
}

#[test]
fn a_bad_server_url_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let out = superset(home.path()).args(["whoami", "--api-url", "ftp://example.test"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(text(&out).contains("not an http(s) URL"), "{}", text(&out));
}

#[test]
fn config_chooses_the_assistant_and_keeps_keys_out_of_sight() {
    let home = tempfile::tempdir().unwrap();
    let show = superset(home.path()).args(["config", "show"]).output().unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("provider: echo"), "echo by default: {}", text(&show));

    let set = superset(home.path())
        .args(["config", "set-provider", "openai", "--model", "llama3", "--base-url", "http://127.0.0.1:11434/v1"])
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", text(&set));

    let mut set_key = superset(home.path())
        .args(["config", "set-key", "anthropic"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    set_key.stdin.take().unwrap().write_all(b"sk-ant-cli-SECRET\n").unwrap();
    let set_key = set_key.wait_with_output().unwrap();
    assert!(set_key.status.success(), "{}", text(&set_key));
    assert!(!text(&set_key).contains("sk-ant-cli-SECRET"));

    let show = superset(home.path()).args(["config", "show"]).output().unwrap();
    let shown = text(&show);
    assert!(shown.contains("provider: openai") && shown.contains("llama3") && shown.contains("11434"), "{shown}");
    assert!(shown.contains("anthropic API key: set") && shown.contains("openai API key: not set"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
    let settings = std::fs::read_to_string(home.path().join("assistant.json")).unwrap();
    assert!(!settings.contains("SECRET"), "keys stay out of the settings file");

    let bad = superset(home.path()).args(["config", "set-provider", "skynet"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("use echo, anthropic or openai"), "{}", text(&bad));

    let delete = superset(home.path()).args(["config", "delete-key", "anthropic"]).output().unwrap();
    assert!(delete.status.success(), "{}", text(&delete));
    let show = superset(home.path()).args(["config", "show"]).output().unwrap();
    assert!(text(&show).contains("anthropic API key: not set"), "{}", text(&show));
}
