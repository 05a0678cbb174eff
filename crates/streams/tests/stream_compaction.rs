//! The file store gives space back: streams created and deleted by the thousand leave
//! the log within 1.5x of what is alive, through restarts; and a stream's sliding TTL
//! runs on across a restart instead of starting over.

mod stream_support;

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use stream_support::Running;
use superset_streams::{Config, StorageKind};

const KEPT: usize = 10;
const ROUNDS: usize = 50;
const CHURNED_PER_ROUND: usize = 10;
const APPEND: usize = 2 << 10;
const CHURNED_BYTES: usize = 20 << 10;

fn small_segments(config: &mut Config) {
    config.segment_bytes = 64 << 10;
    config.user_limits.requests_per_second = u32::MAX;
    config.user_limits.request_burst = u32::MAX;
}

fn log_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join("log")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

async fn send(server: &Running, method: Method, path: &str, body: Vec<u8>) -> u16 {
    let request = server.request(method, path).header("content-type", "application/octet-stream");
    request.body(body).send().await.unwrap().status().as_u16()
}

async fn read(server: &Running, path: &str) -> Vec<u8> {
    let response = server.request(Method::GET, &format!("{path}?offset=-1")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("stream-up-to-date"), "one read holds all of {path}");
    response.bytes().await.unwrap().to_vec()
}

/// Waits for the compactions the churn made due (the store checks every second).
async fn until_compacted(server: &Running, live: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bytes = log_bytes(server.data.path());
        if bytes * 2 <= live * 3 || Instant::now() > deadline {
            return bytes;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churned_streams_give_their_space_back_through_restarts() {
    let mut server = stream_support::start(StorageKind::File, small_segments).await;
    for k in 0..KEPT {
        assert_eq!(send(&server, Method::PUT, &format!("kept/{k}"), Vec::new()).await, 201);
    }
    let mut expected = vec![Vec::new(); KEPT];
    for round in 0..ROUNDS {
        for (k, kept) in expected.iter_mut().enumerate() {
            let data = vec![b'a' + ((round + k) % 26) as u8; APPEND];
            assert_eq!(send(&server, Method::POST, &format!("kept/{k}"), data.clone()).await, 204);
            kept.extend(data);
        }
        for c in 0..CHURNED_PER_ROUND {
            let path = format!("churn/{round}-{c}");
            assert_eq!(send(&server, Method::PUT, &path, vec![b'x'; CHURNED_BYTES]).await, 201);
            assert_eq!(send(&server, Method::DELETE, &path, Vec::new()).await, 204);
        }
    }
    let live = (KEPT * ROUNDS * APPEND) as u64;
    let churned = (ROUNDS * CHURNED_PER_ROUND * CHURNED_BYTES) as u64;
    let bytes = until_compacted(&server, live).await;
    println!("{churned} bytes created and deleted, {live} alive: the log holds {bytes}");
    assert!(bytes * 2 <= live * 3, "the log holds {bytes} bytes for {live} alive");
    for (k, kept) in expected.iter().enumerate() {
        assert!(read(&server, &format!("kept/{k}")).await == *kept, "kept/{k} is whole after compaction");
    }

    server.restart(StorageKind::File, small_segments).await;
    for (k, kept) in expected.iter().enumerate() {
        assert!(read(&server, &format!("kept/{k}")).await == *kept, "kept/{k} is whole after a restart");
    }
    assert_eq!(send(&server, Method::GET, "churn/0-0", Vec::new()).await, 404);
    assert!(log_bytes(server.data.path()) * 2 <= live * 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sliding_ttl_keeps_running_across_a_restart() {
    let mut server = stream_support::start(StorageKind::File, |_| {}).await;
    let started = Instant::now();
    for path in ["idle", "read"] {
        let created = server.request(Method::PUT, path).header("stream-ttl", "4").send().await.unwrap();
        assert_eq!(created.status(), 201);
    }
    tokio::time::sleep(Duration::from_millis(2400)).await;
    assert_eq!(send(&server, Method::GET, "read?offset=-1", Vec::new()).await, 200);
    server.restart(StorageKind::File, |_| {}).await;

    // "idle" was last used at 0 s, so it is gone at 4 s (plus at most 0.4 s the log may
    // lag); "read" was read at 2.4 s, so it lives to 6.4 s at least.
    tokio::time::sleep(Duration::from_millis(5000).saturating_sub(started.elapsed())).await;
    assert_eq!(send(&server, Method::HEAD, "idle", Vec::new()).await, 404, "the restart gave idle a new lease");
    assert_eq!(send(&server, Method::HEAD, "read", Vec::new()).await, 200, "the read before the restart counts");
    server.stop().await;
}
