//! The multi-instance soak (`scripts/soak` builds and runs it): simulated users sign
//! in through the auth server and chat through HAProxy in front of three streams
//! servers on one PostgreSQL, while streams servers are killed, PostgreSQL restarts and
//! sessions are revoked. It then checks that every acknowledged write is in its
//! stream once and in order, and that every device saw exactly that.

mod caller;
mod check;
mod failures;
mod fleet;
mod metrics;
mod signin;
mod subscription;
mod user;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::caller::{Answer, Caller};
use crate::check::{Tally, CATCH_UP_LIMIT};
use crate::failures::{secs, Outcome, Revocation};
use crate::fleet::{Binaries, Fleet};
use crate::metrics::{percentile, Metrics};
use crate::user::{Device, Pace, User};

/// Each flag's value is named after its environment variable.
#[derive(Parser, Debug)]
#[command(name = "superset-soak", about = "Users chatting through HAProxy while servers and PostgreSQL fail")]
struct Config {
    /// How long users chat; the failures are spread over it.
    #[arg(long, env = "SOAK_MINUTES", value_name = "SOAK_MINUTES", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    minutes: u64,

    /// Simulated users, each with its own session; every fifth is on two devices.
    #[arg(long, env = "SOAK_USERS", value_name = "SOAK_USERS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    users: u64,

    /// The PostgreSQL database every server uses (created empty by the script).
    #[arg(long, env = "SOAK_DATABASE_URL", value_name = "SOAK_DATABASE_URL")]
    database_url: String,

    /// Shell command that restarts that PostgreSQL and returns once it accepts connections.
    #[arg(long, env = "SOAK_POSTGRES_RESTART", value_name = "SOAK_POSTGRES_RESTART")]
    postgres_restart: String,

    /// The auth server binary (superset-api).
    #[arg(long, env = "SOAK_API_BIN", value_name = "SOAK_API_BIN")]
    api_bin: PathBuf,

    /// The streams server binary (superset-streams).
    #[arg(long, env = "SOAK_STREAMS_BIN", value_name = "SOAK_STREAMS_BIN")]
    streams_bin: PathBuf,

    /// HAProxy's configuration (deploy/haproxy.cfg).
    #[arg(long, env = "SOAK_HAPROXY_CONFIG", value_name = "SOAK_HAPROXY_CONFIG", default_value = "deploy/haproxy.cfg")]
    haproxy_config: PathBuf,

    /// Where the servers' logs go.
    #[arg(long, env = "SOAK_LOGS", value_name = "SOAK_LOGS", default_value = "soak-logs")]
    logs: PathBuf,

    /// Shortest and longest pause before a user's next message, in seconds.
    #[arg(long, env = "SOAK_THINK_SECS", value_name = "SOAK_THINK_SECS", num_args = 2, value_delimiter = ',', default_values_t = [5, 20])]
    think_secs: Vec<u64>,

    /// Fewest and most chunks of an assistant reply.
    #[arg(long, env = "SOAK_CHUNKS", value_name = "SOAK_CHUNKS", num_args = 2, value_delimiter = ',', default_values_t = [8, 24])]
    chunks: Vec<u32>,

    /// Pause between two chunks of a reply, in milliseconds.
    #[arg(long, env = "SOAK_CHUNK_INTERVAL_MS", value_name = "SOAK_CHUNK_INTERVAL_MS", default_value_t = 100)]
    chunk_interval_ms: u64,
}

