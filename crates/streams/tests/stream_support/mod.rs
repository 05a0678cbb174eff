//! Shared by the stream tests: a streams server on port 0 with a real auth database and
//! a real store (a file store in a temporary directory, or PostgreSQL), and users with
//! session tokens.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use superset_auth_db::AuthDb;
use superset_streams::{Config, Server, StorageKind};
use superset_testkit::{user_with_session, TestDatabase};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server, its database and one signed-in user.
pub struct Running {
    pub addr: SocketAddr,
    pub token: String,
    pub user_id: String,
    pub db: AuthDb,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    pub data: tempfile::TempDir,
    pub database: TestDatabase,
}

/// The file store runs on the embedded setup (SQLite auth); PostgreSQL storage shares
/// the PostgreSQL database that holds the sessions.
pub async fn start(storage: StorageKind, configure: impl FnOnce(&mut Config)) -> Running {
    let database = match storage {
        StorageKind::File => TestDatabase::sqlite(),
        StorageKind::Postgres => TestDatabase::postgres().await,
    };
    let data = tempfile::tempdir().expect("temp dir");
    let (addr, stop, task) = serve(database.url(), storage, data.path().to_owned(), configure).await;
    let db = AuthDb::connect(&database.database_url()).await.expect("auth database");
    let (user_id, token) = user_with_session(&db, "owner@example.com").await;
    Running {
        addr,
        token,
        user_id,
        db,
        client: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
        data,
        database,
    }
}

type Serving = (SocketAddr, oneshot::Sender<()>, JoinHandle<std::io::Result<()>>);

/// Starts a server in this process; send on the returned channel to stop it.
pub async fn serve(
    database_url: &str,
    storage: StorageKind,
    data_dir: PathBuf,
    configure: impl FnOnce(&mut Config),
) -> Serving {
    let mut config = Config::new(database_url.parse().expect("database URL"));
    config.port = 0;
    config.storage = storage;
    config.data_dir = data_dir;
    configure(&mut config);
    let server = Server::bind(config).await.expect("server starts");
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `/v1/stream/<path>` on this server.
    pub fn stream(&self, path: &str) -> String {
        self.url(&format!("/v1/stream/{path}"))
    }

    /// A request carrying this server's user's token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.stream(path)).bearer_auth(&self.token)
    }

    /// Another user with a session of their own.
    pub async fn other_user(&self, email: &str) -> (String, String) {
        user_with_session(&self.db, email).await
    }

    /// Stops this server and starts another on the same database and data directory.
    pub async fn restart(&mut self, storage: StorageKind, configure: impl FnOnce(&mut Config)) {
        let _ = self.stop.take().expect("running").send(());
        self.task.take().expect("running").await.expect("server task").expect("server stops cleanly");
        let (addr, stop, task) = serve(self.database.url(), storage, self.data.path().to_owned(), configure).await;
        (self.addr, self.stop, self.task) = (addr, Some(stop), Some(task));
    }

    /// Graceful shutdown, waiting for it to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.take().expect("running").send(());
        self.task.take().expect("running").await.expect("server task").expect("server stops cleanly");
    }
}
