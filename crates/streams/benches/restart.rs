//! `cargo bench -p superset-streams --bench restart`: how long the server binary takes
//! to start on a file store holding 100,000 streams (the index is rebuilt from the log),
//! and what those streams cost in memory while idle: the server's resident memory on
//! that data directory against the same server on an empty one.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use superset_streams::store::{Append, CreateStream, FileStore, Quota};
use superset_streams::{Store, StreamKey};
use superset_testkit::TestDatabase;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const STREAMS: usize = 100_000;

/// Writes `STREAMS` streams of one ~100-byte JSON message each, as many at once as
/// group commit likes.
async fn fill(dir: &Path) {
    let store = FileStore::open(dir, Quota { streams: u64::MAX, bytes: u64::MAX }, 64 << 20).await.unwrap();
    futures::stream::iter(0..STREAMS)
        .for_each_concurrent(512, |i| {
            let store = store.clone();
            async move {
                let key = StreamKey::new("bench-owner", format!("chat/{i:06}/messages"));
                store.create(&key, CreateStream::new("application/json")).await.unwrap();
                let message = json!({ "id": i, "role": "user", "text": "x".repeat(60) });
                store.append(&key, Append::json(&message)).await.unwrap();
            }
        })
        .await;
}

/// Starts the server binary on `dir`; returns how long until it listened, and its
/// resident memory then, in KiB.
async fn start(database_url: &str, dir: &Path) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_superset-streams"))
        .env("DATABASE_URL", database_url)
        .env("STREAMS_PORT", "0")
        .env("STREAMS_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines.next_line().await.unwrap().expect("a listening line");
    assert!(line.starts_with("listening on "), "{line}");
    let took = started.elapsed();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id().unwrap())).unwrap();
    let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap();
    let kib = rss.trim().trim_end_matches(" kB").trim().parse().unwrap();
    child.kill().await.unwrap();
    (took, kib)
}

#[tokio::main]
async fn main() {
    let database = TestDatabase::sqlite();
    let empty = tempfile::tempdir().unwrap();
    let full = tempfile::tempdir().unwrap();
    let filled = Instant::now();
    fill(full.path()).await;
    let log_bytes: u64 =
        std::fs::read_dir(full.path().join("log")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    println!(
        "wrote {STREAMS} streams ({:.1} MB of log) in {:.1} s",
        log_bytes as f64 / 1e6,
        filled.elapsed().as_secs_f64()
    );

    let (_, empty_kib) = start(database.url(), empty.path()).await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(start(database.url(), full.path()).await);
    }
    runs.sort();
    let (took, full_kib) = runs[1];
    println!("| | empty data directory | {STREAMS} streams |");
    println!("|---|---:|---:|");
    println!("| server start to listening (median of 3) | | {:.2} s |", took.as_secs_f64());
    println!("| resident memory | {:.1} MiB | {:.1} MiB |", empty_kib as f64 / 1024.0, full_kib as f64 / 1024.0);
    println!("idle memory per stream: {} bytes", (full_kib.saturating_sub(empty_kib) * 1024) / STREAMS as u64);
}
