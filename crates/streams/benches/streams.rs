//! `cargo bench -p superset-streams --bench streams`: this server on both backends
//! beside the official Rust server (the `durable-streams` crate's
//! `durable-streams-server`, in its default durable `wal` mode; the bench installs it
//! with `cargo install` into the target directory the first time) and the Node
//! reference server (`@durable-streams/server`, from `conformance/node_modules`, in its
//! durable file mode and in memory), all as separate processes on this machine,
//! measured in the same run. The file store and the official server run twice,
//! alternated, and the table ends with this server's ratios to the official one:
//!
//! - appends: 16 concurrent writers of ~200-byte JSON messages for a few seconds;
//!   appends/s and latency percentiles;
//! - catch-up: reading a 10,000-message stream from the start, MB/s, the first time and
//!   at best;
//! - fan-out: 1,000 SSE subscribers, one writer appending every 10 ms; delivery latency
//!   percentiles, lost and duplicated messages, and the server's resident memory per
//!   idle subscriber;
//! - idle RSS: the server's resident memory a second after it started, before any load.
//!
//! Needs PostgreSQL (TEST_DATABASE_URL, as the tests) and `npm ci` in `conformance/`.
//!
//! To iterate on one figure, `BENCH_SECTIONS` (any of `appends,catch-up,fan-out`) and
//! `BENCH_TARGETS` (any of `file,official,postgres,node`) narrow the run; left out,
//! everything runs. What is skipped shows as NaN. `BENCH_WRAP` runs this server under
//! a profiler: `BENCH_WRAP="perf record -g -o /tmp/perf.data --"`; `BENCH_RUST_LOG`
//! sets its log filter (`warn` otherwise), e.g.
//! `superset_streams::store::postgres=debug` logs each batch of appends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use superset_auth_db::AuthDb;
use superset_testkit::{user_with_session, TestDatabase};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Barrier;

const WRITERS: usize = 16;
const APPEND_FOR: Duration = Duration::from_secs(4);
const CATCH_UP_MESSAGES: usize = 10_000;
const CATCH_UP_ROUNDS: usize = 20;
const SUBSCRIBERS: usize = 1_000;
const FAN_OUT_MESSAGES: usize = 300;
const FAN_OUT_EVERY: Duration = Duration::from_millis(10);
const FAN_OUT_GRACE: Duration = Duration::from_secs(10);
/// The writer stops here even if it could not keep up the pace.
const FAN_OUT_WRITE_LIMIT: Duration = Duration::from_secs(15);

/// The official Rust server the bench compares against, and where it is installed.
const OFFICIAL: (&str, &str) = ("durable-streams", "0.1.5");

/// A server under test, running as its own process.
struct Target {
    name: &'static str,
    /// Where streams are: `http://host:port/v1/stream` or, for the official server, the root.
    base: String,
    token: Option<String>,
    child: Child,
    _keep: (Option<TestDatabase>, Option<tempfile::TempDir>),
}

