//! The shipped binary as an operator runs it: a clean environment holding nothing but
//! `DATABASE_URL`, one sign-in provider's credentials (the server refuses to start
//! with no way to sign in; see binary.rs) and a free port, on an empty PostgreSQL
//! database. It must migrate the database itself, answer `/health` and its metadata,
//! and stop cleanly on SIGTERM; the image's settings (read from deploy/api.Dockerfile),
//! its `probe` health check and its `migrate` step (DATABASE_URL alone) too.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use superset_testkit::TestDatabase;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_superset-api");
const AUTH_TABLES: [&str; 4] = ["accounts", "sessions", "users", "verifications"];
/// A GitHub OAuth app's credentials: the server only sends them to GitHub when someone
/// signs in, so made-up values start it as real ones would.
const GITHUB: [(&str, &str); 2] = [("GITHUB_CLIENT_ID", "Iv1.clean-env"), ("GITHUB_CLIENT_SECRET", "clean-env-secret")];

#[tokio::test]
async fn starts_with_only_database_url_and_a_provider_on_an_empty_database() {
    let db = TestDatabase::postgres().await;
    assert!(tables(&db).await.is_empty(), "the test database should start empty");
    let mut env = vec![("DATABASE_URL", db.url()), ("API_PORT", "0")];
    env.extend(GITHUB);

    let mut server = Server::start(&env).await;
    assert!(server.base.starts_with("http://127.0.0.1:"), "default host is loopback: {}", server.base);

    assert_eq!(tables(&db).await, AUTH_TABLES);
    let health = reqwest::get(format!("{}/health", server.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    let metadata = reqwest::get(format!("{}/.well-known/oauth-authorization-server", server.base)).await.unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(metadata.json::<serde_json::Value>().await.unwrap()["issuer"], server.base.as_str());

    server.stop().await;
}

#[tokio::test]
async fn the_image_settings_listen_everywhere_and_pass_the_probe() {
    let db = TestDatabase::postgres().await;
    let image = image_env("api.Dockerfile");
    let mut env: Vec<(&str, &str)> = image.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([("DATABASE_URL", db.url()), ("API_PORT", "0")]);
    env.extend(GITHUB);

    let mut server = Server::start(&env).await;
    assert!(server.base.starts_with("http://0.0.0.0:"), "the image listens on every interface: {}", server.base);

    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let probe_env: Vec<(&str, &str)> =
        image.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain([("API_PORT", port.as_str())]).collect();
    let probe = run(&["probe"], &probe_env).await;
    assert!(probe.status.success(), "probe of a running server: {}", String::from_utf8_lossy(&probe.stderr));

    server.stop().await;
    let probe = run(&["probe"], &probe_env).await;
    assert_eq!(probe.status.code(), Some(1), "probe of a stopped server must fail");
    assert!(String::from_utf8_lossy(&probe.stderr).contains("cannot reach"), "{probe:?}");
}

/// A deploy migrates before any instance starts, with the database URL alone: no
/// provider credentials are needed for that.
#[tokio::test]
async fn migrate_needs_only_database_url_and_can_run_again() {
    let db = TestDatabase::postgres().await;
    for attempt in ["first", "second"] {
        let output = run(&["migrate"], &[("DATABASE_URL", db.url())]).await;
        assert!(output.status.success(), "{attempt} migrate: {}", String::from_utf8_lossy(&output.stderr));
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("migrated postgres://"), "{output:?}");
    }
    assert_eq!(tables(&db).await, AUTH_TABLES);

    let output = run(&["migrate"], &[]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL is not set"), "{output:?}");
}

/// A running server, killed if the test fails before stopping it.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the binary with exactly `env` and waits for its `listening on` line.
    async fn start(env: &[(&str, &str)]) -> Server {
        let mut child = command(env).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = child.stderr.take().unwrap();
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("no `listening on` line within 30 s")
            .unwrap();
        let Some(line) = line else {
            let mut logs = String::new();
            stderr.read_to_string(&mut logs).await.unwrap();
            panic!("exited before listening: {:?}\n{logs}", child.wait().await);
        };
        // Keep reading the logs so the server never blocks on a full pipe.
        tokio::spawn(async move { tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await });
        let base = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {line:?}")).to_owned();
        Server { child, base }
    }

    /// SIGTERM, as an orchestrator stops a container; it must exit 0.
    async fn stop(&mut self) {
        let pid = self.child.id().expect("still running").to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("did not stop within 10 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "exit status after SIGTERM: {status}");
    }
}

fn command(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().envs(env.iter().copied()).current_dir(Path::new("/")).stdin(Stdio::null()).kill_on_drop(true);
    command
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let output = command(env).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).output();
    tokio::time::timeout(Duration::from_secs(30), output).await.expect("finished within 30 s").unwrap()
}

/// The tables of the `auth` schema, sorted by name.
async fn tables(db: &TestDatabase) -> Vec<String> {
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'auth' ORDER BY table_name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// The `ENV KEY=VALUE` lines of a Dockerfile's last stage: the settings the image runs with.
fn image_env(dockerfile: &str) -> Vec<(String, String)> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "../../deploy", dockerfile].iter().collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    last_stage
        .lines()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(|pairs| pairs.split_whitespace())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("ENV {pair}: write ENV KEY=VALUE"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}
