//! The auth database: the `auth` schema shared with better-auth, its migrations, and the
//! few typed queries the servers need: above all, finding a valid session by its token
//! in one indexed query.
//!
//! The scheme of `DATABASE_URL` picks the driver: `postgres://` (schema `auth`, the
//! production layout) or `sqlite:` (the embedded default, bare table names, timestamps
//! as Unix milliseconds).

mod error;
mod linking;
mod model;
mod notify;
mod pg;
mod renewal;
mod sqlite;
mod token;
mod url;

pub use error::Error;
pub use linking::normalize_email;
pub use model::{Device, NewAccount, NewSession, NewUser, Session, SessionUser, User, ValidSession, Verification};
pub use notify::{install_session_triggers, session_triggers_installed};
pub use renewal::{Renewal, DEFAULT_UPDATE_AGE};
pub use token::{generate_token, lookup_part, token_digest, TokenDigest};
pub use url::DatabaseUrl;

use std::time::Duration;

/// How long a session lives unless the issuer says otherwise.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// PostgreSQL channel on which a trigger announces changed or deleted sessions. The
/// payload is the hex SHA-256 of the token ([`token_digest`]), or `*` for "all".
pub const SESSION_CHANGES_CHANNEL: &str = "auth_sessions_changed";

/// A connection pool to the auth database, on either driver.
#[derive(Clone, Debug)]
pub enum AuthDb {
    Postgres(pg::PgAuth),
    Sqlite(sqlite::SqliteAuth),
}

