//! The real OpenID Connect provider (npm `oidc-provider`, tests/oidc/provider.js) as a
//! child process on a free port, and a browser walk through it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const CLIENT_ID: &str = "superset-api-test";
pub const CLIENT_SECRET: &str = "superset-api-test-secret-0123456789";
pub const ACCOUNT_ID: &str = "test-account-1";
pub const ACCOUNT_EMAIL: &str = "ada@example.test";
pub const ACCOUNT_NAME: &str = "Ada Lovelace";
/// Someone else's account at the same provider, claiming ACCOUNT_EMAIL (in upper case)
/// without the provider vouching for it.
pub const UNVERIFIED_ACCOUNT_ID: &str = "test-account-unverified";

pub struct OidcProvider {
    pub issuer: String,
    _child: Child,
}

impl OidcProvider {
    /// Starts the provider; `misbehave` is its OIDC_MISBEHAVE mode (see provider.js).
    pub async fn start(misbehave: Option<&str>) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID Connect provider is not installed: run `npm ci` in {}",
            dir.display()
        );
        let mut command = Command::new("node");
        command
            .arg("provider.js")
            .current_dir(&dir)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_ACCOUNT_EMAIL", ACCOUNT_EMAIL)
            .env("OIDC_ACCOUNT_NAME", ACCOUNT_NAME)
            .env_remove("OIDC_MISBEHAVE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(mode) = misbehave {
            command.env("OIDC_MISBEHAVE", mode);
        }
        let mut child = command.spawn().expect("cannot run `node` (Node.js 20 or later is needed)");
        forward_stderr(&mut child);
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("the OIDC provider did not start within 30 s")
            .expect("reading the OIDC provider's output")
            .expect("the OIDC provider exited before it was ready");
        let issuer = line.strip_prefix("issuer ").expect("the provider announces its issuer").to_owned();
        // Keep reading: a provider writing into a closed pipe would die of EPIPE.
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                eprintln!("oidc-provider: {line}");
            }
        });
        OidcProvider { issuer, _child: child }
    }
}

impl OidcProvider {
    /// Which account the provider logs in at the next sign-in (until told otherwise).
    pub async fn next_login(&self, account_id: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/test/next-login", self.issuer))
            .body(account_id.to_owned())
            .send()
            .await
            .expect("the OIDC provider answers");
        assert_eq!(response.status(), 204, "choosing {account_id}");
    }
}

/// The provider's diagnostics go to the test's output, minus its warnings about the
/// Node.js version and the in-memory store, which are expected here.
fn forward_stderr(child: &mut Child) {
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            if !line.starts_with("oidc-provider WARNING") {
                eprintln!("oidc-provider: {line}");
            }
        }
    });
}
