//! Shared by the stream tests: a streams server on port 0 with a real auth database and
//! a real store (a file store in a temporary directory, or PostgreSQL), and users with
//! session tokens.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use superset_auth_db::AuthDb;
use superset_edge::Running as Serving;
use superset_streams::{Config, Server, StorageKind};
use superset_testkit::{user_with_session, TestDatabase};

/// A running server, its database and one signed-in user.
pub struct Running {
    pub addr: SocketAddr,
    pub token: String,
    pub user_id: String,
    pub db: AuthDb,
    pub client: reqwest::Client,
    server: Option<Serving>,
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
    let server = serve(database.url(), storage, data.path().to_owned(), configure).await;
    let db = AuthDb::connect(&database.database_url()).await.expect("auth database");
    let (user_id, token) = user_with_session(&db, "owner@example.com").await;
    Running {
        addr: server.addr,
        token,
        user_id,
        db,
        client: reqwest::Client::new(),
        server: Some(server),
        data,
        database,
    }
}

/// Starts a server in this process.
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
    Server::spawn(config).await.expect("server starts")
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
        self.server.take().expect("running").stop().await.expect("server stops cleanly");
        let server = serve(self.database.url(), storage, self.data.path().to_owned(), configure).await;
        self.addr = server.addr;
        self.server = Some(server);
    }

    /// Graceful shutdown, waiting for it to finish.
    pub async fn stop(mut self) {
        self.server.take().expect("running").stop().await.expect("server stops cleanly");
    }
}
