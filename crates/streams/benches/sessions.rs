//! What the chat-session layer costs: assistant chunks through
//! `POST /v1/sessions/{id}/chunks` (validation, per-message seq under the session's
//! lock, State Protocol framing) beside raw JSON appends through `/v1/stream/...` of
//! the same size, on the same server, in one run, for the file store and PostgreSQL.
//! Run: `cargo bench -p superset-streams --bench sessions`.

mod load;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use load::{micros, Figures};

use serde_json::json;
use superset_auth_db::AuthDb;
use superset_streams::StorageKind;
use superset_testkit::{user_with_session, Backend, TestDatabase};
use support::TestServer;

const WRITERS: usize = 16;
const MEASURE: Duration = Duration::from_secs(3);
/// Raw and session cells alternate this many times and the median of each is shown, so
/// neither side always runs on a warmer (or fuller) disk than the other.
const ROUNDS: usize = 3;

#[tokio::main]
async fn main() {
    println!(
        "sessions bench: {WRITERS} writers, median of {ROUNDS} alternating {MEASURE:?} cells, ~200-byte messages\n"
    );
    println!(
        "{:<9} | {:>12} {:>9} {:>9} | {:>13} {:>9} {:>9} | {:>8}",
        "storage", "raw appends/s", "p50", "p99", "chunks/s", "p50", "p99", "overhead"
    );
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let auth = AuthDb::connect(&db.database_url()).await.expect("connect");
        let (_, token) = user_with_session(&auth, "bench@example.com").await;
        let storage = if backend == Backend::Postgres { StorageKind::Postgres } else { StorageKind::File };
        let server = Arc::new(
            TestServer::start_with(db.url(), |c| {
                c.storage = storage;
                support::unlimited(c);
            })
            .await,
        );
        let (mut raw, mut chunks) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            raw.push(raw_appends(&server, &token).await);
            chunks.push(session_chunks(&server, &token).await);
        }
        let (raw, chunks) = (load::median(raw), load::median(chunks));
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
    request: impl Fn(usize) -> (String, serde_json::Value),
) -> Figures {
    let requests: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (path, body) = request(i);
            (server.url(&path), bytes::Bytes::from(serde_json::to_vec(&body).unwrap()))
        })
        .collect();
    let (server, token) = (server.clone(), token.to_owned());
    load::measure(WRITERS, MEASURE, move |i| {
        let (url, body) = &requests[i];
        server.client.post(url).bearer_auth(&token).header("content-type", "application/json").body(body.clone())
    })
    .await
}
