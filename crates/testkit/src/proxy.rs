use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

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
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(OPEN));
        let (epoch, _) = watch::channel(0u64);
        let (m, e) = (mode.clone(), epoch.clone());
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
                        tokio::spawn(pipe(client, upstream, e.subscribe()));
                    }
                }
            }
        });
        TcpProxy { addr, mode, epoch }
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

    /// Forwards again.
    pub fn restore(&self) {
        self.mode.store(OPEN, Ordering::SeqCst);
        self.epoch.send_modify(|e| *e += 1);
    }
}

async fn pipe(mut client: TcpStream, upstream: SocketAddr, mut ended: watch::Receiver<u64>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = ended.changed() => {}
    }
}
