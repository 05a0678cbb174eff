use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::linking::{claim, displaced_email, normalize_email, Claim};
use crate::{
    Device, Error, NewAccount, NewSession, NewUser, Renewal, Session, SessionUser, User, ValidSession, Verification,
};

/// How `auth.sessions.expires_at` stores time. Both layouts exist in the wild, and
/// comparing either against the wrong kind of `now()` is off by the server's UTC offset.
#[derive(Clone, Copy, Debug)]
enum TimeLayout {
    /// `timestamp`: UTC wall-clock time (the system this replaces).
    Utc,
    /// `timestamptz` (better-auth's own migrator).
    Zoned,
}

impl TimeLayout {
    /// SQL for "now" in this layout.
    fn now(self) -> &'static str {
        match self {
            TimeLayout::Utc => "(now() AT TIME ZONE 'utc')",
            TimeLayout::Zoned => "now()",
        }
    }

    /// SQL turning a `timestamptz` parameter into this layout.
    fn param(self, param: &str) -> String {
        match self {
            TimeLayout::Utc => format!("({param}::timestamptz AT TIME ZONE 'utc')"),
            TimeLayout::Zoned => format!("{param}::timestamptz"),
        }
    }

    /// SQL reading a column of this layout as `timestamptz`.
    fn to_zoned(self, column: &str) -> String {
        match self {
            TimeLayout::Utc => format!("({column} AT TIME ZONE 'utc')"),
            TimeLayout::Zoned => column.to_owned(),
        }
    }
}

/// The queries, built once for the detected layout. The layout detected on
/// `auth.sessions.expires_at` is taken for every table: better-auth and our migrations
/// both give all time columns of the schema the same type. The sessions' `created_at`
/// and `updated_at` (what renewal and the devices list read and write) are detected on
/// their own all the same, since a hand-migrated schema may have changed only
/// `expires_at`.
#[derive(Debug)]
struct Queries {
    find_session: String,
    renew_session: String,
    list_devices: String,
    insert_session: String,
    upsert_user: String,
    find_session_user: String,
    update_linked_user: String,
    join_user: String,
    insert_user: String,
    displace_user: String,
    insert_account: String,
    insert_verification: String,
    find_verification: String,
    take_verification: String,
    delete_expired_verifications: String,
}

/// The layouts of `auth.sessions.created_at` and `updated_at`.
#[derive(Clone, Copy, Debug)]
struct SessionTimes {
    created: TimeLayout,
    updated: TimeLayout,
}

