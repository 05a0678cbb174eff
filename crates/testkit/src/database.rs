use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use superset_auth_db::DatabaseUrl;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Postgres, Backend::Sqlite];
}

/// A database that exists for one test.
pub struct TestDatabase {
    url: String,
    backend: Backend,
    /// PostgreSQL: the server-level URL and the database name, to drop it afterwards.
    pg: Option<(PgConnectOptions, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Self::sqlite(),
        }
    }

    /// A new, empty PostgreSQL database on the test server.
    pub async fn postgres() -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let admin = PgConnectOptions::from_str(&admin_url).expect("TEST_DATABASE_URL is not a postgres:// URL");
        let mut conn = admin.connect().await.unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at {} ({e}). Start it (Debian: `pg_ctlcluster \
                 --skip-systemctl-redirect $(ls /etc/postgresql) main start`; or `docker run \
                 -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`) or point \
                 TEST_DATABASE_URL at one.",
                admin.get_host()
            )
        });
        let name = format!("superset_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
        let _ = conn.close().await;
        let url = replace_database(&admin_url, &name);
        TestDatabase { url, backend: Backend::Postgres, pg: Some((admin, name)), _dir: None }
    }

    /// A new SQLite file in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("auth.db").display());
        TestDatabase { url, backend: Backend::Sqlite, pg: None, _dir: Some(dir) }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn database_url(&self) -> DatabaseUrl {
        self.url.parse().expect("test database URL")
    }

    /// The URL with its host and port replaced, e.g. to go through a [`crate::TcpProxy`].
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let opts = PgConnectOptions::from_str(&self.url).expect("postgres URL");
        let user = opts.get_username();
        let db = opts.get_database().unwrap_or("");
        format!("postgres://{user}@{}:{}/{db}", addr.ip(), addr.port())
    }

    /// The PostgreSQL server's address.
    pub fn server_addr(&self) -> std::net::SocketAddr {
        let opts = PgConnectOptions::from_str(&self.url).expect("postgres URL");
        let host = if opts.get_host() == "localhost" { "127.0.0.1" } else { opts.get_host() };
        format!("{host}:{}", opts.get_port()).parse().expect("PostgreSQL host must be an IP address for the proxy")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg.take() else { return };
        // Drop runs outside any runtime we can rely on: use a small one of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = admin.connect().await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = match base.rfind('/') {
        Some(i) if base[..i].contains("//") && i > base.find("//").unwrap() + 1 => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(super::replace_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            super::replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