impl AuthDb {
    /// Connects and runs the migrations, so a fresh database is ready to use.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, Error> {
        let db = match url {
            DatabaseUrl::Postgres(opts) => AuthDb::Postgres(pg::PgAuth::connect(opts.clone()).await?),
            DatabaseUrl::Sqlite(opts) => AuthDb::Sqlite(sqlite::SqliteAuth::connect(opts.clone()).await?),
        };
        Ok(db)
    }

    /// The session a token names, if it exists and has not expired. `token` is the raw
    /// token as stored (see [`lookup_part`] for the signed form).
    pub async fn find_session(&self, token: &str) -> Result<Option<ValidSession>, Error> {
        match self {
            AuthDb::Postgres(db) => db.find_session(token).await,
            AuthDb::Sqlite(db) => db.find_session(token).await,
        }
    }

    /// Issues a new session: a fresh random token, valid for `new.ttl`.
    pub async fn create_session(&self, new: &NewSession) -> Result<Session, Error> {
        let token = generate_token();
        let expires_at = chrono::Utc::now() + chrono::Duration::from_std(new.ttl).map_err(|_| Error::TtlOutOfRange)?;
        let session = Session { id: uuid::Uuid::new_v4().to_string(), user_id: new.user_id.clone(), token, expires_at };
        match self {
            AuthDb::Postgres(db) => db.insert_session(&session, new).await?,
            AuthDb::Sqlite(db) => db.insert_session(&session, new).await?,
        }
        Ok(session)
    }

    /// Revokes a session. Returns whether a session with that token existed.
    pub async fn delete_session(&self, token: &str) -> Result<bool, Error> {
        match self {
            AuthDb::Postgres(db) => db.delete_session(token).await,
            AuthDb::Sqlite(db) => db.delete_session(token).await,
        }
    }

    /// Renews the session `token` names if it is live and was last renewed at least
    /// `renewal.update_age` ago: its `expires_at` becomes now + `renewal.expires_in`.
    /// Returns the new expiry, or `None` when there was nothing to do (not due, already
    /// renewed by a concurrent request, gone or expired). On PostgreSQL the write
    /// notifies the streams servers like any change, so their caches pick it up.
    pub async fn renew_session(
        &self,
        token: &str,
        renewal: &Renewal,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
        match self {
            AuthDb::Postgres(db) => db.renew_session(token, renewal).await,
            AuthDb::Sqlite(db) => db.renew_session(token, renewal).await,
        }
    }

    /// A user's live sessions, most recently used first.
    pub async fn list_devices(&self, user_id: &str) -> Result<Vec<Device>, Error> {
        match self {
            AuthDb::Postgres(db) => db.list_devices(user_id).await,
            AuthDb::Sqlite(db) => db.list_devices(user_id).await,
        }
    }

    /// Revokes the session `session_id` if it is one of `user_id`'s. Returns whether it
    /// was (a malformed id is nobody's).
    pub async fn delete_user_session(&self, user_id: &str, session_id: &str) -> Result<bool, Error> {
        match self {
            AuthDb::Postgres(db) => db.delete_user_session(user_id, session_id).await,
            AuthDb::Sqlite(db) => db.delete_user_session(user_id, session_id).await,
        }
    }

    /// Revokes all of `user_id`'s sessions but `keep_session_id`; returns how many.
    pub async fn delete_other_sessions(&self, user_id: &str, keep_session_id: &str) -> Result<u64, Error> {
        match self {
            AuthDb::Postgres(db) => db.delete_other_sessions(user_id, keep_session_id).await,
            AuthDb::Sqlite(db) => db.delete_other_sessions(user_id, keep_session_id).await,
        }
    }

    /// Creates the user with this email (lowercased), or updates its name and image:
    /// for fixtures and tools; sign-in goes through [`AuthDb::link_account`].
    pub async fn upsert_user(&self, user: &NewUser) -> Result<User, Error> {
        match self {
            AuthDb::Postgres(db) => db.upsert_user(user).await,
            AuthDb::Sqlite(db) => db.upsert_user(user).await,
        }
    }

    /// Revokes the session with this id (for when the token itself is not at hand).
    /// Returns whether it existed.
    pub async fn delete_session_by_id(&self, id: &str) -> Result<bool, Error> {
        match self {
            AuthDb::Postgres(db) => db.delete_session_by_id(id).await,
            AuthDb::Sqlite(db) => db.delete_session_by_id(id).await,
        }
    }

    /// Like [`AuthDb::find_session`], with the user's details.
    pub async fn find_session_user(&self, token: &str) -> Result<Option<SessionUser>, Error> {
        match self {
            AuthDb::Postgres(db) => db.find_session_user(token).await,
            AuthDb::Sqlite(db) => db.find_session_user(token).await,
        }
    }

    /// The user behind an upstream identity. A known `(provider_id, account_id)` gets
    /// its user (name and image refreshed). A new one is recorded in `auth.accounts`
    /// and, by its e-mail address (compared lowercased): joins the user holding it when
    /// both are verified; gets a new user when nobody holds it, or when the holder's
    /// address was never verified (the holder keeps its data under a placeholder
    /// address: see `linking::Claim::Displace` for why); and is refused when the
    /// identity's own address is unverified and taken ([`Error::UnverifiedEmailTaken`]).
    pub async fn link_account(&self, account: &NewAccount) -> Result<User, Error> {
        match self {
            AuthDb::Postgres(db) => db.link_account(account).await,
            AuthDb::Sqlite(db) => db.link_account(account).await,
        }
    }

    /// Stores a verification, replacing any with the same identifier.
    pub async fn put_verification(&self, v: &Verification) -> Result<(), Error> {
        match self {
            AuthDb::Postgres(db) => db.put_verification(v).await,
            AuthDb::Sqlite(db) => db.put_verification(v).await,
        }
    }

    /// The unexpired verification with this identifier, left in place.
    pub async fn find_verification(&self, identifier: &str) -> Result<Option<Verification>, Error> {
        match self {
            AuthDb::Postgres(db) => db.find_verification(identifier).await,
            AuthDb::Sqlite(db) => db.find_verification(identifier).await,
        }
    }

    /// Removes the verification with this identifier and returns it, expired or not,
    /// so that of two concurrent callers exactly one gets it (single use), and the
    /// caller can tell an expired value from an unknown one.
    pub async fn take_verification(&self, identifier: &str) -> Result<Option<Verification>, Error> {
        match self {
            AuthDb::Postgres(db) => db.take_verification(identifier).await,
            AuthDb::Sqlite(db) => db.take_verification(identifier).await,
        }
    }

    /// Deletes expired verifications; returns how many.
    pub async fn delete_expired_verifications(&self) -> Result<u64, Error> {
        match self {
            AuthDb::Postgres(db) => db.delete_expired_verifications().await,
            AuthDb::Sqlite(db) => db.delete_expired_verifications().await,
        }
    }

    /// A cheap round trip proving the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        match self {
            AuthDb::Postgres(db) => db.ping().await,
            AuthDb::Sqlite(db) => db.ping().await,
        }
    }

    /// The PostgreSQL pool, for listeners and for storage that shares the database.
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match self {
            AuthDb::Postgres(db) => Some(db.pool()),
            AuthDb::Sqlite(_) => None,
        }
    }

    /// The SQLite pool, for other tables kept in the same file.
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match self {
            AuthDb::Postgres(_) => None,
            AuthDb::Sqlite(db) => Some(db.pool()),
        }
    }
}
