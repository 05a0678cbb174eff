//! Per-user limits: over each one a user gets `429` with `Retry-After` and a body
//! naming the limit, while another user is unaffected. What is stored is counted by
//! the store, on both backends, and the count survives a restart.

mod stream_support;

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use stream_support::Running;
use superset_streams::{Config, StorageKind};
use uuid::Uuid;

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::StorageKind::Postgres).await })*
        }
        mod file {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::StorageKind::File).await })*
        }
    };
}

on_both_stores!(
    the_stream_past_the_limit_is_refused_and_the_count_survives_a_restart,
    the_session_past_the_limit_is_refused,
    an_append_past_the_byte_limit_stores_none_of_it,
);

/// Asserts `response` is the 429 of `limit`.
async fn assert_limited(response: Response, limit: &str) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "Too many requests", "limit": limit}));
}

async fn create(server: &Running, token: &str, path: &str) -> Response {
    server.client.put(server.stream(path)).bearer_auth(token).header("content-type", "text/plain").send().await.unwrap()
}

async fn append(server: &Running, token: &str, path: &str, body: Vec<u8>) -> Response {
    let request = server.client.post(server.stream(path)).bearer_auth(token).header("content-type", "text/plain");
    request.body(body).send().await.unwrap()
}

fn session(server: &Running, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    server.client.request(method, server.url(path)).bearer_auth(token)
}

async fn the_stream_past_the_limit_is_refused_and_the_count_survives_a_restart(storage: StorageKind) {
    let limit: fn(&mut Config) = |c| c.user_limits.max_streams = 3;
    let mut server = stream_support::start(storage, limit).await;
    let token = server.token.clone();
    for i in 0..3 {
        assert_eq!(create(&server, &token, &format!("s{i}")).await.status(), StatusCode::CREATED);
    }
    assert_limited(create(&server, &token, "s3").await, "streams").await;
    // An existing stream is still answered: an idempotent PUT creates nothing.
    assert_eq!(create(&server, &token, "s0").await.status(), StatusCode::OK);
    let (_, other) = server.other_user("other@example.com").await;
    assert_eq!(create(&server, &other, "s0").await.status(), StatusCode::CREATED);

    server.restart(storage, limit).await;
    assert_limited(create(&server, &token, "s3").await, "streams").await;
    let deleted = server.client.delete(server.stream("s1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(create(&server, &token, "s3").await.status(), StatusCode::CREATED);
    assert_limited(create(&server, &token, "s4").await, "streams").await;
    if storage == StorageKind::Postgres {
        the_count_is_shared_and_recounted(&mut server, limit).await;
    }
    server.stop().await;
}

/// Another instance on the same database counts the same streams, and a count that
/// went wrong (say, written by a server without it) is put right at the next start.
async fn the_count_is_shared_and_recounted(server: &mut Running, limit: fn(&mut Config)) {
    let data = server.data.path().join("b");
    let b = stream_support::serve(server.database.url(), StorageKind::Postgres, data, limit).await;
    let on_b = server.client.put(b.url("/v1/stream/s5")).bearer_auth(&server.token);
    assert_limited(on_b.header("content-type", "text/plain").send().await.unwrap(), "streams").await;
    b.stop().await.unwrap();

    let pool = server.db.pg_pool().unwrap().clone();
    sqlx::query("UPDATE streams.owners SET streams = 0, bytes = 0").execute(&pool).await.unwrap();
    server.restart(StorageKind::Postgres, limit).await;
    assert_limited(create(server, &server.token, "s5").await, "streams").await;
}

async fn the_session_past_the_limit_is_refused(storage: StorageKind) {
    let server = stream_support::start(storage, |c| c.user_limits.max_sessions = 2).await;
    let token = server.token.clone();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let id = Uuid::new_v4().to_string();
        let created = session(&server, &token, Method::PUT, &format!("/v1/sessions/{id}")).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        ids.push(id);
    }
    let third = Uuid::new_v4();
    assert_limited(
        session(&server, &token, Method::PUT, &format!("/v1/sessions/{third}")).send().await.unwrap(),
        "sessions",
    )
    .await;
    let fork = session(&server, &token, Method::POST, &format!("/v1/sessions/{}/fork", ids[0])).json(&json!({}));
    assert_limited(fork.send().await.unwrap(), "sessions").await;
    let again = session(&server, &token, Method::PUT, &format!("/v1/sessions/{}", ids[1])).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK, "an existing session is still answered");
    let (_, other) = server.other_user("other@example.com").await;
    let theirs = session(&server, &other, Method::PUT, &format!("/v1/sessions/{third}")).send().await.unwrap();
    assert_eq!(theirs.status(), StatusCode::CREATED);

    let deleted = session(&server, &token, Method::DELETE, &format!("/v1/sessions/{}", ids[1])).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let fork = session(&server, &token, Method::POST, &format!("/v1/sessions/{}/fork", ids[0])).json(&json!({}));
    assert_eq!(fork.send().await.unwrap().status(), StatusCode::CREATED);

    // Creations racing for the last place: exactly one gets it.
    let racing =
        (0..5).map(|_| session(&server, &other, Method::PUT, &format!("/v1/sessions/{}", Uuid::new_v4())).send());
    let statuses: Vec<StatusCode> =
        futures::future::join_all(racing).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 4, "{statuses:?}");
    server.stop().await;
}

