//! The accept loop on loopback with a real router: each timeout cuts off the client it
//! is for and spares the others, the connection caps hold, handlers see the peer's
//! address, and shutdown waits for requests in flight.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use axum::Router;
use superset_edge::serve::{bind, serve, Limits};
use superset_edge::Running;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const GENEROUS: Limits = Limits {
    header_read_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(30),
    body_read_timeout: Duration::from_secs(30),
    max_connections: 1000,
    max_connections_per_client: 0,
};

async fn start(limits: Limits) -> Running {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "done"
            }),
        )
        .route("/echo", post(|body: Bytes| async move { body }));
    let listener = bind("127.0.0.1", 0).await.unwrap();
    Running::spawn(listener.local_addr().unwrap(), |stop| serve(listener, app, limits, stop))
}

/// A connection from `source` (any loopback address) to `addr`.
async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(socket: &mut TcpStream, within: Duration) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.unwrap_or_else(|_| panic!("the server kept the connection open past {within:?}"));
    String::from_utf8_lossy(&received).into_owned()
}

async fn get_once(socket: &mut TcpStream, path: &str) -> String {
    socket.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = socket.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_head_sent_a_byte_a_second_is_cut_off() {
    let server = start(Limits { header_read_timeout: Duration::from_secs(2), ..GENEROUS }).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let trickle = async {
        for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if socket.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), trickle).await.expect("the server stopped reading");
    assert!(started.elapsed() < Duration::from_secs(20));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off() {
    let server = start(Limits { body_read_timeout: Duration::from_secs(1), ..GENEROUS }).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n").await.unwrap();
    let trickle = async {
        for _ in 0..100 {
            if socket.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), trickle).await;
    let answer = until_closed(&mut socket, Duration::from_secs(10)).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // A body that arrives in time is fine.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .unwrap();
    let answer = until_closed(&mut socket, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");
}

#[tokio::test]
async fn an_idle_connection_is_closed_but_a_slow_answer_is_not() {
    let server = start(Limits {
        idle_timeout: Duration::from_millis(500),
        header_read_timeout: Duration::from_secs(30),
        ..GENEROUS
    })
    .await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    // The handler takes three idle timeouts to answer: a request in progress is not idle.
    let answer = get_once(&mut socket, "/slow").await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"), "{answer}");
    until_closed(&mut socket, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn connections_are_capped_per_client_and_in_total() {
    let server = start(Limits { max_connections: 6, max_connections_per_client: 3, ..GENEROUS }).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 2], server.addr).await);
    }
    // Let the server admit them before the next one arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = connect_from([127, 0, 0, 2], server.addr).await;
    assert_eq!(until_closed(&mut over, Duration::from_secs(5)).await, "");
    let mut other = connect_from([127, 0, 0, 3], server.addr).await;
    assert!(get_once(&mut other, "/health").await.starts_with("HTTP/1.1 200"));
    for _ in 0..2 {
        held.push(connect_from([127, 0, 0, 4], server.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut beyond_total = connect_from([127, 0, 0, 5], server.addr).await;
    assert_eq!(until_closed(&mut beyond_total, Duration::from_secs(5)).await, "");
    // A place freed is a place to take.
    held.truncate(0);
    drop(other);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect_from([127, 0, 0, 2], server.addr).await;
    assert!(get_once(&mut again, "/health").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let server = start(GENEROUS).await;
    let mut socket = connect_from([127, 0, 0, 7], server.addr).await;
    let local = socket.local_addr().unwrap();
    let answer = get_once(&mut socket, "/peer").await;
    assert!(answer.ends_with(&local.to_string()), "{answer} (expected {local})");
}

#[tokio::test]
async fn shutdown_waits_for_the_request_in_flight() {
    let server = start(GENEROUS).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = server.addr;
    let stopped = tokio::spawn(server.stop());
    let answer = until_closed(&mut socket, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"), "{answer}");
    tokio::time::timeout(Duration::from_secs(5), stopped).await.expect("serve returned").unwrap().unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}
