//! Who may touch a stream, and what malformed requests get: another user's stream
//! answers 404 to everything (on both backends), bad paths and offsets 400 with a
//! reason, oversized appends 413, wrong content types 409.

mod stream_support;

use reqwest::{Method, StatusCode};
use superset_streams::StorageKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn status(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

async fn another_users_stream_is_invisible(storage: StorageKind) {
    let server = stream_support::start(storage, |_| {}).await;
    let put = server
        .request(Method::PUT, "private/notes")
        .header("content-type", "text/plain")
        .body("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201);
    let (_, intruder) = server.other_user("intruder@example.com").await;
    let as_intruder = |method: Method, query: &str| {
        server.client.request(method, format!("{}{query}", server.stream("private/notes"))).bearer_auth(&intruder)
    };

    assert_eq!(status(as_intruder(Method::GET, "")).await, 404, "GET");
    assert_eq!(status(as_intruder(Method::GET, "?offset=-1&live=long-poll")).await, 404, "long-poll");
    assert_eq!(status(as_intruder(Method::GET, "?offset=-1&live=sse")).await, 404, "SSE");
    assert_eq!(status(as_intruder(Method::HEAD, "")).await, 404, "HEAD");
    assert_eq!(status(as_intruder(Method::POST, "").header("content-type", "text/plain").body("x")).await, 404, "POST");
    assert_eq!(status(as_intruder(Method::POST, "").header("stream-closed", "true")).await, 404, "close");
    assert_eq!(status(as_intruder(Method::DELETE, "")).await, 404, "DELETE");
    let fork = server
        .client
        .put(server.stream("mine"))
        .bearer_auth(&intruder)
        .header("stream-forked-from", "/v1/stream/private/notes");
    assert_eq!(status(fork).await, 404, "fork of another user's stream");

    // A PUT at the same path makes the intruder's own stream; the owner's is untouched.
    let own = as_intruder(Method::PUT, "").header("content-type", "application/json").send().await.unwrap();
    assert_eq!(own.status(), 201);
    assert_eq!(as_intruder(Method::GET, "").send().await.unwrap().text().await.unwrap(), "[]");
    let owner_read = server.request(Method::GET, "private/notes").send().await.unwrap();
    assert_eq!(owner_read.headers()["content-type"], "text/plain");
    assert_eq!(owner_read.text().await.unwrap(), "secret");
    assert_eq!(status(server.request(Method::DELETE, "private/notes")).await, 204);
    assert_eq!(
        status(as_intruder(Method::HEAD, "")).await,
        200,
        "the intruder's own stream survives the owner's delete"
    );

    let anonymous = server.client.get(server.stream("private/notes"));
    assert_eq!(status(anonymous).await, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_stream_is_invisible_on_the_file_store() {
    another_users_stream_is_invisible(StorageKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_stream_is_invisible_on_postgres() {
    another_users_stream_is_invisible(StorageKind::Postgres).await;
}

/// Sends `target` verbatim (clients normalize `..` away) and returns the response head
/// and body.
async fn raw(addr: std::net::SocketAddr, token: &str, target: &str) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("PUT {target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_and_offsets_get_400_with_a_reason() {
    let server = stream_support::start(StorageKind::File, |_| {}).await;
    for target in
        ["/v1/stream/a/../b", "/v1/stream/a/%2E%2E/b", "/v1/stream/a//b", "/v1/stream/a%20b", "/v1/stream/a%00b"]
    {
        let response = raw(server.addr, &server.token, target).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{target}: {response}");
        assert!(response.contains("stream path"), "{target}: the reason is given: {response}");
    }
    let long = "a".repeat(1100);
    let response = server.request(Method::PUT, &long).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("longer than"));

    server.request(Method::PUT, "ok").header("content-type", "text/plain").body("hello").send().await.unwrap();
    for (query, reason) in [
        ("?offset=abc", "malformed"),
        ("?offset=", "malformed"),
        ("?offset=0000000000000000_0000000000000099", "past the end"),
        ("?offset=-1&offset=now", "once"),
        ("?live=sse", "need an offset"),
        ("?offset=-1&live=forever", "long-poll or sse"),
    ] {
        let response = server
            .client
            .get(format!("{}{query}", server.stream("ok")))
            .bearer_auth(&server.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body = response.text().await.unwrap();
        assert!(body.contains(reason), "{query}: {body}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_appends_get_413_and_wrong_content_types_409() {
    let server = stream_support::start(StorageKind::File, |c| c.max_append_bytes = 4096).await;
    server.request(Method::PUT, "limited").header("content-type", "text/plain").send().await.unwrap();
    let big = server
        .request(Method::POST, "limited")
        .header("content-type", "text/plain")
        .body(vec![b'x'; 5000])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let fits = server
        .request(Method::POST, "limited")
        .header("content-type", "text/plain")
        .body(vec![b'x'; 4000])
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status(), 204);

    let wrong = server
        .request(Method::POST, "limited")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 409);
    assert!(wrong.text().await.unwrap().contains("does not match"));
    let missing = server.request(Method::POST, "limited").body("data").send().await.unwrap();
    assert_eq!(missing.status(), 400);

    let read = server.request(Method::GET, "limited").send().await.unwrap();
    assert_eq!(read.bytes().await.unwrap().len(), 4000, "refused appends left nothing behind");
    server.stop().await;
}
