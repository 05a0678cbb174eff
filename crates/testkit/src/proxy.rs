use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const OPEN: u8 = 0;
const CUT: u8 = 1;
const STALLED: u8 = 2;

/// A loopback TCP proxy in front of a real server, to make it unreachable or silent on
/// demand while the server itself keeps running for other tests.
pub struct TcpProxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    /// Bumped on every cut, so live connections end.
    epoch: watch::Sender<u64>,
    links: Links,
}

/// The connections being forwarded.
type Links = Arc<Mutex<Vec<Weak<Link>>>>;

/// How much of what a client sends first is kept, to recognise its connection by.
const KEPT: usize = 4096;

/// One forwarded connection.
#[derive(Default)]
struct Link {
    /// The first bytes the client sent.
    sent: Mutex<Vec<u8>>,
    /// Nothing more is forwarded either way, but both ends stay open: half-open.
    stalled: AtomicBool,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(OPEN));
        let (epoch, _) = watch::channel(0u64);
        let links = Links::default();
        let (m, e, l) = (mode.clone(), epoch.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                match m.load(Ordering::SeqCst) {
                    CUT => drop(client),
                    STALLED => {
                        let mut ended = e.subscribe();
                        tokio::spawn(async move {
                            let _client = client;
                            let _ = ended.changed().await;
                        });
                    }
                    _ => {
                        let link = Arc::new(Link::default());
                        let mut live = l.lock().unwrap();
                        live.retain(|link| link.strong_count() > 0);
                        live.push(Arc::downgrade(&link));
                        tokio::spawn(pipe(client, upstream, link, e.subscribe()));
                    }
                }
            }
        });
        TcpProxy { addr, mode, epoch, links }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops every connection and refuses new ones: the server looks down.
    pub fn cut(&self) {
        self.mode.store(CUT, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Drops every connection; new ones are accepted but never answered: the server
    /// looks hung.
    pub fn stall(&self) {
        self.mode.store(STALLED, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Stalls the live connections whose client has sent `pattern` (early on, such as
    /// a `LISTEN` after connecting), and only those: they stay open on both sides but
    /// carry nothing more, like a connection whose peer vanished without a word. New
    /// connections are forwarded as before.
    pub fn stall_live_sending(&self, pattern: &[u8]) {
        for link in self.links.lock().unwrap().iter().filter_map(Weak::upgrade) {
            if link.sent.lock().unwrap().windows(pattern.len()).any(|w| w == pattern) {
                link.stalled.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.mode.store(OPEN, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }
}

async fn pipe(client: TcpStream, upstream: SocketAddr, link: Arc<Link>, mut ended: watch::Receiver<u64>) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = forward(client_read, server_write, &link, true) => {}
        _ = forward(server_read, client_write, &link, false) => {}
        _ = ended.changed() => {}
    }
}

/// Copies `from` to `to` until either closes; once the link is stalled, holds both open
/// and forwards nothing.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, link: &Link, from_client: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if link.stalled.load(Ordering::SeqCst) {
            return std::future::pending().await;
        }
        if from_client {
            let mut sent = link.sent.lock().unwrap();
            let room = KEPT.saturating_sub(sent.len());
            sent.extend_from_slice(&buf[..n.min(room)]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
