//! The load loop the benchmarks share: workers sending requests back to back, with
//! throughput and latency taken over a measured window after a warm-up.
// Each bench compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

const WARMUP: Duration = Duration::from_millis(500);

pub struct Figures {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// The run with the median throughput.
pub fn median(mut runs: Vec<Figures>) -> Figures {
    runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    runs.swap_remove(runs.len() / 2)
}

pub fn micros(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

/// `workers` workers, each sending `request(worker)` back to back for the warm-up and
/// then `window`; every response must be a success.
pub async fn measure(
    workers: usize,
    window: Duration,
    request: impl Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> Figures {
    let request = Arc::new(request);
    let measure_from = Instant::now() + WARMUP;
    let stop_at = measure_from + window;
    let workers: Vec<_> = (0..workers)
        .map(|i| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let sent = Instant::now();
                    if sent >= stop_at {
                        break latencies;
                    }
                    let response = request(i).send().await.expect("request");
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
    Figures { per_second: latencies.len() as f64 / window.as_secs_f64(), p50: at(0.5), p99: at(0.99) }
}