impl Target {
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn request(&self, client: &reqwest::Client, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = client.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Appends one JSON message holding `fields` (padded by [`message`]).
    async fn append(&self, client: &reqwest::Client, url: &str, fields: Value) -> reqwest::Result<reqwest::Response> {
        self.request(client, reqwest::Method::POST, url)
            .header("content-type", "application/json")
            .body(message(fields))
            .send()
            .await
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("server running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// Waits for the `listening on URL` line a server prints at start.
async fn listening(child: &mut Child) -> String {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("server starts")
            .unwrap()
            .expect("output");
        if let Some((_, rest)) = line.split_once("listening on ") {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return rest.split_whitespace().next().unwrap_or(rest).trim_end_matches('/').to_owned();
        }
    }
}

async fn start_ours(name: &'static str, postgres: bool) -> Target {
    let database = if postgres { TestDatabase::postgres().await } else { TestDatabase::sqlite() };
    let data = tempfile::tempdir().unwrap();
    let db = AuthDb::connect(&database.database_url()).await.unwrap();
    let (_, token) = user_with_session(&db, "bench@example.com").await;
    let mut child = ours_command()
        .env("DATABASE_URL", database.url())
        .env("STREAMS_PORT", "0")
        .env("STREAMS_DATA_DIR", data.path())
        .env("STREAMS_STORAGE", if postgres { "postgres" } else { "file" })
        // One user loads the server: lift the per-user rate and live-read limits.
        .env("STREAMS_USER_REQUESTS_PER_SECOND", u32::MAX.to_string())
        .env("STREAMS_USER_REQUEST_BURST", u32::MAX.to_string())
        .env("STREAMS_USER_MAX_READERS", u64::MAX.to_string())
        // All subscribers connect from 127.0.0.1.
        .env("STREAMS_MAX_CONNECTIONS_PER_CLIENT", "0")
        .env("RUST_LOG", std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start superset-streams");
    let base = format!("{}/v1/stream", listening(&mut child).await);
    Target { name, base, token: Some(token), child, _keep: (Some(database), Some(data)) }
}

/// This server's binary, under the command in `BENCH_WRAP` if it is set.
fn ours_command() -> Command {
    let binary = env!("CARGO_BIN_EXE_superset-streams");
    let Ok(wrap) = std::env::var("BENCH_WRAP") else { return Command::new(binary) };
    let mut words = wrap.split_whitespace();
    let mut command = Command::new(words.next().expect("BENCH_WRAP names a command"));
    command.args(words).arg(binary);
    command
}

/// The official server's binary, installed with `cargo install` the first time.
fn official_binary() -> PathBuf {
    let (krate, version) = OFFICIAL;
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{krate}-{version}"));
    let binary = root.join("bin/durable-streams-server");
    if !binary.is_file() {
        eprintln!("installing the official server ({krate} {version}) into {} ...", root.display());
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", krate, "--version", version, "--locked", "--root"])
            .arg(&root)
            .env("CARGO_TARGET_DIR", root.join("build"))
            .status()
            .expect("run cargo install");
        assert!(status.success() && binary.is_file(), "cargo install {krate} --version {version} failed");
    }
    binary
}

async fn start_official(name: &'static str) -> Target {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(official_binary())
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start durable-streams-server");
    let base = listening(&mut child).await;
    Target { name, base, token: None, child, _keep: (None, Some(data)) }
}

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance")
}

async fn start_reference(name: &'static str, data_dir: Option<&Path>) -> Target {
    let script = "import { DurableStreamTestServer } from '@durable-streams/server';\n\
        const server = new DurableStreamTestServer({ port: 0, host: '127.0.0.1', dataDir: process.env.DATA_DIR || undefined });\n\
        console.log('listening on ' + await server.start());\n\
        process.on('SIGTERM', async () => { await server.stop(); process.exit(0); });";
    let mut command = Command::new("node");
    command
        .args(["--input-type=module", "-e", script])
        .current_dir(conformance_dir())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = data_dir {
        command.env("DATA_DIR", dir);
    }
    let mut child = command.spawn().expect("start node (Node.js 20+ is needed for the baseline)");
    let base = format!("{}/v1/stream", listening(&mut child).await);
    Target { name, base, token: None, child, _keep: (None, None) }
}

/// A ~200-byte JSON message.
fn message(fields: Value) -> String {
    let mut m = fields;
    let len = m.to_string().len();
    m["pad"] = json!("x".repeat(200usize.saturating_sub(len + 9)));
    m.to_string()
}

async fn create_json_stream(client: &reqwest::Client, target: &Target, path: &str) -> String {
    let url = target.url(path);
    let created = target
        .request(client, reqwest::Method::PUT, &url)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}: create {}", target.name, created.status());
    url
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// 16 writers append for a while: (appends/s, p50 ms, p99 ms, errors).
async fn appends(client: &reqwest::Client, target: &Arc<Target>) -> (f64, f64, f64, usize) {
    let url = create_json_stream(client, target, "bench-appends").await;
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, target, url) = (client.clone(), target.clone(), url.clone());
        writers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            let mut n = 0;
            while started.elapsed() < APPEND_FOR {
                let sent = Instant::now();
                let response = target.append(&client, &url, json!({ "w": w, "n": n })).await;
                match response {
                    Ok(r) if r.status().is_success() => latencies.push(sent.elapsed().as_secs_f64() * 1e3),
                    _ => errors += 1,
                }
                n += 1;
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for w in writers {
        let (l, e) = w.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    (latencies.len() as f64 / elapsed, percentile(&latencies, 0.5), percentile(&latencies, 0.99), errors)
}

/// Reads a 10,000-message stream from the start, 20 times: MB/s of the first read
/// (nothing of it cached by the server) and of the best (one takes a few milliseconds,
/// so fewer leave the figure to chance).
async fn catch_up(client: &reqwest::Client, target: &Arc<Target>) -> (f64, f64) {
    let url = create_json_stream(client, target, "bench-catch-up").await;
    let mut fillers = Vec::new();
    for w in 0..WRITERS {
        let (client, target, url) = (client.clone(), target.clone(), url.clone());
        fillers.push(tokio::spawn(async move {
            for n in (w..CATCH_UP_MESSAGES).step_by(WRITERS) {
                let r = target.append(&client, &url, json!({ "n": n })).await.unwrap();
                assert!(r.status().is_success());
            }
        }));
    }
    for f in fillers {
        f.await.unwrap();
    }
    let mut rates = Vec::new();
    for _ in 0..CATCH_UP_ROUNDS {
        let started = Instant::now();
        let (bytes, messages) = read_all(client, target, &url).await;
        assert_eq!(messages, CATCH_UP_MESSAGES, "{}: catch-up read every message", target.name);
        rates.push(bytes as f64 / 1e6 / started.elapsed().as_secs_f64());
    }
    (rates[0], rates.iter().copied().fold(0.0, f64::max))
}

/// Reads a JSON stream from the start to its end: bytes and messages.
async fn read_all(client: &reqwest::Client, target: &Target, url: &str) -> (usize, usize) {
    let (mut bytes, mut messages, mut offset) = (0, 0, "-1".to_owned());
    loop {
        let r = target.request(client, reqwest::Method::GET, &format!("{url}?offset={offset}")).send().await.unwrap();
        offset = r.headers()["stream-next-offset"].to_str().unwrap().to_owned();
        let up_to_date = r.headers().contains_key("stream-up-to-date");
        let body = r.bytes().await.unwrap();
        bytes += body.len();
        messages += serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(&body).unwrap().len();
        if up_to_date {
            return (bytes, messages);
        }
    }
}

/// Has this process run a catch-up before anything is measured: its first maps ~1,000
/// fresh pages for its buffers and the later ones none, which counted against whichever
/// server was measured first.
async fn warm_up(client: &reqwest::Client) {
    catch_up(client, &Arc::new(start_ours("warm-up", false).await)).await;
}

struct FanOut {
    /// Messages written (fewer than planned if appends were too slow).
    sent: usize,
    p50: f64,
    p99: f64,
    lost: usize,
    duplicated: usize,
    kib_per_subscriber: f64,
}

impl FanOut {
    fn skipped() -> FanOut {
        FanOut {
            sent: FAN_OUT_MESSAGES,
            p50: f64::NAN,
            p99: f64::NAN,
            lost: 0,
            duplicated: 0,
            kib_per_subscriber: f64::NAN,
        }
    }
}

/// 1,000 SSE subscribers, a message every 10 ms.
async fn fan_out(target: &Arc<Target>, epoch: Instant) -> FanOut {
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = create_json_stream(&client, target, "bench-fan-out").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = target.rss_kib();
    let ready = Arc::new(Barrier::new(SUBSCRIBERS + 1));
    let mut subscribers = Vec::new();
    let mut received = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (client, target, url, ready) = (client.clone(), target.clone(), url.clone(), ready.clone());
        subscribers.push(tokio::spawn(subscribe(client, target, url, ready, epoch, seen.clone())));
        received.push(seen);
    }
    tokio::time::timeout(Duration::from_secs(60), ready.wait()).await.expect("subscribers connect");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kib_per_subscriber = target.rss_kib().saturating_sub(idle) as f64 / SUBSCRIBERS as f64;

    let mut tick = tokio::time::interval(FAN_OUT_EVERY);
    let writing = Instant::now();
    let mut sent = 0;
    for seq in 0..FAN_OUT_MESSAGES {
        tick.tick().await;
        if writing.elapsed() > FAN_OUT_WRITE_LIMIT {
            break;
        }
        sent += 1;
        let r =
            target.append(&client, &url, json!({ "seq": seq, "t": epoch.elapsed().as_nanos() as u64 })).await.unwrap();
        assert!(r.status().is_success());
    }
    // Whatever has not arrived within the grace period counts as lost.
    let _ = tokio::time::timeout(FAN_OUT_GRACE, futures::future::join_all(subscribers.iter_mut())).await;
    for s in &subscribers {
        s.abort();
    }
    let (mut latencies, mut lost, mut duplicated) = (Vec::new(), 0, 0);
    for seen in received {
        let seen = seen.lock().unwrap();
        let mut unique: Vec<usize> = seen.iter().map(|(seq, _)| *seq).collect();
        unique.sort_unstable();
        unique.dedup();
        lost += sent - unique.len();
        duplicated += seen.len() - unique.len();
        latencies.extend(seen.iter().map(|(_, l)| *l));
    }
    latencies.sort_by(f64::total_cmp);
    FanOut {
        sent,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        lost,
        duplicated,
        kib_per_subscriber,
    }
}

/// One SSE subscriber from the tail, recording (seq, delivery latency in ms) of every
/// message into `seen`; reconnects from its last offset if dropped.
async fn subscribe(
    client: reqwest::Client,
    target: Arc<Target>,
    url: String,
    ready: Arc<Barrier>,
    epoch: Instant,
    seen: Arc<std::sync::Mutex<Vec<(usize, f64)>>>,
) {
    let mut offset = "now".to_owned();
    let mut waiting = Some(ready);
    loop {
        let Ok(response) =
            target.request(&client, reqwest::Method::GET, &format!("{url}?offset={offset}&live=sse")).send().await
        else {
            continue;
        };
        let mut body = response.bytes_stream();
        let mut buffer = Vec::new();
        while let Some(Ok(bytes)) = body.next().await {
            buffer.extend_from_slice(&bytes);
            while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = buffer.drain(..end + 2).collect();
                let event = String::from_utf8(event).unwrap();
                let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).collect::<Vec<_>>().join("\n");
                let Ok(value) = serde_json::from_str::<Value>(&data) else { continue };
                if event.starts_with("event: control") {
                    offset = value["streamNextOffset"].as_str().unwrap_or(&offset).to_owned();
                    if let Some(ready) = waiting.take() {
                        ready.wait().await;
                    }
                    continue;
                }
                let now = epoch.elapsed().as_nanos() as f64;
                let mut seen = seen.lock().unwrap();
                for m in value.as_array().into_iter().flatten() {
                    let seq = m["seq"].as_u64().unwrap() as usize;
                    seen.push((seq, (now - m["t"].as_u64().unwrap() as f64) / 1e6));
                    if seq + 1 == FAN_OUT_MESSAGES {
                        return;
                    }
                }
            }
        }
    }
}

/// 1,000 subscribers plus the servers' own sockets need more descriptors than the
/// usual soft limit of 1024; the servers inherit the raised limit.
fn raise_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain libc calls on a stack value.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// One target's figures.
struct Measured {
    name: &'static str,
    rate: f64,
    p50: f64,
    p99: f64,
    errors: usize,
    first_mb_s: f64,
    mb_s: f64,
    fan: FanOut,
    /// Resident memory of the server just started, before any load, in MiB.
    idle_mib: f64,
}

impl Measured {
    fn row(&self) -> String {
        let fan = &self.fan;
        let notes: String = [
            (self.errors > 0).then(|| format!(" {} append errors.", self.errors)),
            (fan.sent < FAN_OUT_MESSAGES).then(|| {
                format!(
                    " Fan-out writer managed {} of {FAN_OUT_MESSAGES} messages in {} s.",
                    fan.sent,
                    FAN_OUT_WRITE_LIMIT.as_secs()
                )
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        format!(
            "| {:<36} | {:>9} | {:>6} | {:>6} | {:>7} | {:>7} | {:>6} | {:>6} | {:>4} | {:>4} | {:>6} | {:>6} |{notes}",
            self.name,
            cell(self.rate, 0),
            cell(self.p50, 2),
            cell(self.p99, 2),
            cell(self.first_mb_s, 1),
            cell(self.mb_s, 1),
            cell(fan.p50, 2),
            cell(fan.p99, 2),
            fan.lost,
            fan.duplicated,
            cell(fan.kib_per_subscriber, 1),
            cell(self.idle_mib, 1),
        )
    }

    /// This run's ratios to `base`'s: above 1 is better for rates, below 1 for times
    /// and memory.
    fn ratio(&self, base: &Measured) -> String {
        let x = |a: f64, b: f64| if (a / b).is_nan() { "-".to_owned() } else { format!("{:.2}x", a / b) };
        format!(
            "| {:<36} | {:>9} | {:>7} | {:>7} | {:>7} | {:>7} | {:>7} | {:>7} | | | {:>7} | {:>7} |",
            format!("{} / {}", self.name, base.name),
            x(self.rate, base.rate),
            x(self.p50, base.p50),
            x(self.p99, base.p99),
            x(self.first_mb_s, base.first_mb_s),
            x(self.mb_s, base.mb_s),
            x(self.fan.p50, base.fan.p50),
            x(self.fan.p99, base.fan.p99),
            x(self.fan.kib_per_subscriber, base.fan.kib_per_subscriber),
            x(self.idle_mib, base.idle_mib),
        )
    }
}

/// A figure with `decimals`, or `-` for a section that was not run.
fn cell(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else {
        format!("{value:.decimals$}")
    }
}

/// Whether `name` is in the comma-separated list in environment variable `var`
/// (everything is, when it is unset).
fn chosen(var: &str, name: &str) -> bool {
    std::env::var(var).map_or(true, |list| list.split(',').any(|n| n.trim() == name))
}

async fn measure(client: &reqwest::Client, target: Target, epoch: Instant) -> Measured {
    let target = Arc::new(target);
    eprintln!("benchmarking {} ...", target.name);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_mib = target.rss_kib() as f64 / 1024.0;
    let section = |name| chosen("BENCH_SECTIONS", name);
    let (rate, p50, p99, errors) =
        if section("appends") { appends(client, &target).await } else { (f64::NAN, f64::NAN, f64::NAN, 0) };
    let (first_mb_s, mb_s) = if section("catch-up") { catch_up(client, &target).await } else { (f64::NAN, f64::NAN) };
    let fan = if section("fan-out") { fan_out(&target, epoch).await } else { FanOut::skipped() };
    Measured { name: target.name, rate, p50, p99, errors, first_mb_s, mb_s, fan, idle_mib }
}

/// The target `start` gives, measured, if `chosen`.
async fn measure_if(
    chosen: bool,
    client: &reqwest::Client,
    start: impl std::future::Future<Output = Target>,
    epoch: Instant,
) -> Option<Measured> {
    if !chosen {
        return None;
    }
    Some(measure(client, start.await, epoch).await)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    raise_file_limit();
    assert!(
        conformance_dir().join("node_modules/@durable-streams/server").exists(),
        "the Node reference server is not installed: run `npm ci` in {}",
        conformance_dir().display()
    );
    let target = |name| chosen("BENCH_TARGETS", name);
    if target("official") {
        official_binary();
    }
    let epoch = Instant::now();
    let client = reqwest::Client::new();
    let reference_dir = tempfile::tempdir().unwrap();
    if chosen("BENCH_SECTIONS", "catch-up") {
        warm_up(&client).await;
    }
    // The file store and the official server alternate, twice, the second time in the
    // other order (file, official, official, file), so that neither gains from running
    // at a quieter moment.
    let mut pairs = Vec::new();
    for round in 0..2 {
        let file = || {
            measure_if(
                target("file"),
                &client,
                start_ours(["file store, run 1", "file store, run 2"][round], false),
                epoch,
            )
        };
        let official = || {
            let name = ["official Rust (wal), run 1", "official Rust (wal), run 2"][round];
            measure_if(target("official"), &client, start_official(name), epoch)
        };
        pairs.push(if round == 0 {
            let file = file().await;
            (file, official().await)
        } else {
            let official = official().await;
            (file().await, official)
        });
    }
    let postgres = measure_if(target("postgres"), &client, start_ours("PostgreSQL store", true), epoch).await;
    let node_file = start_reference("reference (Node), file mode", Some(reference_dir.path()));
    let node_memory = start_reference("reference (Node), in memory", None);
    let others = [
        measure_if(target("node"), &client, node_file, epoch).await,
        measure_if(target("node"), &client, node_memory, epoch).await,
    ];

    println!();
    println!(
        "appends: {WRITERS} writers, ~200-byte JSON, {} s; catch-up: {CATCH_UP_MESSAGES} messages; fan-out: \
         {SUBSCRIBERS} SSE subscribers, 1 append / {} ms, {FAN_OUT_MESSAGES} messages; superset-streams with \
         authentication on every request, the others without",
        APPEND_FOR.as_secs(),
        FAN_OUT_EVERY.as_millis()
    );
    println!();
    println!("| server | appends/s | append p50 ms | append p99 ms | first catch-up MB/s | catch-up MB/s | fan-out p50 ms | fan-out p99 ms | lost | dup | RSS KiB/subscriber | idle RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rows = pairs.iter().flat_map(|(file, official)| [file, official]).chain([&postgres]).flatten();
    for row in rows.chain(others.iter().flatten()) {
        println!("{}", row.row());
    }
    for (file, official) in &pairs {
        if let (Some(file), Some(official)) = (file, official) {
            println!("{}", file.ratio(official));
        }
    }
    // PostgreSQL's targets are relative to the file store's.
    if let (Some(postgres), Some(file)) = (&postgres, &pairs[0].0) {
        println!("{}", postgres.ratio(file));
    }
}
