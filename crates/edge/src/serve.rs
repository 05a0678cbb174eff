//! Binding the listening socket, and the accept loop both servers run instead of `axum::serve`, which drives hyper without
//! a timer and so never times anything out: here a client that sends its request head
//! or body slowly, or holds a connection without using it, is cut off, and no address
//! (nor everyone together) can hold more connections than the operator allows.
//!
//! Shutdown is graceful: the listener closes, idle connections close at once, and the
//! loop returns when every request in flight has been answered. Responses that would
//! run on (SSE, long-poll) must be ended by the application on the same signal.
//!
//! A response marked [`Detach`](crate::detach::Detach) is sent outside hyper.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::address::client_group;
use crate::detach::{self, Detach};

/// The server cannot listen where its settings say.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    addr: String,
    source: io::Error,
}

/// Binds `host:port` (port 0: any free port), ready for [`serve`].
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, BindError> {
    let addr = format!("{host}:{port}");
    match TcpListener::bind(&addr).await {
        // The bound address is read (and unwrapped) later: check now that it can be.
        Ok(listener) => listener.local_addr().map(|_| listener).map_err(|source| BindError { addr, source }),
        Err(source) => Err(BindError { addr, source }),
    }
}

/// What a connection may cost the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// How long a request's head may take to arrive, counted from when the server is
    /// ready for it: after the connection opens, or after the previous response.
    pub header_read_timeout: Duration,
    /// How long a connection with no request in progress may stay open without sending
    /// a byte (the keep-alive timeout).
    pub idle_timeout: Duration,
    /// How long a request's body may take to arrive in full.
    pub body_read_timeout: Duration,
    /// Open connections, all clients together.
    pub max_connections: usize,
    /// Open connections from one client address (IPv6: one /64); 0 for no limit (behind
    /// a load balancer every connection comes from the balancer).
    pub max_connections_per_client: usize,
}

/// Serves `app` on `listener` until `signal` resolves, then shuts down gracefully.
/// Handlers can read the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let admission = Arc::new(Admission::new(limits));
    let graceful = GracefulShutdown::new();
    let detached = TaskTracker::new();
    tokio::pin!(signal);
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after(error).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let Some(slot) = Admission::admit(&admission, peer.ip()) else {
            tracing::debug!(client = %peer.ip(), "connection refused: too many open");
            continue;
        };
        // Responses and SSE events are small writes, each complete: holding one back
        // until the previous is acknowledged (Nagle) only adds the peer's delayed ACK.
        if let Err(error) = socket.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let activity = Arc::new(Activity::default());
        let service = PerConnection {
            app: app.clone(),
            peer,
            limits,
            activity: activity.clone(),
            slot: Arc::new(slot),
            detached: detached.clone(),
        };
        let io = TokioIo::new(Watched { socket: Some(socket), activity: activity.clone() });
        let connection = graceful.watch(builder.serve_connection_with_upgrades(io, service).into_owned());
        let idle_timeout = limits.idle_timeout;
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        if !activity.is_detached() {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                    }
                }
                () = activity.idle_for(idle_timeout) => tracing::debug!("idle connection closed"),
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    detached.close();
    detached.wait().await;
    Ok(())
}

/// After a failed `accept`: errors about one connection are skipped; others (out of
/// file descriptors) would repeat at once, so the loop waits a little first.
async fn pause_after(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::warn!(%error, "cannot accept connections");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The app as hyper calls it for one connection: the peer's address in every request
/// (as `into_make_service_with_connect_info` puts it), request bodies under a deadline,
/// every request counted in `activity` until its response is done, and responses
/// marked [`Detach`] handed to a task of their own.
#[derive(Clone)]
struct PerConnection {
    app: Router,
    peer: SocketAddr,
    limits: Limits,
    activity: Arc<Activity>,
    /// The connection's place among those open; a detached response keeps it.
    slot: Arc<Slot>,
    detached: TaskTracker,
}

impl hyper::service::Service<http::Request<Incoming>> for PerConnection {
    type Response = http::Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let detachable = request.method() == http::Method::GET && request.version() <= http::Version::HTTP_11;
        let chunked = request.version() == http::Version::HTTP_11;
        let request = request.map(|body| Deadline::new(body, self.limits.body_read_timeout));
        let in_flight = Activity::begin(&self.activity);
        let this = self.clone();
        Box::pin(async move {
            let response = this.app.clone().oneshot(request).await?;
            let response = match response.extensions().get::<Detach>() {
                Some(&detach) if detachable => this.detach(response, detach, chunked),
                _ => response,
            };
            Ok(response.map(|body| Tracked { body, _in_flight: in_flight }))
        })
    }
}