impl Queries {
    fn new(t: TimeLayout, s: SessionTimes) -> Self {
        Queries {
            find_session: format!(
                "SELECT id::text, user_id::text, {}, {} FROM auth.sessions WHERE token = $1 AND expires_at > {}",
                t.to_zoned("expires_at"),
                s.updated.to_zoned("updated_at"),
                t.now()
            ),
            // Intervals in milliseconds, never days: adding days to a `timestamptz`
            // follows the session's TimeZone across daylight-saving changes.
            renew_session: format!(
                "UPDATE auth.sessions SET expires_at = {now} + $2::bigint * interval '1 millisecond', \
                   updated_at = {updated_now} \
                 WHERE token = $1 AND expires_at > {now} \
                   AND updated_at <= {updated_now} - $3::bigint * interval '1 millisecond' \
                 RETURNING {}",
                t.to_zoned("expires_at"),
                now = t.now(),
                updated_now = s.updated.now()
            ),
            list_devices: format!(
                "SELECT id::text, user_agent, ip_address, {}, {}, {} FROM auth.sessions \
                 WHERE user_id = $1::uuid AND expires_at > {} ORDER BY updated_at DESC, created_at DESC",
                s.created.to_zoned("created_at"),
                s.updated.to_zoned("updated_at"),
                t.to_zoned("expires_at"),
                t.now()
            ),
            insert_session: format!(
                "INSERT INTO auth.sessions \
                 (id, expires_at, token, created_at, updated_at, ip_address, user_agent, user_id) \
                 VALUES ($1::uuid, {}, $3, {}, {}, $4, $5, $6::uuid)",
                t.param("$2"),
                s.created.now(),
                s.updated.now()
            ),
            upsert_user: format!(
                "INSERT INTO auth.users (id, name, email, email_verified, image, created_at, updated_at) \
                 VALUES ($1::uuid, $2, $3, $4, $5, {now}, {now}) \
                 ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name, \
                   image = COALESCE(EXCLUDED.image, users.image), \
                   email_verified = users.email_verified OR EXCLUDED.email_verified, \
                   updated_at = {now} \
                 RETURNING id::text, name, email, email_verified, image",
                now = t.now()
            ),
            find_session_user: format!(
                "SELECT u.id::text, u.name, u.email, u.email_verified, u.image, {}, {} \
                 FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id \
                 WHERE s.token = $1 AND s.expires_at > {}",
                t.to_zoned("s.expires_at"),
                s.updated.to_zoned("s.updated_at"),
                t.now()
            ),
            // A provider vouching for an address verifies the user's only if it is that
            // address: the identity's e-mail may have changed since it was linked.
            update_linked_user: format!(
                "UPDATE auth.users SET name = $1, image = COALESCE($2, users.image), \
                   email_verified = users.email_verified OR ($3 AND users.email = $6), updated_at = {now} \
                 FROM auth.accounts a \
                 WHERE a.provider_id = $4 AND a.account_id = $5 AND users.id = a.user_id \
                 RETURNING users.id::text, users.name, users.email, users.email_verified, users.image",
                now = t.now()
            ),
            join_user: format!(
                "UPDATE auth.users SET name = $2, image = COALESCE($3, image), updated_at = {now} \
                 WHERE id = $1::uuid RETURNING id::text, name, email, email_verified, image",
                now = t.now()
            ),
            insert_user: format!(
                "INSERT INTO auth.users (id, name, email, email_verified, image, created_at, updated_at) \
                 VALUES ($1::uuid, $2, $3, $4, $5, {now}, {now}) \
                 RETURNING id::text, name, email, email_verified, image",
                now = t.now()
            ),
            displace_user: format!(
                "UPDATE auth.users SET email = $2, updated_at = {now} WHERE id = $1::uuid",
                now = t.now()
            ),
            insert_account: format!(
                "INSERT INTO auth.accounts (id, account_id, provider_id, user_id, created_at, updated_at) \
                 VALUES ($1::uuid, $2, $3, $4::uuid, {now}, {now}) \
                 ON CONFLICT (provider_id, account_id) DO NOTHING",
                now = t.now()
            ),
            insert_verification: format!(
                "INSERT INTO auth.verifications (id, identifier, value, expires_at, created_at, updated_at) \
                 VALUES ($1::uuid, $2, $3, {}, {now}, {now})",
                t.param("$4"),
                now = t.now()
            ),
            find_verification: format!(
                "SELECT identifier, value, {} FROM auth.verifications \
                 WHERE identifier = $1 AND expires_at > {} LIMIT 1",
                t.to_zoned("expires_at"),
                t.now()
            ),
            take_verification: format!(
                "DELETE FROM auth.verifications WHERE identifier = $1 \
                 RETURNING identifier, value, {}",
                t.to_zoned("expires_at")
            ),
            delete_expired_verifications: format!("DELETE FROM auth.verifications WHERE expires_at <= {}", t.now()),
        }
    }
}

/// A user's columns: id, name, email, email_verified, image.
type UserRow = (String, String, String, bool, Option<String>);

fn user((id, name, email, email_verified, image): UserRow) -> User {
    User { id, name, email, email_verified, image }
}

fn device((session_id, user_agent, ip_address, created_at, last_used_at, expires_at): DeviceRow) -> Device {
    Device { session_id, user_agent, ip_address, created_at, last_used_at, expires_at }
}

/// A user's columns and a session's expiry and renewal, as `find_session_user` reads them.
type SessionUserRow = (String, String, String, bool, Option<String>, DateTime<Utc>, DateTime<Utc>);

/// A session's columns as the devices list reads them.
type DeviceRow = (String, Option<String>, Option<String>, DateTime<Utc>, DateTime<Utc>, DateTime<Utc>);

#[derive(Clone, Debug)]
pub struct PgAuth {
    pool: PgPool,
    queries: std::sync::Arc<Queries>,
}