/// Sign-ins and session creations in flight at once while users arrive.
const ARRIVALS_AT_ONCE: usize = 16;
/// How long users get to finish the exchange under way once the run is over.
const FINISH_LIMIT: Duration = Duration::from_secs(150);
/// A revoked user's open subscription is ended by the server, which rechecks the
/// session of every live read every 2 s.
const REVOKED_SUBSCRIPTION_LIMIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    match run(config).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(config: Config) -> anyhow::Result<bool> {
    let binaries = Binaries {
        api: config.api_bin.clone(),
        streams: config.streams_bin.clone(),
        haproxy_config: config.haproxy_config.clone(),
        database_url: config.database_url.clone(),
        logs: config.logs.clone(),
    };
    let fleet = Arc::new(tokio::sync::Mutex::new(Fleet::start(&binaries).await?));
    let sampler = tokio::spawn({
        let fleet = fleet.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                fleet.lock().await.sample();
            }
        }
    });
    let started = Instant::now();
    let report = soak(&config, &fleet).await;
    sampler.abort();
    let mut fleet = fleet.lock().await;
    print_usage(&mut fleet, started.elapsed());
    fleet.stop().await;
    Ok(report?.print())
}

async fn soak(config: &Config, fleet: &Arc<tokio::sync::Mutex<Fleet>>) -> anyhow::Result<Report> {
    let (streams_url, auth_url, direct) = {
        let fleet = fleet.lock().await;
        (fleet.streams_url.clone(), fleet.auth_url.clone(), fleet.direct.clone())
    };
    let metrics = Arc::new(Metrics::new("sign-in"));
    let caller = Arc::new(Caller { metrics: metrics.clone() });
    let duration = Duration::from_secs(config.minutes * 60);
    let pace = Pace {
        think: (Duration::from_secs(config.think_secs[0]), Duration::from_secs(config.think_secs[1])),
        chunks: (config.chunks[0], config.chunks[1]),
        chunk_interval: Duration::from_millis(config.chunk_interval_ms),
    };

    let arrivals = Instant::now();
    let mut users: Vec<Arc<User>> = futures::stream::iter(0..config.users as usize)
        .map(|i| arrive(i, &streams_url, &auth_url, &caller))
        .buffer_unordered(ARRIVALS_AT_ONCE)
        .try_collect()
        .await?;
    users.sort_by_key(|u| u.index);
    let devices: usize = users.iter().map(|u| u.devices.len()).sum();
    println!(
        "soak: {} users ({} subscriptions) signed in and holding a session in {:.1} s; chatting for {} min",
        users.len(),
        devices,
        secs(arrivals.elapsed()),
        config.minutes
    );

    metrics.enter("steady");
    let stop = CancellationToken::new();
    let mut followers = Vec::new();
    for user in &users {
        for device in &user.devices {
            let task = subscription::follow(user.clone(), device.clone(), metrics.clone(), stop.clone());
            followers.push(tokio::spawn(task));
        }
    }
    let start = Instant::now();
    let until = start + duration;
    let chats: Vec<_> =
        users.iter().map(|u| tokio::spawn(user::chat(u.clone(), caller.clone(), pace, until))).collect();

    let at = |fraction: f64| tokio::time::sleep_until((start + duration.mul_f64(fraction)).into());
    at(0.10).await;
    let revoked_users: Vec<Arc<User>> = [5, 6, 7].iter().map(|i| users[*i].clone()).collect();
    let revocation = failures::revoke(&auth_url, &direct, &revoked_users, &metrics).await?;
    let mut outcomes = Vec::new();
    at(0.25).await;
    outcomes.push(failures::kill_streams(fleet, &users, &metrics, "kill-1", 0).await?);
    at(0.50).await;
    outcomes.push(failures::restart_postgres(fleet, &users, &metrics, &config.postgres_restart).await?);
    at(0.75).await;
    outcomes.push(failures::kill_streams(fleet, &users, &metrics, "kill-2", 1).await?);
    tokio::time::sleep_until(until.into()).await;

    metrics.enter("drain");
    let finish = futures::future::join_all(chats);
    if tokio::time::timeout(FINISH_LIMIT, finish).await.is_err() {
        metrics.failure(format!("users were still chatting {FINISH_LIMIT:?} after the end"));
    }
    // Revoked users read their streams with a new session.
    for user in &revoked_users {
        *user.token.lock().unwrap() = signin::sign_in(&auth_url, user.from, &user.email).await?;
    }
    let streams: Vec<_> = futures::stream::iter(users.iter())
        .map(|user| check::read_stream(user))
        .buffered(ARRIVALS_AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    let final_late = wait_final_delivery(&users, &streams).await;
    let revoked_ended = wait_revoked_ended(&revocation, &revoked_users).await;
    stop.cancel();
    for follower in followers {
        let _ = follower.await;
    }

    let mut tally = Tally::default();
    for (user, stream) in users.iter().zip(streams) {
        match stream {
            Ok(stream) => {
                let acked = user.acked.lock().unwrap().clone();
                let delivered: Vec<Vec<String>> =
                    user.devices.iter().map(|d| d.received.lock().unwrap().keys.clone()).collect();
                tally += check::verify(&acked, &stream, &delivered);
            }
            Err(e) => metrics.failure(e),
        }
    }
    Ok(Report { metrics, revocation, revoked_ended, outcomes, final_late, tally, devices })
}

/// A user arrives: signs in, creates a chat session, gets its devices.
async fn arrive(index: usize, streams: &url::Url, auth: &url::Url, caller: &Caller) -> anyhow::Result<Arc<User>> {
    // Each user on its own loopback address, so the auth server's per-address token
    // limit sees users, not HAProxy (which passes the address in X-Forwarded-For).
    let from = IpAddr::V4(Ipv4Addr::new(127, 1 + (index / 250) as u8, (index % 250) as u8, 1));
    let email = format!("soak-user-{index}@example.test");
    let token = signin::sign_in(auth, from, &email).await?;
    let http = reqwest::Client::builder().local_address(from).connect_timeout(Duration::from_secs(2)).build()?;
    let session_id = uuid::Uuid::new_v4();
    let session_url = streams.join(&format!("/v1/sessions/{session_id}"))?;
    let body = json!({"title": format!("soak {index}")});
    let created = caller
        .call("sessions (create)", || http.put(session_url.clone()).bearer_auth(&token).json(&body))
        .await
        .map_err(anyhow::Error::msg)?;
    let Answer::Ok(created) = created else { anyhow::bail!("user {index}: creating the session was refused") };
    let stream_url = streams.join(created["streamUrl"].as_str().context("no streamUrl")?)?;
    let devices = if index.checked_rem(5) == Some(0) { 2 } else { 1 };
    Ok(Arc::new(User {
        index,
        email,
        from,
        http,
        token: Mutex::new(token),
        session_url,
        stream_url,
        revoked: AtomicBool::new(false),
        acked: Mutex::new(Vec::new()),
        devices: (0..devices).map(|_| Arc::new(Device::default())).collect(),
    }))
}

/// Once writing is over, every subscription still running must deliver the whole
/// stream; the devices that have not within [`CATCH_UP_LIMIT`].
async fn wait_final_delivery(users: &[Arc<User>], streams: &[Result<Vec<check::StoredEvent>, String>]) -> usize {
    let deadline = Instant::now() + CATCH_UP_LIMIT;
    loop {
        let late = users
            .iter()
            .zip(streams)
            .filter(|(u, _)| !u.is_revoked())
            .flat_map(|(u, s)| u.devices.iter().map(move |d| (d, s.as_ref().map_or(0, Vec::len))))
            .filter(|(d, len)| d.received.lock().unwrap().keys.len() < *len)
            .count();
        if late == 0 || Instant::now() >= deadline {
            return late;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the revoked users' subscriptions to end: how long each took after the
/// revocation (`None` for one still running at the limit).
async fn wait_revoked_ended(revocation: &Revocation, users: &[Arc<User>]) -> Vec<Option<Duration>> {
    let deadline = revocation.at + REVOKED_SUBSCRIPTION_LIMIT;
    loop {
        let ended: Vec<Option<Duration>> = users
            .iter()
            .flat_map(|u| &u.devices)
            .map(|d| d.ended.lock().unwrap().map(|at| at.saturating_duration_since(revocation.at)))
            .collect();
        if ended.iter().all(Option::is_some) || Instant::now() >= deadline {
            return ended;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Report {
    metrics: Arc<Metrics>,
    revocation: Revocation,
    revoked_ended: Vec<Option<Duration>>,
    outcomes: Vec<Outcome>,
    final_late: usize,
    tally: Tally,
    devices: usize,
}

impl Report {
    /// Prints the report; true on a pass.
    fn print(&self) -> bool {
        let r = &self.revocation;
        let mut ended: Vec<Duration> = self.revoked_ended.iter().flatten().copied().collect();
        ended.sort();
        println!(
            "revoke: users {:?}: refused by every instance in {}/{} checks on the first request after the \
             revocation, {} not within {:?} (slowest {} ms); their {} subscriptions ended {}/{} (after p50 {:.1} s, max {:.1} s)",
            r.users,
            r.first_try,
            r.checks,
            r.not_refused,
            failures::REFUSAL_LIMIT,
            r.slowest.as_millis(),
            self.revoked_ended.len(),
            ended.len(),
            self.revoked_ended.len(),
            secs(percentile(&ended, 50)),
            secs(ended.last().copied().unwrap_or_default()),
        );
        for o in &self.outcomes {
            println!(
                "{}: {}; {}/{} subscriptions caught up within {:?} ({} late, last after {:.2} s)",
                o.name,
                o.detail,
                o.catch_up.subscriptions - o.catch_up.late,
                o.catch_up.subscriptions,
                CATCH_UP_LIMIT,
                o.catch_up.late,
                secs(o.catch_up.slowest),
            );
        }
        println!(
            "end: {} of {} subscriptions had not delivered their whole stream within {CATCH_UP_LIMIT:?}",
            self.final_late, self.devices
        );
        println!("answers by phase:     answers      5xx      429  transport-errors");
        for (phase, c) in self.metrics.by_phase() {
            println!(
                "  {phase:<18} {:>9} {:>8} {:>8} {:>8}",
                c.answers, c.server_errors, c.rate_limited, c.transport_errors
            );
        }
        println!("latency by route:       count    p50 ms    p99 ms");
        for (route, count, p50, p99) in self.metrics.latencies() {
            println!("  {route:<20} {count:>8} {:>9.1} {:>9.1}", ms(p50), ms(p99));
        }
        let (reconnects, p50, p99) = self.metrics.reconnects();
        println!(
            "reconnects: {reconnects}, from lost connection to delivering again p50 {:.0} ms, p99 {:.0} ms",
            ms(p50),
            ms(p99)
        );
        let failures = self.metrics.failures();
        for failure in failures.iter().take(20) {
            println!("failure: {failure}");
        }
        if failures.len() > 20 {
            println!("failure: ... and {} more", failures.len() - 20);
        }
        let t = &self.tally;
        let signed_out = self.metrics.signed_out();
        let pass = t.lost == 0
            && t.duplicated == 0
            && t.reordered == 0
            && signed_out == 0
            && failures.is_empty()
            && self.final_late == 0
            && self.outcomes.iter().all(|o| o.catch_up.late == 0)
            && r.not_refused == 0
            && self.revoked_ended.iter().all(Option::is_some);
        println!(
            "soak: lost={} duplicated={} reordered={} signed_out={signed_out} acked={} pass={pass}",
            t.lost, t.duplicated, t.reordered, t.acked
        );
        pass
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_usage(fleet: &mut Fleet, elapsed: Duration) {
    println!("servers over {:.0} s:  cpu s  avg %core   rss MiB  peak MiB  starts", secs(elapsed));
    for u in fleet.usage() {
        println!(
            "  {:<12} {:>8.1} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            u.name,
            secs(u.cpu),
            100.0 * secs(u.cpu) / secs(elapsed),
            u.rss_kib as f64 / 1024.0,
            u.rss_peak_kib as f64 / 1024.0,
            u.starts
        );
    }
}
