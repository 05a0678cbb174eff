//! The real `superset-streams` binary: start-up errors, the "listening on" line, and a
//! clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_superset-streams");

fn streams() -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// The server on `database_url` at any free port, its streams under `dir`, its
/// standard output piped for [`listening_on`].
fn serving(database_url: &str, dir: &std::path::Path) -> Command {
    let mut command = streams();
    command
        .env("DATABASE_URL", database_url)
        .env("STREAMS_PORT", "0")
        .env("STREAMS_DATA_DIR", dir.join("streams"))
        .stdout(Stdio::piped());
    command
}

/// The server's base URL, from the `listening on` line it prints first.
fn listening_on(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("got {line:?}")).to_owned()
}

fn sigterm(child: &Child) {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
}

fn exit_within_10s(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn missing_database_url_stops_start_up_naming_the_variable() {
    let output = streams().output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}

#[test]
fn malformed_database_url_stops_start_up_naming_the_variable() {
    for url in ["mysql://localhost/db", "postgres://host:notaport/db", "nonsense"] {
        let output = streams().env("DATABASE_URL", url).output().unwrap();
        assert!(!output.status.success(), "{url}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("DATABASE_URL"), "{url}: {stderr}");
    }
}

#[test]
fn prints_its_address_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("auth.db").display());
    let mut child = serving(&url, dir.path()).stderr(Stdio::null()).spawn().unwrap();
    let base = listening_on(&mut child);
    let addr = base.strip_prefix("http://").unwrap();
    let port: u16 = addr.strip_prefix("127.0.0.1:").expect("default host").parse().unwrap();
    assert_ne!(port, 0);

    let health = std::net::TcpStream::connect(addr).and_then(|mut s| {
        use std::io::{Read, Write};
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
        let mut response = String::new();
        s.read_to_string(&mut response)?;
        Ok(response)
    });
    assert!(health.unwrap().starts_with("HTTP/1.1 200"));

    sigterm(&child);
    let status = exit_within_10s(&mut child);
    assert!(status.success(), "exit status {status}");
}

/// Even at the most verbose log level, no token reaches the logs, valid or not.
#[test]
fn tokens_never_reach_the_logs() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(superset_testkit::TestDatabase::postgres());
    let (_, token) = runtime.block_on(async {
        let auth = superset_auth_db::AuthDb::connect(&db.database_url()).await.unwrap();
        superset_testkit::user_with_session(&auth, "quiet@example.com").await
    });
    let garbage = "garbage-token-Zm9vYmFy";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = serving(db.url(), dir.path())
        .env("RUST_LOG", "trace")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = listening_on(&mut child);
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for bearer in [token.as_str(), garbage, &format!("{token}.c2ln")] {
            client.get(format!("{base}/v1/me")).bearer_auth(bearer).send().await.unwrap();
        }
    });
    sigterm(&child);
    child.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("/v1/me"), "expected request logs at trace level");
    assert!(!logged.contains(&token), "the session token was logged");
    assert!(!logged.contains(garbage), "a presented token was logged");
}

/// SIGTERM with a live SSE subscriber and a pending long-poll: both responses end
/// cleanly and the process exits 0, instead of waiting for clients to leave.
#[test]
fn graceful_shutdown_ends_live_reads() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("auth.db").display());
    let token = runtime.block_on(async {
        let auth = superset_auth_db::AuthDb::connect(&url.parse().unwrap()).await.unwrap();
        superset_testkit::user_with_session(&auth, "live@example.com").await.1
    });
    let mut child = serving(&url, dir.path()).stderr(Stdio::null()).spawn().unwrap();
    let base = listening_on(&mut child);
    runtime.block_on(async {
        use futures::StreamExt;
        let client = reqwest::Client::new();
        let stream = format!("{base}/v1/stream/live");
        let created =
            client.put(&stream).bearer_auth(&token).header("content-type", "text/plain").send().await.unwrap();
        assert_eq!(created.status(), 201);
        let sse = client.get(format!("{stream}?offset=-1&live=sse")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(sse.status(), 200);
        let long_poll =
            tokio::spawn(client.get(format!("{stream}?offset=now&live=long-poll")).bearer_auth(&token).send());
        tokio::time::sleep(Duration::from_millis(200)).await;

        sigterm(&child);
        let mut body = sse.bytes_stream();
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = body.next().await {
                if chunk.is_err() {
                    return false;
                }
            }
            true
        });
        assert!(drained.await.expect("the SSE response ended on shutdown"), "the SSE response ended cleanly");
        let answered = tokio::time::timeout(Duration::from_secs(10), long_poll).await.expect("the long-poll ended");
        let answered = answered.unwrap().expect("the pending long-poll got an answer, not a reset");
        // At shutdown a pending long-poll answers as at its timeout: nothing new.
        assert_eq!(answered.status(), 204);
    });
    let status = exit_within_10s(&mut child);
    assert!(status.success(), "exit status {status}");
}
