//! What authentication costs: `GET /v1/me` (session middleware) beside `GET /health`
//! (no auth, no database) on the same server, PostgreSQL and SQLite, with the token
//! cache on and off. Run: `cargo bench -p superset-streams --bench auth`.
//!
//! Every figure comes from one run on this machine; the client shares the machine's
//! cores with the server, which affects both columns alike.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use superset_auth_db::AuthDb;
use superset_testkit::{user_with_session, Backend, TestDatabase};
use support::TestServer;

const CONNECTIONS: usize = 32;
const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

#[tokio::main]
async fn main() {
    println!("auth bench: {CONNECTIONS} connections, {MEASURE:?} per cell, release build\n");
    println!(
        "{:<9} {:<6} | {:>12} {:>9} {:>9} | {:>12} {:>9} {:>9} | {:>6}",
        "database", "cache", "/health r/s", "p50", "p99", "/v1/me r/s", "p50", "p99", "ratio"
    );
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let auth = AuthDb::connect(&db.database_url()).await.expect("connect");
        let (_, token) = user_with_session(&auth, "bench@example.com").await;
        for cache in [false, true] {
            let server = TestServer::start(db.url(), cache).await;
            let health = load(&server, "/health", None).await;
            let me = load(&server, "/v1/me", Some(&token)).await;
            println!(
                "{:<9} {:<6} | {:>12.0} {:>9} {:>9} | {:>12.0} {:>9} {:>9} | {:>5.2}x",
                format!("{backend:?}").to_lowercase(),
                if cache { "on" } else { "off" },
                health.per_second,
                micros(health.p50),
                micros(health.p99),
                me.per_second,
                micros(me.p50),
                micros(me.p99),
                me.per_second / health.per_second,
            );
            server.stop().await;
        }
    }
}

fn micros(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

/// Keeps `CONNECTIONS` requests in flight against `path`; returns throughput and
/// latency percentiles over the measured window (after a warm-up).
async fn load(server: &TestServer, path: &str, token: Option<&str>) -> Figures {
    let url = Arc::new(server.url(path));
    let authorization = token.map(|t| format!("Bearer {t}"));
    let started = Instant::now();
    let measure_from = started + WARMUP;
    let stop_at = measure_from + MEASURE;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
            let (url, authorization) = (url.clone(), authorization.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let sent = Instant::now();
                    if sent >= stop_at {
                        break latencies;
                    }
                    let mut request = client.get(url.as_str());
                    if let Some(value) = &authorization {
                        request = request.header("authorization", value);
                    }
                    let response = request.send().await.expect("request");
                    assert!(response.status().is_success(), "{}", response.status());
                    response.bytes().await.expect("body");
                    if sent >= measure_from {
                        latencies.push(sent.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Figures { per_second: latencies.len() as f64 / MEASURE.as_secs_f64(), p50: at(0.5), p99: at(0.99) }
}
