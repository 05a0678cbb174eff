//! The published Durable Streams conformance suite
//! (`@durable-streams/server-conformance-tests`, installed by `npm ci` in `conformance/`)
//! against this server, on both storage backends, with a real session token.
//!
//! The suite sends no `Authorization` header, so it talks to a small proxy in this test
//! that adds the token of a user signed in through the auth database. Authentication
//! stays fully on; the suite just runs as that user.

mod stream_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{AUTHORIZATION, CONNECTION, TRANSFER_ENCODING};
use axum::response::Response;
use axum::Router;
use superset_streams::StorageKind;

/// The suite's two bare long-polls must see a 204 within 5 s.
const LONG_POLL_MS: u64 = 2_000;

fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance")
}

/// Runs the suite against `storage`; returns its exit success and its output.
async fn run_suite(storage: StorageKind) -> (bool, String) {
    let cli = conformance_dir().join("node_modules/.bin/durable-streams-server-conformance");
    assert!(
        cli.exists(),
        "the conformance suite is not installed: run `npm ci` in {} first",
        conformance_dir().display()
    );
    let server = stream_support::start(storage, |c| {
        c.long_poll_timeout_ms = LONG_POLL_MS;
        c.cors_origins = vec!["*".into()];
        // The suite runs as one user and bursts past the per-user request rate on a
        // fast machine; the rate limit has tests of its own (limits.rs).
        c.user_limits.requests_per_second = u32::MAX;
        c.user_limits.request_burst = u32::MAX;
    })
    .await;
    let proxy = authorizing_proxy(server.addr, server.token.clone()).await;
    // The CLI looks for vitest on PATH.
    let bin = conformance_dir().join("node_modules/.bin");
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let output = tokio::process::Command::new(&cli)
        .arg("--run")
        .env("PATH", path)
        .arg(format!("http://{proxy}"))
        .current_dir(conformance_dir())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run the conformance CLI");
    server.stop().await;
    let text =
        strip_ansi(&String::from_utf8_lossy(&output.stdout)) + &strip_ansi(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Forwards every request to `target` with `Authorization: Bearer <token>` added,
/// streaming responses (SSE) through as they come.
async fn authorizing_proxy(target: SocketAddr, token: String) -> SocketAddr {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let app = Router::new().fallback(move |request: Request| forward(client.clone(), target, token.clone(), request));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn forward(client: reqwest::Client, target: SocketAddr, token: String, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("request body");
    let mut outgoing = client.request(parts.method, format!("http://{target}{path}"));
    for (name, value) in &parts.headers {
        if name != CONNECTION && name != TRANSFER_ENCODING {
            outgoing = outgoing.header(name, value);
        }
    }
    let upstream = match outgoing.header(AUTHORIZATION, format!("Bearer {token}")).body(body).send().await {
        Ok(upstream) => upstream,
        Err(e) => return Response::builder().status(502).body(Body::from(e.to_string())).unwrap(),
    };
    let mut response = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if name != CONNECTION && name != TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    response.body(Body::from_stream(upstream.bytes_stream())).unwrap()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The vitest summary line, e.g. `Tests  312 passed | 5 skipped (317)`.
fn summary(output: &str) -> String {
    output.lines().rfind(|l| l.trim_start().starts_with("Tests")).unwrap_or("(no summary)").trim().to_owned()
}

/// The suite's size at the pinned version (conformance/package-lock.json): a run that
/// passes fewer (a suite that found no tests, a filter left in) is not a pass.
const EXPECTED_PASSED: u32 = 332;
/// The optional subscription and webhook sections (protocol §6-7) this server does not
/// implement.
const EXPECTED_SKIPPED: u32 = 6;

/// `(passed, skipped)` from the summary line.
fn counts(summary: &str) -> (u32, u32) {
    let count = |word: &str| {
        summary
            .split(['|', '('])
            .find_map(|part| part.trim().strip_suffix(word)?.split_whitespace().last()?.parse().ok())
            .unwrap_or(0)
    };
    (count(" passed"), count(" skipped"))
}

/// The failing tests' names, from vitest's `FAIL` lines.
fn failures(output: &str) -> Vec<&str> {
    output.lines().filter(|l| l.contains("FAIL") || l.trim_start().starts_with('×')).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_on_both_backends() {
    let mut failed = Vec::new();
    for storage in [StorageKind::File, StorageKind::Postgres] {
        let (ok, output) = run_suite(storage).await;
        let summary = summary(&output);
        println!("conformance on {storage:?} storage: {summary}");
        if ok && counts(&summary) != (EXPECTED_PASSED, EXPECTED_SKIPPED) {
            failed.push(format!(
                "{storage:?}: expected {EXPECTED_PASSED} passed and {EXPECTED_SKIPPED} skipped, the suite said: {summary}"
            ));
        }
        if !ok {
            println!("{output}");
            failed.push(format!("{storage:?}: {summary}\n{}", failures(&output).join("\n")));
        }
    }
    assert!(failed.is_empty(), "the conformance suite failed:\n{}", failed.join("\n\n"));
}

#[test]
fn counts_read_the_vitest_summary() {
    assert_eq!(counts("Tests  332 passed | 6 skipped (338)"), (332, 6));
    assert_eq!(counts("Tests  3 failed | 329 passed | 6 skipped (338)"), (329, 6));
    assert_eq!(counts("Tests  no tests"), (0, 0));
}
