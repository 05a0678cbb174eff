//! A chat session grown to a couple hundred megabytes, then, on a freshly started
//! server, forked by several requests at once while its first write after the restart
//! and a rebuild of the session list run: the real binary's peak resident memory stays
//! within a bound, because each of these reads the stream a piece at a time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use superset_auth_db::AuthDb;
use superset_chat::{Chunk, ChunkRecord, Event, Role};
use superset_streams::store::{Append, FileStore, PgStore, Quota, Store};
use superset_streams::StreamKey;
use superset_testkit::{user_with_session, Backend, TestDatabase};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_superset-streams");
/// 200 chunks of 1 MiB: what this 2-core machine writes in well under a minute.
const CHUNKS: u64 = 200;
const CHUNK_BYTES: usize = 1 << 20;
const FORKS: usize = 4;
/// Growth of the peak resident memory over the idle server's allowed for all of it.
const BOUND_MIB: u64 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_large_session_forked_concurrently_keeps_memory_bounded() {
    a_large_session_forked_concurrently_keeps_memory_bounded(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_large_session_forked_concurrently_keeps_memory_bounded() {
    a_large_session_forked_concurrently_keeps_memory_bounded(Backend::Sqlite).await;
}

/// The server binary as a child process, on PostgreSQL storage for the PostgreSQL
/// backend and on the file store in `dir` for SQLite.
struct Binary {
    child: Child,
    base: String,
}

impl Binary {
    fn start(db: &TestDatabase, dir: &Path) -> Binary {
        let storage = if db.backend() == Backend::Postgres { "postgres" } else { "file" };
        let mut child = Command::new(BIN)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", db.url())
            .env("STREAMS_PORT", "0")
            .env("STREAMS_STORAGE", storage)
            .env("STREAMS_DATA_DIR", dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("got {line:?}")).to_owned();
        Binary { child, base }
    }

    /// A field of /proc/PID/status, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find_map(|l| l.strip_prefix(field)).unwrap_or_else(|| panic!("no {field}"));
        line.trim().trim_end_matches("kB").trim().parse().unwrap()
    }

    /// Makes VmHWM start again from the current resident memory.
    fn reset_peak(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").unwrap();
    }

    fn stop(mut self) {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens the store the binary uses, from this process.
async fn open_store(db: &TestDatabase, dir: &Path, stop: &CancellationToken) -> Arc<dyn Store> {
    let quota = Quota { streams: u64::MAX, bytes: u64::MAX };
    if db.backend() == Backend::Postgres {
        let auth = AuthDb::connect(&db.database_url()).await.unwrap();
        Arc::new(PgStore::open(auth.pg_pool().unwrap().clone(), stop.clone(), quota).await.unwrap())
    } else {
        Arc::new(FileStore::open(dir, quota, 64 << 20).await.unwrap())
    }
}

fn chunk_event(message_id: &str, seq: u64, delta: String) -> Value {
    let record = ChunkRecord {
        message_id: message_id.to_owned(),
        actor_id: "assistant".to_owned(),
        role: Role::Assistant,
        seq,
        chunk: Chunk::TextDelta { delta },
        created_at: "2026-01-01T00:00:00.000Z".to_owned(),
        parent_id: None,
        model: None,
    };
    Event::Chunk { record, txid: None }.to_json()
}

async fn a_large_session_forked_concurrently_keeps_memory_bounded(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.unwrap();
    let (user_id, token) = user_with_session(&auth, "big@example.com").await;
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("streams");
    let client = reqwest::Client::new();
    let call = |base: &str, method: reqwest::Method, path: &str, body: Value| {
        client.request(method, format!("{base}{path}")).bearer_auth(&token).json(&body).send()
    };

    let server = Binary::start(&db, &dir);
    let id = Uuid::new_v4().to_string();
    let put = call(&server.base, reqwest::Method::PUT, &format!("/v1/sessions/{id}"), json!({})).await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let sent =
        call(&server.base, reqwest::Method::POST, &format!("/v1/sessions/{id}/messages"), json!({"content": "hi"}));
    let question: Value = sent.await.unwrap().json().await.unwrap();
    let question = question["messageId"].as_str().unwrap().to_owned();
    server.stop();

    // The answer, written straight into the store while no server runs.
    let answer = Uuid::new_v4().to_string();
    let stop_listener = CancellationToken::new();
    let store = open_store(&db, &dir, &stop_listener).await;
    let key = StreamKey::new(user_id, format!("sessions/{id}"));
    let written = Instant::now();
    for seq in 0..CHUNKS {
        let event = chunk_event(&answer, seq, "x".repeat(CHUNK_BYTES));
        store.append(&key, Append::json(&event)).await.unwrap();
    }
    println!("wrote {} MiB in {:.1} s", (CHUNKS * CHUNK_BYTES as u64) >> 20, written.elapsed().as_secs_f64());
    drop(store);
    stop_listener.cancel();

    let server = Binary::start(&db, &dir);
    let me = client.get(format!("{}/v1/me", server.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let idle = server.status_kib("VmRSS:");
    server.reset_peak();

    let fork = |at: &str| {
        let path = format!("/v1/sessions/{id}/fork");
        call(&server.base, reqwest::Method::POST, &path, json!({"atMessageId": at}))
    };
    let forks = futures::future::join_all((0..FORKS).map(|i| fork(if i % 2 == 0 { &question } else { &answer })));
    let write =
        call(&server.base, reqwest::Method::POST, &format!("/v1/sessions/{id}/messages"), json!({"content": "more"}));
    let list = client.get(format!("{}/v1/sessions", server.base)).bearer_auth(&token).send();
    let (forks, write, list) = tokio::join!(forks, write, list);
    let peak = server.status_kib("VmHWM:");
    let mut fork_ids = Vec::new();
    for fork in forks {
        let fork = fork.unwrap();
        assert_eq!(fork.status(), StatusCode::CREATED);
        fork_ids.push(fork.json::<Value>().await.unwrap()["sessionId"].as_str().unwrap().to_owned());
    }
    assert_eq!(write.unwrap().status(), StatusCode::OK);
    assert_eq!(list.unwrap().status(), StatusCode::OK);
    println!(
        "{backend:?}: idle {} MiB, peak {} MiB while {FORKS} forks, a write and a list ran (bound: idle + {BOUND_MIB} MiB)",
        idle >> 10,
        peak >> 10
    );
    assert!(peak < idle + (BOUND_MIB << 10), "peak {peak} KiB, idle {idle} KiB");

    // The fork after the question holds just the question.
    let events = client
        .get(format!("{}/v1/stream/sessions/{}?offset=-1", server.base, fork_ids[0]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let events: Vec<Value> = events.json().await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["value"]["messageId"], question.as_str());
    server.stop();
}