async fn an_append_past_the_byte_limit_stores_none_of_it(storage: StorageKind) {
    let limit = |c: &mut Config| c.user_limits.max_bytes = 1000;
    let mut server = stream_support::start(storage, limit).await;
    let token = server.token.clone();
    assert_eq!(create(&server, &token, "log").await.status(), StatusCode::CREATED);
    assert!(append(&server, &token, "log", vec![b'a'; 600]).await.status().is_success());
    assert_limited(append(&server, &token, "log", vec![b'b'; 401]).await, "bytes").await;
    let read = server.client.get(server.stream("log?offset=-1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(read.bytes().await.unwrap(), vec![b'a'; 600], "nothing of the refused append is stored");
    // A stream's initial body counts too.
    let put = server.client.put(server.stream("big")).bearer_auth(&token).header("content-type", "text/plain");
    assert_limited(put.body(vec![b'c'; 401]).send().await.unwrap(), "bytes").await;
    let head = server.client.head(server.stream("big")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::NOT_FOUND);
    assert!(append(&server, &token, "log", vec![b'b'; 400]).await.status().is_success(), "up to the limit itself");
    let (_, other) = server.other_user("other@example.com").await;
    assert_eq!(create(&server, &other, "log").await.status(), StatusCode::CREATED);
    assert!(append(&server, &other, "log", vec![b'x'; 1000]).await.status().is_success());

    server.restart(storage, limit).await;
    assert_limited(append(&server, &token, "log", vec![b'd']).await, "bytes").await;
    // Chat sessions are stored data like any other.
    let id = Uuid::new_v4();
    let created = session(&server, &token, Method::PUT, &format!("/v1/sessions/{id}")).send().await.unwrap();
    assert_limited(created, "bytes").await;
    let deleted = server.client.delete(server.stream("log")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let created = session(&server, &token, Method::PUT, &format!("/v1/sessions/{id}")).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let message = session(&server, &token, Method::POST, &format!("/v1/sessions/{id}/messages"));
    assert_limited(message.json(&json!({"content": "x".repeat(1000)})).send().await.unwrap(), "bytes").await;
    server.stop().await;
}

/// Live reads are counted per user on the instance: the file store suffices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_readers_past_the_limit_are_refused_until_one_ends() {
    let server = stream_support::start(StorageKind::File, |c| c.user_limits.max_readers = 2).await;
    let token = server.token.clone();
    assert_eq!(create(&server, &token, "live").await.status(), StatusCode::CREATED);
    let sse = || server.client.get(server.stream("live?offset=-1&live=sse")).bearer_auth(&token).send();
    let first = sse().await.unwrap();
    let second = sse().await.unwrap();
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    assert_limited(sse().await.unwrap(), "readers").await;
    let long_poll = server.client.get(server.stream("live?offset=-1&live=long-poll")).bearer_auth(&token);
    assert_limited(long_poll.send().await.unwrap(), "readers").await;
    // Catch-up reads are not live reads.
    let read = server.client.get(server.stream("live?offset=-1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let (_, other) = server.other_user("other@example.com").await;
    assert_eq!(create(&server, &other, "live").await.status(), StatusCode::CREATED);
    let theirs = server.client.get(server.stream("live?offset=-1&live=sse")).bearer_auth(&other).send().await.unwrap();
    assert_eq!(theirs.status(), StatusCode::OK);

    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = sse().await.unwrap();
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a closed reader frees its place");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((second, theirs));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_burst_is_refused_then_recovers() {
    let server = stream_support::start(StorageKind::File, |c| {
        c.user_limits.requests_per_second = 2;
        c.user_limits.request_burst = 10;
    })
    .await;
    let me = |token: &str| server.client.get(server.url("/v1/me")).bearer_auth(token).send();
    let mut refused = None;
    for i in 0..30 {
        let response = me(&server.token).await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(i >= 10, "the burst is admitted whole");
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = refused.expect("a burst past the limit is refused");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_limited(refused, "requests").await;
    let (_, other) = server.other_user("other@example.com").await;
    assert_eq!(me(&other).await.unwrap().status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(me(&server.token).await.unwrap().status(), StatusCode::OK, "admitted again after Retry-After");
    server.stop().await;
}
