use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::linking::{claim, displaced_email, normalize_email, Claim};
use crate::{
    Device, Error, NewAccount, NewSession, NewUser, Renewal, Session, SessionUser, User, ValidSession, Verification,
};

#[derive(Clone, Debug)]
pub struct SqliteAuth {
    pool: SqlitePool,
}

/// Creates the database file, when missing, readable by its owner alone: it holds the
/// session tokens. SQLite gives its `-wal` and `-shm` files the database file's mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        created => created.map(drop),
    }
}

impl SqliteAuth {
    pub async fn connect(opts: SqliteConnectOptions) -> Result<Self, Error> {
        let in_memory = opts.get_filename().as_os_str() == ":memory:";
        if !in_memory {
            create_private(opts.get_filename()).map_err(|e| Error::Database(sqlx::Error::Io(e)))?;
        }
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            // Each in-memory connection would be a database of its own.
            .max_connections(if in_memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(opts)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(SqliteAuth { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn find_session(&self, token: &str) -> Result<Option<ValidSession>, Error> {
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT id, user_id, expires_at, updated_at FROM sessions WHERE token = ?1 AND expires_at > ?2",
        )
        .bind(token)
        .bind(Utc::now().timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(id, user_id, expires, renewed)| {
            Some(ValidSession { id, user_id, expires_at: time(expires)?, renewed_at: time(renewed)? })
        }))
    }

    pub async fn renew_session(&self, token: &str, renewal: &Renewal) -> Result<Option<DateTime<Utc>>, Error> {
        let expires: Option<i64> = sqlx::query_scalar(
            "UPDATE sessions SET expires_at = ?2 + ?3, updated_at = ?2 \
             WHERE token = ?1 AND expires_at > ?2 AND updated_at <= ?2 - ?4 RETURNING expires_at",
        )
        .bind(token)
        .bind(Utc::now().timestamp_millis())
        .bind(renewal.expires_in_ms())
        .bind(renewal.update_age_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(expires.and_then(time))
    }

    pub async fn list_devices(&self, user_id: &str) -> Result<Vec<Device>, Error> {
        let rows: Vec<DeviceRow> = sqlx::query_as(
            "SELECT id, user_agent, ip_address, created_at, updated_at, expires_at FROM sessions \
             WHERE user_id = ?1 AND expires_at > ?2 ORDER BY updated_at DESC, created_at DESC",
        )
        .bind(user_id)
        .bind(Utc::now().timestamp_millis())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(session_id, user_agent, ip_address, created, used, expires)| {
                Some(Device {
                    session_id,
                    user_agent,
                    ip_address,
                    created_at: time(created)?,
                    last_used_at: time(used)?,
                    expires_at: time(expires)?,
                })
            })
            .collect())
    }

    pub async fn delete_user_session(&self, user_id: &str, session_id: &str) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ?1 AND user_id = ?2")
            .bind(session_id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_other_sessions(&self, user_id: &str, keep_session_id: &str) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2")
            .bind(user_id)
            .bind(keep_session_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn insert_session(&self, s: &Session, new: &NewSession) -> Result<(), Error> {
        let now = Utc::now().timestamp_millis();
        sqlx::query(
            "INSERT INTO sessions \
             (id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)",
        )
        .bind(&s.id)
        .bind(s.expires_at.timestamp_millis())
        .bind(&s.token)
        .bind(now)
        .bind(&new.ip_address)
        .bind(&new.user_agent)
        .bind(&s.user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token: &str) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE token = ?1").bind(token).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn upsert_user(&self, u: &NewUser) -> Result<User, Error> {
        let (id, name, email, email_verified, image) = sqlx::query_as(
            "INSERT INTO users (id, name, email, email_verified, image, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
             ON CONFLICT (email) DO UPDATE SET name = excluded.name, \
               image = COALESCE(excluded.image, users.image), \
               email_verified = users.email_verified OR excluded.email_verified, \
               updated_at = excluded.updated_at \
             RETURNING id, name, email, email_verified, image",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&u.name)
        .bind(normalize_email(&u.email))
        .bind(u.email_verified)
        .bind(&u.image)
        .bind(Utc::now().timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(User { id, name, email, email_verified, image })
    }

    pub async fn delete_session_by_id(&self, id: &str) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM sessions WHERE id = ?1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn find_session_user(&self, token: &str) -> Result<Option<SessionUser>, Error> {
        let row: Option<SessionUserRow> = sqlx::query_as(
            "SELECT u.id, u.name, u.email, u.email_verified, u.image, s.expires_at, s.updated_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token = ?1 AND s.expires_at > ?2",
        )
        .bind(token)
        .bind(Utc::now().timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(id, name, email, email_verified, image, expires, renewed)| {
            Some(SessionUser {
                user: User { id, name, email, email_verified, image },
                expires_at: time(expires)?,
                renewed_at: time(renewed)?,
            })
        }))
    }

    pub async fn link_account(&self, a: &NewAccount) -> Result<User, Error> {
        let email = normalize_email(&a.user.email);
        let now = Utc::now().timestamp_millis();
        // BEGIN IMMEDIATE: take the write lock first, so that two first sign-ins of the
        // same person cannot both decide the user is missing.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // A provider vouching for an address verifies the user's only if it is that
        // address: the identity's e-mail may have changed since it was linked.
        let linked: Option<UserRow> = sqlx::query_as(
            "UPDATE users SET name = ?1, image = COALESCE(?2, image), \
               email_verified = email_verified OR (?3 AND email = ?7), updated_at = ?4 \
             WHERE id = (SELECT user_id FROM accounts WHERE provider_id = ?5 AND account_id = ?6) \
             RETURNING id, name, email, email_verified, image",
        )
        .bind(&a.user.name)
        .bind(&a.user.image)
        .bind(a.user.email_verified)
        .bind(now)
        .bind(&a.provider_id)
        .bind(&a.account_id)
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = linked {
            tx.commit().await?;
            return Ok(user(row));
        }
        let holder: Option<(String, bool)> = sqlx::query_as("SELECT id, email_verified FROM users WHERE email = ?1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
        let row: UserRow = match claim(holder, a.user.email_verified)? {
            Claim::Join(id) => {
                sqlx::query_as(
                    "UPDATE users SET name = ?2, image = COALESCE(?3, image), updated_at = ?4 WHERE id = ?1 \
                     RETURNING id, name, email, email_verified, image",
                )
                .bind(&id)
                .bind(&a.user.name)
                .bind(&a.user.image)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
            claim => {
                if let Claim::Displace(id) = &claim {
                    sqlx::query("UPDATE users SET email = ?2, updated_at = ?3 WHERE id = ?1")
                        .bind(id)
                        .bind(displaced_email(id))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tracing::warn!(displaced = %id, "a verified identity claimed the address of an unverified user; it gets a user of its own");
                }
                sqlx::query_as(
                    "INSERT INTO users (id, name, email, email_verified, image, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id, name, email, email_verified, image",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(&a.user.name)
                .bind(&email)
                .bind(a.user.email_verified)
                .bind(&a.user.image)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        sqlx::query(
            "INSERT INTO accounts (id, account_id, provider_id, user_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (provider_id, account_id) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&a.account_id)
        .bind(&a.provider_id)
        .bind(&row.0)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(user(row))
    }

    pub async fn put_verification(&self, v: &Verification) -> Result<(), Error> {
        let now = Utc::now().timestamp_millis();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM verifications WHERE identifier = ?1").bind(&v.identifier).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO verifications (id, identifier, value, expires_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&v.identifier)
        .bind(&v.value)
        .bind(v.expires_at.timestamp_millis())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_verification(&self, identifier: &str) -> Result<Option<Verification>, Error> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT identifier, value, expires_at FROM verifications \
             WHERE identifier = ?1 AND expires_at > ?2 LIMIT 1",
        )
        .bind(identifier)
        .bind(Utc::now().timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(verification))
    }

    pub async fn take_verification(&self, identifier: &str) -> Result<Option<Verification>, Error> {
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("DELETE FROM verifications WHERE identifier = ?1 RETURNING identifier, value, expires_at")
                .bind(identifier)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().max_by_key(|(_, _, ms)| *ms).and_then(verification))
    }

    pub async fn delete_expired_verifications(&self) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM verifications WHERE expires_at <= ?1")
            .bind(Utc::now().timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// A user's columns: id, name, email, email_verified, image.
type UserRow = (String, String, String, bool, Option<String>);

/// A user's columns and a session's `expires_at` and `updated_at`.
type SessionUserRow = (String, String, String, bool, Option<String>, i64, i64);

/// A session's id, user agent, ip address, and created, updated and expiry times.
type DeviceRow = (String, Option<String>, Option<String>, i64, i64, i64);

/// A time column: Unix milliseconds.
fn time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

fn user((id, name, email, email_verified, image): UserRow) -> User {
    User { id, name, email, email_verified, image }
}

fn verification((identifier, value, ms): (String, String, i64)) -> Option<Verification> {
    Some(Verification { identifier, value, expires_at: DateTime::from_timestamp_millis(ms)? })
}
