//! The failures the soak inflicts while users chat, each ending with a check that the
//! system recovered: a streams instance killed and restarted, PostgreSQL restarted,
//! sessions revoked.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use tokio::sync::Mutex;
use url::Url;

use crate::check::{caught_up, CatchUp};
use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::signin;
use crate::user::User;

/// How long a killed instance stays down before it is restarted.
const DOWN_TIME: Duration = Duration::from_secs(2);
/// A revoked session must be refused by every instance within this: at once through
/// PostgreSQL's notification, or when the token cache's entry expires (1 s) without it.
pub const REFUSAL_LIMIT: Duration = Duration::from_secs(1);

/// What one failure did, for the report.
pub struct Outcome {
    pub name: &'static str,
    pub detail: String,
    pub catch_up: CatchUp,
}

/// SIGKILL to streams instance `n`, a restart after [`DOWN_TIME`], then the catch-up check.
pub async fn kill_streams(
    fleet: &Mutex<Fleet>,
    users: &[Arc<User>],
    metrics: &Metrics,
    name: &'static str,
    n: usize,
) -> anyhow::Result<Outcome> {
    metrics.enter(name);
    let killed = Instant::now();
    fleet.lock().await.kill_streams(n).await?;
    tokio::time::sleep(DOWN_TIME).await;
    fleet.lock().await.restart_streams(n).await?;
    fleet.lock().await.wait_all_ready().await?;
    let recovered = Instant::now();
    let catch_up = caught_up(users, recovered).await;
    metrics.enter("steady");
    let detail = format!("streams-{} SIGKILLed, back and ready after {:.1} s", n + 1, secs(recovered - killed));
    Ok(Outcome { name, detail, catch_up })
}

/// Restarts PostgreSQL with `command` (a shell command line), then waits for every
/// server to be ready again and checks the catch-up.
pub async fn restart_postgres(
    fleet: &Mutex<Fleet>,
    users: &[Arc<User>],
    metrics: &Metrics,
    command: &str,
) -> anyhow::Result<Outcome> {
    let name = "postgres-restart";
    metrics.enter(name);
    let began = Instant::now();
    let status = tokio::process::Command::new("sh").arg("-c").arg(command).status().await?;
    anyhow::ensure!(status.success(), "restarting PostgreSQL ({command}) failed: {status}");
    fleet.lock().await.wait_all_ready().await.context("after the PostgreSQL restart")?;
    let recovered = Instant::now();
    let catch_up = caught_up(users, recovered).await;
    metrics.enter("steady");
    let detail = format!("restarted; every instance ready again after {:.1} s", secs(recovered - began));
    Ok(Outcome { name, detail, catch_up })
}

/// What revoking some users showed.
pub struct Revocation {
    pub users: Vec<usize>,
    pub at: Instant,
    /// Instance checks (users × instances) and how many refused the token on the first
    /// request after the revocation answered.
    pub checks: usize,
    pub first_try: usize,
    /// Checks still not refused after [`REFUSAL_LIMIT`].
    pub not_refused: usize,
    pub slowest: Duration,
}

/// Revokes these users' sessions through the auth server, then asks every streams
/// instance directly (not through HAProxy) with each token until it is refused.
pub async fn revoke(auth: &Url, direct: &[Url], users: &[Arc<User>], metrics: &Metrics) -> anyhow::Result<Revocation> {
    metrics.enter("revoke");
    let at = Instant::now();
    let mut result =
        Revocation { users: Vec::new(), at, checks: 0, first_try: 0, not_refused: 0, slowest: Duration::ZERO };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    for user in users {
        // Marked first, so its own 401s are not taken for a wrong sign-out.
        user.revoked.store(true, Ordering::SeqCst);
        signin::revoke(auth, &user.token()).await?;
        result.users.push(user.index);
    }
    let checks = users.iter().flat_map(|user| direct.iter().map(move |base| (user.token(), base.join("/v1/me"))));
    let checks: Vec<_> = checks.collect();
    let outcomes = futures::future::join_all(checks.into_iter().map(|(token, url)| {
        let http = http.clone();
        async move { refused_after(&http, url.expect("a valid URL"), &token).await }
    }))
    .await;
    for (attempts, took) in outcomes {
        result.checks += 1;
        match attempts {
            Some(1) => result.first_try += 1,
            Some(_) => {}
            None => result.not_refused += 1,
        }
        result.slowest = result.slowest.max(took);
    }
    metrics.enter("steady");
    Ok(result)
}

/// Asks `GET /v1/me` until it answers 401: the attempts it took (`None` if not within
/// [`REFUSAL_LIMIT`]) and the time.
async fn refused_after(http: &reqwest::Client, url: Url, token: &str) -> (Option<u32>, Duration) {
    let began = Instant::now();
    let mut attempts = 0;
    while began.elapsed() < REFUSAL_LIMIT {
        attempts += 1;
        let answer = http.get(url.clone()).bearer_auth(token).send().await;
        if answer.is_ok_and(|a| a.status() == StatusCode::UNAUTHORIZED) {
            return (Some(attempts), began.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (None, began.elapsed())
}

pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
