//! What authentication costs: `GET /v1/me` (session middleware) beside `GET /health`
//! (no auth, no database) on the same server, PostgreSQL and SQLite, with the token
//! cache on and off; and what sliding expiry adds: `/v1/me` again on a server whose
//! update age is 1 s, so the session falls due every second of the run and is renewed
//! (off the request path, the cache entry dropped after), against the default day in
//! the first column. Run: `cargo bench -p superset-streams --bench auth`.
//!
//! Every figure comes from one run on this machine; the client shares the machine's
//! cores with the server, which affects both columns alike.

mod load;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use load::{micros, Figures};

use superset_auth_db::AuthDb;
use superset_testkit::{user_with_session, Backend, TestDatabase};
use support::TestServer;

const CONNECTIONS: usize = 32;
const MEASURE: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() {
    println!("auth bench: {CONNECTIONS} connections, {MEASURE:?} per cell, release build\n");
    println!(
        "{:<9} {:<6} | {:>12} {:>9} {:>9} | {:>12} {:>9} {:>9} | {:>6} | {:>12} {:>9} {:>9} | {:>8}",
        "database",
        "cache",
        "/health r/s",
        "p50",
        "p99",
        "/v1/me r/s",
        "p50",
        "p99",
        "ratio",
        "renewing r/s",
        "p50",
        "p99",
        "renewals"
    );
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let auth = AuthDb::connect(&db.database_url()).await.expect("connect");
        let (_, token) = user_with_session(&auth, "bench@example.com").await;
        for cache in [false, true] {
            let server = TestServer::start_with(db.url(), |c| {
                c.auth_cache = cache;
                support::unlimited(c);
            })
            .await;
            let health = load(&server, "/health", None).await;
            let me = load(&server, "/v1/me", Some(&token)).await;
            server.stop().await;
            let renewing = TestServer::start_with(db.url(), |c| {
                c.auth_cache = cache;
                c.session_update_age = Duration::from_secs(1);
                support::unlimited(c);
            })
            .await;
            let before = auth.find_session(&token).await.unwrap().expect("the bench session").renewed_at;
            let renewed = load(&renewing, "/v1/me", Some(&token)).await;
            let after = auth.find_session(&token).await.unwrap().expect("the bench session").renewed_at;
            renewing.stop().await;
            println!(
                "{:<9} {:<6} | {:>12.0} {:>9} {:>9} | {:>12.0} {:>9} {:>9} | {:>5.2}x | {:>12.0} {:>9} {:>9} | {:>8}",
                format!("{backend:?}").to_lowercase(),
                if cache { "on" } else { "off" },
                health.per_second,
                micros(health.p50),
                micros(health.p99),
                me.per_second,
                micros(me.p50),
                micros(me.p99),
                me.per_second / health.per_second,
                renewed.per_second,
                micros(renewed.p50),
                micros(renewed.p99),
                if after > before { "yes" } else { "none" },
            );
        }
    }
}

/// Keeps `CONNECTIONS` requests in flight against `path`, each on a connection of its own.
async fn load(server: &TestServer, path: &str, token: Option<&str>) -> Figures {
    let url = server.url(path);
    let authorization = token.map(|t| format!("Bearer {t}"));
    let clients: Vec<_> =
        (0..CONNECTIONS).map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap()).collect();
    load::measure(CONNECTIONS, MEASURE, move |i| {
        let request = clients[i].get(&url);
        match &authorization {
            Some(value) => request.header("authorization", value),
            None => request,
        }
    })
    .await
}
