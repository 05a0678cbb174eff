//! The `superset-api` binary: configuration errors that name the variable to fix, the
//! dev sign-in off unless asked for, the `listening on` line, a clean stop on SIGTERM,
//! and logs that never contain a secret, a code or a token.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use superset_testkit::TestDatabase;
use support::{location_query, Pkce, CLIENT_ID};
use tokio::io::{AsyncBufReadExt, BufReader};

const BINARY: &str = env!("CARGO_BIN_EXE_superset-api");

/// Runs the binary to completion with only `env` set (the test's own environment is
/// not inherited, so nothing leaks in from the machine). A server that starts after
/// all is killed after 20 s: a config test must fail, not hang.
fn run(env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(BINARY)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run superset-api");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("superset-api status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("superset-api output")
}

fn assert_refused(env: &[(&str, &str)], names: &[&str]) {
    let output = run(env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{env:?} started: {stderr}");
    assert!(output.stdout.is_empty(), "nothing on stdout before listening");
    for name in names {
        assert!(stderr.contains(name), "{env:?}: the error does not name {name}: {stderr}");
    }
}

#[test]
fn a_provider_id_without_its_secret_names_the_missing_variable() {
    let db = TestDatabase::sqlite();
    let url = db.url();
    assert_refused(
        &[("DATABASE_URL", url), ("GITHUB_CLIENT_ID", "gh-id")],
        &["GITHUB_CLIENT_SECRET", "GITHUB_CLIENT_ID"],
    );
    assert_refused(&[("DATABASE_URL", url), ("GOOGLE_CLIENT_SECRET", "g-secret")], &["GOOGLE_CLIENT_ID"]);
    assert_refused(&[("DATABASE_URL", url), ("OIDC_ISSUER", "https://id.example.com")], &["OIDC_CLIENT_ID"]);
    assert_refused(
        &[("DATABASE_URL", url), ("OIDC_ISSUER", "https://id.example.com"), ("OIDC_CLIENT_ID", "x")],
        &["OIDC_CLIENT_SECRET"],
    );
    assert_refused(&[("DATABASE_URL", url), ("OIDC_CLIENT_ID", "x"), ("OIDC_CLIENT_SECRET", "y")], &["OIDC_ISSUER"]);
}

#[test]
fn malformed_values_name_their_variable() {
    let db = TestDatabase::sqlite();
    let dev = ("SUPERSET_DEV_LOGIN", "1");
    assert_refused(&[dev], &["DATABASE_URL"]);
    assert_refused(&[dev, ("DATABASE_URL", "mysql://db/x")], &["DATABASE_URL"]);
    assert_refused(&[dev, ("DATABASE_URL", db.url()), ("SESSION_TTL", "forever")], &["SESSION_TTL"]);
    assert_refused(&[dev, ("DATABASE_URL", db.url()), ("SESSION_TTL", "0")], &["SESSION_TTL"]);
    assert_refused(&[dev, ("DATABASE_URL", db.url()), ("API_PORT", "http")], &["API_PORT"]);
    assert_refused(&[dev, ("DATABASE_URL", db.url()), ("API_PUBLIC_URL", "auth.example.com")], &["API_PUBLIC_URL"]);
    assert_refused(&[dev, ("DATABASE_URL", db.url()), ("OIDC_ISSUER", "not a url")], &["OIDC_ISSUER"]);
}

#[test]
fn dev_sign_in_is_off_by_default() {
    let db = TestDatabase::sqlite();
    // With no provider and no SUPERSET_DEV_LOGIN there is no way to sign in at all:
    // the server refuses to start, and says how to turn the dev sign-in on.
    assert_refused(&[("DATABASE_URL", db.url())], &["SUPERSET_DEV_LOGIN=1"]);
    assert_refused(&[("DATABASE_URL", db.url()), ("SUPERSET_DEV_LOGIN", "0")], &["SUPERSET_DEV_LOGIN=1"]);
    assert!(!superset_api::Config::new(db.database_url()).dev_login);
}

/// The dev sign-in lets anyone sign in as anyone: the server refuses to run it where
/// others can reach it, or next to a real provider whose users it could take over.
#[test]
fn dev_sign_in_refuses_to_start_unless_on_loopback_alone() {
    let db = TestDatabase::sqlite();
    let secret = "gh-secret-that-must-not-be-shown";
    let base = [("DATABASE_URL", db.url()), ("API_PORT", "0"), ("SUPERSET_DEV_LOGIN", "1")];
    let exposed: [&[(&str, &str)]; 3] = [
        &[("API_HOST", "0.0.0.0")],
        &[("GITHUB_CLIENT_ID", "gh-id"), ("GITHUB_CLIENT_SECRET", secret)],
        &[
            ("API_HOST", "0.0.0.0"),
            ("OIDC_ISSUER", "https://id.example.com"),
            ("OIDC_CLIENT_ID", "x"),
            ("OIDC_CLIENT_SECRET", secret),
        ],
    ];
    for extra in exposed {
        let env: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        let output = run(&env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && output.stdout.is_empty(), "{extra:?} started: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("SUPERSET_DEV_LOGIN")).collect();
        assert_eq!(lines.len(), 1, "{extra:?}: one line says why: {stderr}");
        for name in ["SUPERSET_DEV_LOGIN=1", "API_HOST", "upstream provider"] {
            assert!(lines[0].contains(name), "{extra:?}: the error does not name {name}: {stderr}");
        }
        assert!(!stderr.contains(secret), "{stderr}");
    }
    let on_all_interfaces = run(&[base[0], base[1], base[2], ("API_HOST", "0.0.0.0")]);
    assert!(String::from_utf8_lossy(&on_all_interfaces.stderr).contains("API_HOST=0.0.0.0"));
    let with_github =
        run(&[base[0], base[1], base[2], ("GITHUB_CLIENT_ID", "gh-id"), ("GITHUB_CLIENT_SECRET", secret)]);
    assert!(String::from_utf8_lossy(&with_github.stderr).contains("GITHUB_CLIENT_ID"));
}

#[tokio::test]
async fn the_dev_form_is_absent_and_refused_when_not_enabled() {
    let db = TestDatabase::sqlite();
    let api = support::start_api(&db, |c| {
        c.dev_login = false;
        c.github_client_id = Some("gh-id".into());
        c.github_client_secret = Some(superset_api::Secret::new("gh-secret"));
    })
    .await;
    let browser = support::stepping_browser();
    let page = browser
        .get(support::authorize_url(&api, "http://127.0.0.1:5000/cb", &Pkce::new().challenge, "s", &[]))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Continue with GitHub"), "{html}");
    assert!(!html.contains("Development sign-in") && !html.contains("/signin/dev"), "{html}");
    let posted = browser.post(api.url("/signin/dev")).form(&[("name", "Eve"), ("email", "eve@example.com")]);
    assert_eq!(posted.send().await.unwrap().status(), 404);
    assert_eq!(support::count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 0);
    api.stop().await;
}

/// Runs the binary with the dev sign-in and every log level on (trace), signs in
/// once through it, revokes the token and stops it with SIGTERM; then looks for every
/// secret that went through it in what it logged.
#[tokio::test]
async fn serves_until_sigterm_and_never_logs_secrets_codes_or_tokens() {
    let db = TestDatabase::sqlite();
    let mut child = tokio::process::Command::new(BINARY)
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("API_PORT", "0")
        .env("SUPERSET_DEV_LOGIN", "1")
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.unwrap().unwrap().unwrap();
    let base = first.strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first}")).to_owned();
    let addr = base.strip_prefix("http://127.0.0.1:").expect("listening on http://127.0.0.1:PORT");
    assert!(addr.parse::<u16>().is_ok_and(|port| port > 0), "{first}");
    let stderr = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut all = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });

    assert_eq!(reqwest::get(format!("{base}/health")).await.unwrap().status(), 200);
    // A whole sign-in through the binary, collecting every secret that passes.
    let redirect = "http://127.0.0.1:40001/callback";
    let pkce = Pkce::new();
    let browser = support::stepping_browser();
    let authorize = format!(
        "{base}/oauth/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri={redirect}\
         &code_challenge={}&code_challenge_method=S256&state=state-value-xyz",
        pkce.challenge
    );
    let page = browser.get(&authorize).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let cookie_value = cookie.split_once('=').unwrap().1.to_owned();
    let csrf_token = support::csrf_token(&page.text().await.unwrap());
    let form = [("csrf_token", csrf_token.as_str()), ("name", "Ada"), ("email", "ada@example.com")];
    let answer = browser.post(format!("{base}/signin/dev")).form(&form).send().await.unwrap();
    let (_, query) = location_query(&answer);
    let code = query["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("client_id", CLIENT_ID),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().expect("a token").to_owned();
    let revoke = reqwest::Client::new().post(format!("{base}/oauth/revoke")).form(&[("token", token.as_str())]);
    assert_eq!(revoke.send().await.unwrap().status(), 200);

    let pid = child.id().expect("running").to_string();
    assert!(Command::new("kill").arg("-TERM").arg(&pid).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("stops on SIGTERM").unwrap();
    assert!(status.success(), "{status}");
    let logs = logs.await.unwrap();
    assert!(logs.contains("session issued"), "the logs are captured: {logs}");
    for (what, secret) in [
        ("authorization code", code.as_str()),
        ("anti-CSRF token", csrf_token.as_str()),
        ("session token", token.as_str()),
        ("sign-in cookie", cookie_value.as_str()),
        ("PKCE verifier", pkce.verifier.as_str()),
        ("state", "state-value-xyz"),
    ] {
        assert!(!logs.contains(secret), "the {what} is in the logs:\n{logs}");
    }
}
