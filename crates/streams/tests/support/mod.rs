//! A streams server on port 0 for a test, and the requests tests make of it.
#![allow(dead_code)]

use std::net::SocketAddr;

use superset_edge::Running;
use superset_streams::{Config, Server};

pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    server: Running,
    _data: tempfile::TempDir,
}

/// Lifts the per-user request rate and live-read limits, for benchmarks that load
/// the server through one user.
pub fn unlimited(config: &mut Config) {
    config.user_limits.requests_per_second = u32::MAX;
    config.user_limits.request_burst = u32::MAX;
    config.user_limits.max_readers = u64::MAX;
}

impl TestServer {
    /// Starts a server on `database_url` with the token cache on or off.
    pub async fn start(database_url: &str, auth_cache: bool) -> Self {
        Self::start_with(database_url, |c| c.auth_cache = auth_cache).await
    }

    pub async fn start_with(database_url: &str, configure: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::new(database_url.parse().expect("database URL"));
        config.port = 0;
        config.data_dir = data.path().to_owned();
        configure(&mut config);
        let server = Server::spawn(config).await.expect("server starts");
        TestServer { addr: server.addr, client: reqwest::Client::new(), server, _data: data }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str, authorization: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.expect("request")
    }

    /// `GET /v1/me` with `Bearer <token>`.
    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.get("/v1/me", Some(&format!("Bearer {token}"))).await
    }

    /// Graceful shutdown, waiting for it to finish.
    pub async fn stop(self) {
        self.server.stop().await.unwrap();
    }
}