impl PerConnection {
    /// Sends `response` from a task of its own once hyper lets go of the socket, and
    /// leaves hyper an empty response to fail writing, which ends its connection.
    fn detach(
        &self,
        response: http::Response<axum::body::Body>,
        detach: Detach,
        chunked: bool,
    ) -> http::Response<axum::body::Body> {
        let (sender, socket) = oneshot::channel();
        self.activity.detach(sender);
        let (parts, body) = response.into_parts();
        let head = detach::head(parts, chunked);
        let slot = self.slot.clone();
        self.detached.spawn(async move {
            let _slot = slot;
            if let Ok(socket) = socket.await {
                detach::send(socket, head, body, chunked, detach.stall_timeout).await;
            }
        });
        http::Response::default()
    }
}

/// Counts open connections, in total and per client group.
struct Admission {
    limits: Limits,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
struct Slot {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Admission {
    fn new(limits: Limits) -> Self {
        Admission { limits, open: Mutex::default() }
    }

    fn admit(this: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let client = client_group(ip);
        let mut open = this.open.lock().unwrap_or_else(|e| e.into_inner());
        let per_client_cap = match this.limits.max_connections_per_client {
            0 => usize::MAX,
            cap => cap,
        };
        let from_client = open.per_client.get(&client).copied().unwrap_or(0);
        if open.total >= this.limits.max_connections || from_client >= per_client_cap {
            return None;
        }
        open.total += 1;
        *open.per_client.entry(client).or_default() += 1;
        Some(Slot { admission: this.clone(), client })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.admission.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        if let Some(count) = open.per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.per_client.remove(&self.client);
            }
        }
    }
}

/// What a connection is doing: requests in progress, when it last moved a byte, and
/// whether its socket is to leave hyper.
struct Activity {
    opened: std::time::Instant,
    /// Milliseconds after `opened`.
    last_moved: AtomicU64,
    in_flight: AtomicUsize,
    detached: AtomicBool,
    /// Where the socket goes once hyper drops it, when detached.
    handoff: Mutex<Option<oneshot::Sender<TcpStream>>>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            opened: std::time::Instant::now(),
            last_moved: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            detached: AtomicBool::new(false),
            handoff: Mutex::new(None),
        }
    }
}

/// A request in progress; dropping it (the response is done) lets the connection idle.
struct InFlight(Arc<Activity>);

impl Activity {
    fn moved(&self) {
        self.last_moved.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn detach(&self, handoff: oneshot::Sender<TcpStream>) {
        *self.handoff.lock().unwrap_or_else(|e| e.into_inner()) = Some(handoff);
        self.detached.store(true, Ordering::Release);
    }

    fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    fn begin(this: &Arc<Self>) -> InFlight {
        this.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(this.clone())
    }

    /// Resolves once the connection has had no request in progress and moved no byte
    /// for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last = self.opened + Duration::from_millis(self.last_moved.load(Ordering::Relaxed));
            let deadline = Instant::from_std(last) + timeout;
            if deadline <= Instant::now() && self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::time::sleep_until(deadline.max(Instant::now() + (timeout / 4).max(Duration::from_millis(10)))).await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.moved();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The socket, noting every byte that moves in `activity`. Once the connection is
/// detached, hyper reads an end and fails to write, and the socket goes to the
/// detached response's task when hyper drops this.
struct Watched {
    socket: Option<TcpStream>,
    activity: Arc<Activity>,
}

impl Watched {
    /// The socket while hyper still has it.
    fn socket(&mut self) -> Option<Pin<&mut TcpStream>> {
        match &mut self.socket {
            Some(socket) if !self.activity.is_detached() => Some(Pin::new(socket)),
            _ => None,
        }
    }

    fn note_written(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.moved();
        }
    }
}

fn detached() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the connection was detached")
}

impl Drop for Watched {
    fn drop(&mut self) {
        let handoff = self.activity.handoff.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(handoff), Some(socket)) = (handoff, self.socket.take()) {
            let _ = handoff.send(socket);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let Some(socket) = self.socket() else { return Poll::Ready(Ok(())) };
        let before = buf.filled().len();
        let polled = socket.poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.moved();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let Some(socket) = self.socket() else { return Poll::Ready(Err(detached())) };
        let polled = socket.poll_write(cx, data);
        self.note_written(&polled);
        polled
    }

    /// Vectored writes let hyper send a body beside its headers without copying it
    /// into its own buffer first (large reads are mostly copies otherwise).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Some(socket) = self.socket() else { return Poll::Ready(Err(detached())) };
        let polled = socket.poll_write_vectored(cx, bufs);
        self.note_written(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.socket() {
            Some(socket) => socket.poll_flush(cx),
            None => Poll::Ready(Err(detached())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.socket() {
            Some(socket) => socket.poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// A response body that keeps its request counted as in progress until it is done.
struct Tracked {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that fails once its deadline passes before it has arrived in full.
struct Deadline {
    body: Incoming,
    deadline: Pin<Box<Sleep>>,
}

/// The error a request body ends with when it arrives too slowly.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimeout;

impl Deadline {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Deadline { body, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }
}

impl Body for Deadline {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
