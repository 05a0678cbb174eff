//! Responses marked `Detach` on loopback: sent outside hyper (chunked over HTTP/1.1,
//! as they come over HTTP/1.0), the connection closed after them, still counted among
//! the client's connections, cut off when the client goes away or stops reading, and
//! waited for at shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use superset_edge::serve::{bind, serve, Limits};
use superset_edge::{Detach, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: Limits = Limits {
    header_read_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(30),
    body_read_timeout: Duration::from_secs(30),
    max_connections: 1000,
    max_connections_per_client: 1,
};

/// Set when a response body is dropped: its sending has ended.
#[derive(Clone, Default)]
struct Dropped(Arc<AtomicBool>);

struct Guard(Dropped);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0 .0.store(true, Ordering::SeqCst);
    }
}

impl Dropped {
    async fn within(&self, limit: Duration) {
        let started = Instant::now();
        while !self.0.load(Ordering::SeqCst) {
            assert!(started.elapsed() < limit, "the body was still held after {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A detached response whose body is `chunks`, each after `pause`, then (if `forever`)
/// 64 KiB chunks without end.
fn detached(chunks: &'static [&'static str], pause: Duration, forever: bool, dropped: Dropped) -> Response {
    let guard = Guard(dropped);
    let stream = futures::stream::unfold((0, guard), move |(i, guard)| async move {
        tokio::time::sleep(pause).await;
        let chunk = match chunks.get(i) {
            Some(chunk) => Bytes::from_static(chunk.as_bytes()),
            None if forever => Bytes::from(vec![b'x'; 64 << 10]),
            None => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(chunk), (i + 1, guard)))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
    response.extensions_mut().insert(Detach { stall_timeout: Duration::from_secs(1) });
    response
}

async fn start(dropped: Dropped) -> Running {
    let (a, b, c) = (dropped.clone(), dropped.clone(), dropped);
    let app = Router::new()
        .route(
            "/events",
            get(move || async move { detached(&["one\n", "two\n"], Duration::from_millis(100), false, a) }),
        )
        .route("/endless", get(move || async move { detached(&[], Duration::from_millis(1), true, b) }))
        .route("/slow", get(move || async move { detached(&["a\n", "b\n"], Duration::from_millis(500), false, c) }))
        .route("/health", get(|| async { "ok" }));
    let listener = bind("127.0.0.1", 0).await.unwrap();
    Running::spawn(listener.local_addr().unwrap(), |stop| serve(listener, app, LIMITS, stop))
}

async fn request(addr: std::net::SocketAddr, path: &str, version: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(format!("GET {path} {version}\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    socket
}

/// A request whose `200` head has arrived, the body not yet read.
async fn answered(addr: std::net::SocketAddr, path: &str, version: &str) -> TcpStream {
    let mut socket = request(addr, path, version).await;
    let head = head(&mut socket).await;
    assert!(head.starts_with(&format!("{version} 200 OK\r\n")), "{head}");
    socket
}

/// Everything the server sends until it closes the connection (a refused connection
/// may be reset: the request it was sent is never read).
async fn until_closed(socket: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = socket.read(&mut buf).await {
            received.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("the server kept the connection open");
    String::from_utf8(received).unwrap()
}

/// The response head, read byte by byte so nothing after it is taken.
async fn head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(socket.read_u8().await.unwrap());
    }
    String::from_utf8(head).unwrap()
}

/// The chunked body's data, and whether it ended with the last chunk.
fn dechunk(mut body: &str) -> (String, bool) {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            return (data, rest == "\r\n");
        }
        data.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    (data, false)
}

#[tokio::test]
async fn a_detached_response_is_sent_chunked_and_its_connection_closed() {
    let dropped = Dropped::default();
    let server = start(dropped.clone()).await;
    let mut socket = request(server.addr, "/events", "HTTP/1.1").await;
    let answer = until_closed(&mut socket).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    for header in ["content-type: text/event-stream", "transfer-encoding: chunked", "connection: close", "date: "] {
        assert!(head.contains(header), "{header} missing from {head}");
    }
    assert_eq!(dechunk(body), ("one\ntwo\n".to_owned(), true), "{body:?}");
    dropped.within(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn over_http_1_0_a_detached_response_is_sent_as_it_comes_and_ended_by_closing() {
    let dropped = Dropped::default();
    let server = start(dropped.clone()).await;
    let mut socket = request(server.addr, "/events", "HTTP/1.0").await;
    let answer = until_closed(&mut socket).await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200 OK\r\n") && head.contains("connection: close"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert_eq!(body, "one\ntwo\n");
    dropped.within(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_detached_response_keeps_its_place_until_the_client_goes() {
    let dropped = Dropped::default();
    let server = start(dropped.clone()).await;
    let first = answered(server.addr, "/endless", "HTTP/1.1").await;
    // The client may have one connection, and the detached response is it.
    let mut second = request(server.addr, "/health", "HTTP/1.1").await;
    assert_eq!(until_closed(&mut second).await, "");
    drop(first);
    dropped.within(Duration::from_secs(5)).await;
    let started = Instant::now();
    loop {
        let mut again = request(server.addr, "/health", "HTTP/1.1").await;
        if until_closed(&mut again).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the place was not given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let dropped = Dropped::default();
        let server = start(dropped.clone()).await;
        let _socket = answered(server.addr, "/endless", version).await;
        // Read nothing more: the socket's buffers fill, and a second later the server gives up.
        dropped.within(Duration::from_secs(15)).await;
    }
}

#[tokio::test]
async fn shutdown_waits_for_a_detached_response_to_end() {
    let server = start(Dropped::default()).await;
    let mut socket = answered(server.addr, "/slow", "HTTP/1.1").await;
    let started = Instant::now();
    let stopped = tokio::spawn(server.stop());
    let (body, ended) = dechunk(&until_closed(&mut socket).await);
    assert_eq!((body.as_str(), ended), ("a\nb\n", true));
    tokio::time::timeout(Duration::from_secs(5), stopped).await.expect("serve returned").unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500), "serve returned before the response ended");
}
