//! The two ways a server runs once bound: in the foreground until a signal (the server
//! binaries), or on a task of its own until stopped (`superset dev`, tests, benches).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// A server bound to its listening socket, as both servers are to their edge.
pub trait Bound: Sized {
    fn local_addr(&self) -> SocketAddr;
    /// Serves until `stop` resolves, then lets requests in flight finish.
    fn serve(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static;
}

/// Serves `server` in the foreground (the server binaries): announces the address on
/// stdout (tests and scripts wait for that line), serves until SIGINT or SIGTERM, then
/// lets requests in flight finish.
pub async fn run(server: impl Bound) -> io::Result<()> {
    println!("listening on http://{}", server.local_addr());
    server
        .serve(async {
            crate::signal::shutdown().await;
            tracing::info!("shutting down: finishing in-flight requests");
        })
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// A server serving on a task of its own. Dropping it asks the server to stop without
/// waiting; [`Running::stop`] waits.
pub struct Running {
    /// Where it listens (the port the system picked, for port 0).
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Running {
    /// Starts `serve` (a bound server's serve call, given the stop signal) on a task.
    pub fn spawn<F>(addr: SocketAddr, serve: impl FnOnce(WaitForCancellationFutureOwned) -> F) -> Running
    where
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let serving = serve(stop.clone().cancelled_owned());
        let ended = stop.clone();
        let task = tokio::spawn(async move {
            let result = serving.await;
            ended.cancel();
            result
        });
        Running { addr, stop, task: Some(task) }
    }

    /// Serves `server` on a task of its own (`superset dev`, tests, benches).
    pub fn start(server: impl Bound) -> Running {
        Running::spawn(server.local_addr(), |stop| server.serve(stop))
    }

    /// `http://ADDR` followed by `path` (which starts with `/`, or is empty).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resolves once the server is stopping: asked to, or ended by itself (failed).
    pub async fn stopping(&self) {
        self.stop.cancelled().await;
    }

    /// Graceful shutdown: stops accepting, ends live responses, and returns once every
    /// request in flight has been answered, with how serving ended.
    pub async fn stop(mut self) -> io::Result<()> {
        self.stop.cancel();
        let task = self.task.take().expect("a running server has its task");
        match task.await {
            Ok(served) => served,
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => Err(io::Error::other(error)),
            },
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
