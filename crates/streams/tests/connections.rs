//! What a connection may cost the streams server: a client that sends its request head
//! a byte at a time is cut off, and thousands of such clients do not stop `/health`
//! from answering.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use superset_testkit::TestDatabase;
use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The start of a request whose head never ends.
const UNENDING_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_sent_a_byte_a_second_is_cut_off() {
    let db = TestDatabase::sqlite();
    let server = TestServer::start_with(db.url(), |c| c.header_read_timeout_ms = 2_000).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let trickled = tokio::time::timeout(Duration::from_secs(30), async {
        for byte in UNENDING_HEAD.iter().chain([b'a'; 64].iter()) {
            if socket.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    trickled.await.expect("the slow client was not cut off");
    println!("cut off after {:?}", started.elapsed());
    server.stop().await;
}

/// 2,000 clients from 40 loopback addresses (under the per-client cap), each holding a
/// connection with an unfinished head; `/health` still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_two_thousand_slow_clients_hold_connections() {
    const CLIENTS: usize = 2_000;
    const ADDRESSES: usize = 40;
    let db = TestDatabase::sqlite();
    let server = TestServer::start_with(db.url(), |c| c.header_read_timeout_ms = 60_000).await;
    let mut slow = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let source = [127, 0, 1, 1 + (i % ADDRESSES) as u8];
        let mut socket = connect_from(source, server.addr).await;
        socket.write_all(UNENDING_HEAD).await.unwrap();
        slow.push(socket);
    }
    for socket in slow.iter_mut().step_by(100) {
        socket.write_all(b"a").await.unwrap();
    }
    let started = Instant::now();
    let mut health = TcpStream::connect(server.addr).await.unwrap();
    health.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), health.read_to_string(&mut answer))
        .await
        .expect("/health answered")
        .unwrap();
    println!("/health answered in {:?} with {CLIENTS} slow clients connected", started.elapsed());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(slow);
    server.stop().await;
}

async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}
