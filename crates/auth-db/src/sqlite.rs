use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::{Error, NewSession, NewUser, Session, User, ValidSession};

#[derive(Clone, Debug)]
pub struct SqliteAuth {
    pool: SqlitePool,
}

impl SqliteAuth {
    pub async fn connect(opts: SqliteConnectOptions) -> Result<Self, Error> {
        let in_memory = opts.get_filename().as_os_str() == ":memory:";
        if let Some(dir) = opts.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::Database(sqlx::Error::Io(e)))?;
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
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT user_id, expires_at FROM sessions WHERE token = ?1 AND expires_at > ?2",
        )
        .bind(token)
        .bind(Utc::now().timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(user_id, ms)| {
            Some(ValidSession { user_id, expires_at: DateTime::from_timestamp_millis(ms)? })
        }))
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
        let done = sqlx::query("DELETE FROM sessions WHERE token = ?1")
            .bind(token)
            .execute(&self.pool)
            .await?;
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
        .bind(&u.email)
        .bind(u.email_verified)
        .bind(&u.image)
        .bind(Utc::now().timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(User { id, name, email, email_verified, image })
    }

    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