impl PgAuth {
    pub async fn connect(opts: PgConnectOptions) -> Result<Self, Error> {
        let mut pool =
            PgPoolOptions::new().max_connections(16).min_connections(1).acquire_timeout(Duration::from_secs(3));
        if let Some(zone) = requested_time_zone(&opts) {
            pool = pool.after_connect(move |conn, _| {
                let zone = zone.clone();
                Box::pin(async move {
                    sqlx::query("SELECT set_config('TimeZone', $1, false)").bind(zone).execute(conn).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(opts).await?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // Other crates keep their own migrations in the same database.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let layout = detect_layout(&pool, "expires_at").await?;
        let times = SessionTimes {
            created: detect_layout(&pool, "created_at").await?,
            updated: detect_layout(&pool, "updated_at").await?,
        };
        tracing::debug!(?layout, ?times, "auth.sessions layout");
        Ok(PgAuth { pool, queries: std::sync::Arc::new(Queries::new(layout, times)) })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn find_session(&self, token: &str) -> Result<Option<ValidSession>, Error> {
        let row: Option<(String, String, DateTime<Utc>, DateTime<Utc>)> =
            sqlx::query_as(&self.queries.find_session).bind(token).fetch_optional(&self.pool).await?;
        Ok(row.map(|(id, user_id, expires_at, renewed_at)| ValidSession { id, user_id, expires_at, renewed_at }))
    }

    pub async fn renew_session(&self, token: &str, renewal: &Renewal) -> Result<Option<DateTime<Utc>>, Error> {
        Ok(sqlx::query_scalar(&self.queries.renew_session)
            .bind(token)
            .bind(renewal.expires_in_ms())
            .bind(renewal.update_age_ms())
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn list_devices(&self, user_id: &str) -> Result<Vec<Device>, Error> {
        let rows: Vec<DeviceRow> =
            sqlx::query_as(&self.queries.list_devices).bind(user_id).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(device).collect())
    }

    pub async fn delete_user_session(&self, user_id: &str, session_id: &str) -> Result<bool, Error> {
        let Ok(id) = uuid::Uuid::parse_str(session_id) else { return Ok(false) };
        let done = sqlx::query("DELETE FROM auth.sessions WHERE id = $1 AND user_id = $2::uuid")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_other_sessions(&self, user_id: &str, keep_session_id: &str) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM auth.sessions WHERE user_id = $1::uuid AND id::text <> $2")
            .bind(user_id)
            .bind(keep_session_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn insert_session(&self, s: &Session, new: &NewSession) -> Result<(), Error> {
        sqlx::query(&self.queries.insert_session)
            .bind(&s.id)
            .bind(s.expires_at)
            .bind(&s.token)
            .bind(&new.ip_address)
            .bind(&new.user_agent)
            .bind(&s.user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, token: &str) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM auth.sessions WHERE token = $1").bind(token).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn upsert_user(&self, u: &NewUser) -> Result<User, Error> {
        let (id, name, email, email_verified, image) = sqlx::query_as(&self.queries.upsert_user)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&u.name)
            .bind(normalize_email(&u.email))
            .bind(u.email_verified)
            .bind(&u.image)
            .fetch_one(&self.pool)
            .await?;
        Ok(User { id, name, email, email_verified, image })
    }

    pub async fn delete_session_by_id(&self, id: &str) -> Result<bool, Error> {
        let Ok(id) = uuid::Uuid::parse_str(id) else { return Ok(false) };
        let done = sqlx::query("DELETE FROM auth.sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn find_session_user(&self, token: &str) -> Result<Option<SessionUser>, Error> {
        let row: Option<SessionUserRow> =
            sqlx::query_as(&self.queries.find_session_user).bind(token).fetch_optional(&self.pool).await?;
        Ok(row.map(|(id, name, email, email_verified, image, expires_at, renewed_at)| SessionUser {
            user: User { id, name, email, email_verified, image },
            expires_at,
            renewed_at,
        }))
    }

    pub async fn link_account(&self, a: &NewAccount) -> Result<User, Error> {
        let email = normalize_email(&a.user.email);
        let mut tx = self.pool.begin().await?;
        // Two first sign-ins claiming one address at once must not both find it free.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('superset:email:' || $1))")
            .bind(&email)
            .execute(&mut *tx)
            .await?;
        let linked: Option<UserRow> = sqlx::query_as(&self.queries.update_linked_user)
            .bind(&a.user.name)
            .bind(&a.user.image)
            .bind(a.user.email_verified)
            .bind(&a.provider_id)
            .bind(&a.account_id)
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = linked {
            tx.commit().await?;
            return Ok(user(row));
        }
        let holder: Option<(String, bool)> =
            sqlx::query_as("SELECT id::text, email_verified FROM auth.users WHERE email = $1")
                .bind(&email)
                .fetch_optional(&mut *tx)
                .await?;
        let row: UserRow = match claim(holder, a.user.email_verified)? {
            Claim::Join(id) => {
                sqlx::query_as(&self.queries.join_user)
                    .bind(&id)
                    .bind(&a.user.name)
                    .bind(&a.user.image)
                    .fetch_one(&mut *tx)
                    .await?
            }
            claim => {
                if let Claim::Displace(id) = &claim {
                    sqlx::query(&self.queries.displace_user)
                        .bind(id)
                        .bind(displaced_email(id))
                        .execute(&mut *tx)
                        .await?;
                    tracing::warn!(displaced = %id, "a verified identity claimed the address of an unverified user; it gets a user of its own");
                }
                sqlx::query_as(&self.queries.insert_user)
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(&a.user.name)
                    .bind(&email)
                    .bind(a.user.email_verified)
                    .bind(&a.user.image)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        sqlx::query(&self.queries.insert_account)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&a.account_id)
            .bind(&a.provider_id)
            .bind(&row.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user(row))
    }

    pub async fn put_verification(&self, v: &Verification) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM auth.verifications WHERE identifier = $1")
            .bind(&v.identifier)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&self.queries.insert_verification)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&v.identifier)
            .bind(&v.value)
            .bind(v.expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn find_verification(&self, identifier: &str) -> Result<Option<Verification>, Error> {
        let row: Option<(String, String, DateTime<Utc>)> =
            sqlx::query_as(&self.queries.find_verification).bind(identifier).fetch_optional(&self.pool).await?;
        Ok(row.map(|(identifier, value, expires_at)| Verification { identifier, value, expires_at }))
    }

    pub async fn take_verification(&self, identifier: &str) -> Result<Option<Verification>, Error> {
        let rows: Vec<(String, String, DateTime<Utc>)> =
            sqlx::query_as(&self.queries.take_verification).bind(identifier).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .max_by_key(|(_, _, expires_at)| *expires_at)
            .map(|(identifier, value, expires_at)| Verification { identifier, value, expires_at }))
    }

    pub async fn delete_expired_verifications(&self) -> Result<u64, Error> {
        let done = sqlx::query(&self.queries.delete_expired_verifications).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The `TimeZone` a `DATABASE_URL` asks for in `options=-c TimeZone=...`. sqlx always
/// opens sessions in UTC and so silently overrides it; we honour it, since the session
/// queries are written to be right in any zone.
fn requested_time_zone(opts: &PgConnectOptions) -> Option<String> {
    let options = opts.get_options()?;
    let mut words = options.split_whitespace();
    while let Some(word) = words.next() {
        let setting = match word.strip_prefix("-c") {
            Some("") => words.next()?,
            Some(rest) => rest,
            None => continue,
        };
        if let Some((key, value)) = setting.split_once('=') {
            if key.eq_ignore_ascii_case("timezone") {
                return Some(value.to_owned());
            }
        }
    }
    None
}

/// The layout of a time column of `auth.sessions`.
async fn detect_layout(pool: &PgPool, column: &str) -> Result<TimeLayout, Error> {
    let data_type: String = sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns \
         WHERE table_schema = 'auth' AND table_name = 'sessions' AND column_name = $1",
    )
    .bind(column)
    .fetch_one(pool)
    .await?;
    match data_type.as_str() {
        "timestamp without time zone" => Ok(TimeLayout::Utc),
        "timestamp with time zone" => Ok(TimeLayout::Zoned),
        _ => Err(Error::UnsupportedLayout(data_type)),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn time_zone_is_read_from_connection_options() {
        let zone = |url: &str| requested_time_zone(&PgConnectOptions::from_str(url).unwrap());
        assert_eq!(zone("postgres://u@h/d?options=-c%20TimeZone%3DAsia%2FTokyo"), Some("Asia/Tokyo".into()));
        assert_eq!(zone("postgres://u@h/d?options=-c%20a%3D1%20-ctimezone%3DUTC"), Some("UTC".into()));
        assert_eq!(zone("postgres://u@h/d?options=-c%20a%3D1"), None);
        assert_eq!(zone("postgres://u@h/d"), None);
    }
}
