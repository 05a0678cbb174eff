//! What a connection may cost the auth server: a request head or body sent a byte at a
//! time is cut off (the accept loop shared with the streams server, with API_* settings).

mod support;

use std::time::{Duration, Instant};

use superset_testkit::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `bytes` one a second until the server stops taking them; how long that took.
async fn trickle(socket: &mut TcpStream, bytes: &[u8]) -> Duration {
    let started = Instant::now();
    let sent = tokio::time::timeout(Duration::from_secs(30), async {
        for byte in bytes {
            if socket.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    sent.await.expect("the slow client was not cut off");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_bodies_are_cut_off() {
    let db = TestDatabase::sqlite();
    let api = support::start_api(&db, |c| {
        c.header_read_timeout_ms = 2_000;
        c.body_read_timeout_ms = 2_000;
    })
    .await;
    let mut head = TcpStream::connect(api.addr).await.unwrap();
    let took = trickle(&mut head, &[b'x'; 60]).await;
    println!("slow head cut off after {took:?}");

    let mut body = TcpStream::connect(api.addr).await.unwrap();
    let request = "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                   Content-Length: 60\r\n\r\n";
    body.write_all(request.as_bytes()).await.unwrap();
    let took = trickle(&mut body, &[b'x'; 60]).await;
    println!("slow body cut off after {took:?}");
    let mut answer = Vec::new();
    let _ = body.read_to_end(&mut answer).await;
    assert!(!String::from_utf8_lossy(&answer).contains(" 200 "));
    api.stop().await;
}
