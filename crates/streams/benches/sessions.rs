//! What the chat-session layer costs: assistant chunks through
//! `POST /v1/sessions/{id}/chunks` (validation, per-message seq under the session's
//! lock, State Protocol framing) beside raw JSON appends through `/v1/stream/...` of
//! the same size, on the same server, in one run, for the file store and PostgreSQL.
//! Run: `cargo bench -p superset-streams --bench sessions`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use superset_auth_db::AuthDb;
use superset_streams::StorageKind;
use superset_testkit::{user_with_session, Backend, TestDatabase};
use support::TestServer;

const WRITERS: usize = 16;
const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(4);

struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

#[tokio::main]
async fn main() {
    println!("sessions bench: {WRITERS} writers, {MEASURE:?} per cell, ~200-byte messages\n");
    println!(
        "{:<9} | {:>12} {:>9} {:>9} | {:>13} {:>9} {:>9} | {:>8}",
        "storage", "raw appends/s", "p50", "p99", "chunks/s", "p50", "p99", "overhead"
    );
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let auth = AuthDb::connect(&db.database_url()).await.expect("connect");
        let (_, token) = user_with_session(&auth, "bench@example.com").await;
        let storage = if backend == Backend::Postgres { StorageKind::Postgres } else { StorageKind::File };
        let server = Arc::new(TestServer::start_with(db.url(), |c| c.storage = storage).await);
        let raw = raw_appends(&server, &token).await;
        let chunks = session_chunks(&server, &token).await;
        println!(
            "{:<9} | {:>12.0} {:>9} {:>9} | {:>13.0} {:>9} {:>9} | {:>7.1}%",
            format!("{storage:?}").to_lowercase(),
            raw.per_second,
            micros(raw.p50),
            micros(raw.p99),
            chunks.per_second,
            micros(chunks.p50),
            micros(chunks.p99),
            (raw.per_second / chunks.per_second - 1.0) * 100.0,
        );
    }
}

fn micros(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

async fn raw_appends(server: &Arc<TestServer>, token: &str) -> Figures {
    let body =
        json!({"type": "chunk", "key": "m:0", "value": {"text": "x".repeat(150)}, "headers": {"operation": "insert"}});
    for i in 0..WRITERS {
        let url = server.url(&format!("/v1/stream/bench/raw-{i}"));
        let created = server.client.put(url).bearer_auth(token).header("content-type", "application/json").send().await;
        assert!(created.unwrap().status().is_success());
    }
    load(server, token, move |i| (format!("/v1/stream/bench/raw-{i}"), body.clone())).await
}

async fn session_chunks(server: &Arc<TestServer>, token: &str) -> Figures {
    let mut sessions = Vec::new();
    for _ in 0..WRITERS {
        let id = uuid::Uuid::new_v4().to_string();
        let created = server.client.put(server.url(&format!("/v1/sessions/{id}"))).bearer_auth(token).send().await;
        assert!(created.unwrap().status().is_success());
        sessions.push((id, uuid::Uuid::new_v4().to_string()));
    }
    load(server, token, move |i| {
        let (session, message) = &sessions[i];
        let chunk = json!({"messageId": message, "role": "assistant", "chunk": {"type": "text-delta", "delta": "x".repeat(150)}});
        (format!("/v1/sessions/{session}/chunks"), chunk)
    })
    .await
}

/// `WRITERS` workers, each POSTing `request(worker)` back to back.
async fn load(
    server: &Arc<TestServer>,
    token: &str,
    request: impl Fn(usize) -> (String, serde_json::Value) + Send + Sync + 'static,
) -> Figures {
    let request = Arc::new(request);
    let measure_from = Instant::now() + WARMUP;
    let stop_at = measure_from + MEASURE;
    let workers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (server, token, request) = (server.clone(), token.to_owned(), request.clone());
            tokio::spawn(async move {
                let (path, body) = request(i);
                let (url, body) = (server.url(&path), serde_json::to_vec(&body).unwrap());
                let mut latencies = Vec::new();
                loop {
                    let sent = Instant::now();
                    if sent >= stop_at {
                        break latencies;
                    }
                    let response = server
                        .client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("request");
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
