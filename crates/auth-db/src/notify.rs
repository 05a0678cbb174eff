//! The trigger behind [`SESSION_CHANGES_CHANNEL`](crate::SESSION_CHANGES_CHANNEL), for
//! servers that must not trust it blindly: the `auth` schema belongs to the auth
//! service's tooling and may be dropped and re-created (a restore, a staging reset)
//! long after this crate's migrations ran, taking the trigger with it.

use sqlx::PgPool;

use crate::Error;

/// The trigger's DDL: the migration itself, so a repair installs exactly what a fresh
/// database gets. It is idempotent.
const SESSION_TRIGGERS: &str = include_str!("../migrations/postgres/0002_session_notify.sql");

/// Whether both session triggers exist on `auth.sessions` and are enabled.
pub async fn session_triggers_installed(pool: &PgPool) -> Result<bool, Error> {
    let enabled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger t \
         JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'auth' AND c.relname = 'sessions' \
           AND t.tgname IN ('sessions_changed', 'sessions_truncated') AND t.tgenabled <> 'D'",
    )
    .fetch_one(pool)
    .await?;
    Ok(enabled == 2)
}

/// (Re-)installs the session triggers, in one transaction.
pub async fn install_session_triggers(pool: &PgPool) -> Result<(), Error> {
    sqlx::raw_sql(SESSION_TRIGGERS).execute(pool).await?;
    Ok(())
}
