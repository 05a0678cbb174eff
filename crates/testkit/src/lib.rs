//! Fixtures shared by the integration tests of every crate: real databases, created
//! fresh for each test and dropped after it, a TCP proxy to make one unreachable, and
//! the servers' documented settings.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a database of its own.

mod database;
mod proxy;
pub mod settings;

pub use database::{Backend, TestDatabase};
pub use proxy::TcpProxy;

use superset_auth_db::{AuthDb, NewSession, NewUser};

/// A user with one fresh session: `(user_id, token)`.
pub async fn user_with_session(db: &AuthDb, email: &str) -> (String, String) {
    let user = db
        .upsert_user(&NewUser {
            name: email.split('@').next().unwrap_or(email).to_owned(),
            email: email.to_owned(),
            email_verified: true,
            image: None,
        })
        .await
        .expect("create user");
    let session = db.create_session(&NewSession::for_user(&user.id)).await.expect("create session");
    (user.id, session.token)
}
