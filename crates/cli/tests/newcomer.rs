//! A newcomer's first run, scripted: `superset dev` in the background, `superset login
//! --no-open` with an HTTP client playing the browser on the printed URL through the
//! dev form, then `superset whoami` and `superset logout`. Real processes, real ports.

mod support;

use std::process::{Child, Command, Stdio};

use support::{login, superset, text, Dev};

fn interrupt(child: &Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn dev_then_login_then_whoami_then_logout() {
    let home = tempfile::tempdir().unwrap();
    let mut dev = Dev::start(home.path());
    let (api, streams) = (dev.api.clone(), dev.streams.clone());
    assert!(api.starts_with("http://127.0.0.1:") && streams.starts_with("http://127.0.0.1:"), "{api} {streams}");
    assert!(home.path().join("dev/auth.db").exists(), "SQLite under $SUPERSET_HOME/dev");

    let servers = ["--api-url", api.as_str(), "--streams-url", streams.as_str()];
    let page = login(home.path(), &servers, "Newcomer", "newcomer@example.test").await;
    assert!(page.contains("Signed in to Superset"), "{page}");
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
    let listed = String::from_utf8_lossy(&sessions.stdout);
    let line = listed.lines().next().unwrap_or_default();
    assert!(line.starts_with(&session_id), "{}", text(&sessions));
    assert!(line.ends_with("  hello, stream"), "titled by its first message, not untitled: {line}");

    let logout = superset(home.path()).arg("logout").args(servers).output().unwrap();
    assert!(logout.status.success(), "{}", text(&logout));
    assert!(String::from_utf8_lossy(&logout.stdout).contains("Signed out."), "{}", text(&logout));
    assert!(!home.path().join("auth-token.enc").exists());

    let whoami = superset(home.path()).arg("whoami").args(servers).output().unwrap();
    assert_eq!(whoami.status.code(), Some(1), "{}", text(&whoami));
    assert_eq!(String::from_utf8_lossy(&whoami.stdout), "not signed in\n");

    interrupt(&dev.child);
    let status = dev.child.wait().unwrap();
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
    // Plain words first, the technical detail on its own line, never the server's URL.
    let said = text(&out);
    assert!(said.contains("error: Can't reach the server. You're still signed in; try again in a moment."), "{said}");
    assert!(said.contains("details: GET /api/me: cannot connect"), "{said}");
    assert!(!said.contains(&nowhere), "{said}");
    assert!(store.load().is_some(), "still signed in");
}

#[test]
fn every_command_has_help() {
    let home = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 14] = [
        &[],
        &["dev"],
        &["login"],
        &["whoami"],
        &["logout"],
        &["sessions"],
        &["chat"],
        &["devices"],
        &["devices", "revoke"],
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
