//! A cache of validated tokens that never outlives the truth.
//!
//! On PostgreSQL a trigger on `auth.sessions` announces every changed or deleted
//! session (by token digest), and a listener drops it here, so an entry may live up to
//! [`NOTIFIED_TTL`]. That path is not taken on trust: the listener proves it when it
//! connects and then every check interval (the trigger is there, repaired if not, and a
//! probe notification comes back in time). Whenever it is not proven (SQLite, the
//! listener reconnecting, a failed check), an entry lives at most [`UNNOTIFIED_TTL`].
//! No entry outlives its session's `expires_at`. A generation counter closes the race
//! in which a lookup reads a session just before it is revoked and caches it just after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use superset_auth_db::{TokenDigest, SESSION_CHANGES_CHANNEL};
use tokio_util::sync::CancellationToken;

use super::AuthUser;
use crate::listener::{self, Lost};

pub const NOTIFIED_TTL: Duration = Duration::from_secs(30);
pub const UNNOTIFIED_TTL: Duration = Duration::from_secs(1);
/// How long a probe notification may take to come back before the listener's
/// connection is taken for dead.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Payloads starting with this are probes, never session changes; other servers on the
/// same channel ignore them.
const PROBE_PREFIX: &str = "probe:";
/// Past this many entries the cache is emptied rather than grown.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<TokenDigest, Entry>>,
    generation: AtomicU64,
    notified: AtomicBool,
}

struct Entry {
    user: AuthUser,
    valid_until: Instant,
}

impl TokenCache {
    pub fn get(&self, digest: &TokenDigest) -> Option<AuthUser> {
        let entries = self.entries.lock().unwrap();
        let entry = entries.get(digest)?;
        (entry.valid_until > Instant::now()).then(|| entry.user.clone())
    }

    /// The generation to pass to [`insert`](Self::insert) after a lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a lookup made at `generation`, unless anything was invalidated since.
    pub fn insert(&self, digest: TokenDigest, user: AuthUser, generation: u64) {
        let now = Instant::now();
        let ttl = if self.notified.load(Ordering::Acquire) { NOTIFIED_TTL } else { UNNOTIFIED_TTL };
        let until_expiry = (user.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
        let valid_until = now + ttl.min(until_expiry);
        let mut entries = self.entries.lock().unwrap();
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.valid_until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(digest, Entry { user, valid_until });
    }

    pub fn remove(&self, digest: &TokenDigest) {
        let mut entries = self.entries.lock().unwrap();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(digest);
    }

    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Whether notifications are known to flow; entries made while not are
    /// short-lived, and on losing that knowledge every long-lived entry goes.
    fn set_notified(&self, notified: bool) {
        if self.notified.swap(notified, Ordering::AcqRel) != notified {
            self.clear();
        }
    }

    /// Notifications may have been missed: entries are short-lived again until the
    /// path is proven, and every long-lived one goes.
    fn unproven(&self) {
        if self.notified.load(Ordering::Acquire) {
            tracing::warn!("session changes are not followed: validated tokens are trusted for 1 s until they are");
        }
        self.set_notified(false);
    }

    fn apply(&self, payload: &str) {
        if payload.starts_with(PROBE_PREFIX) {
            return;
        }
        let mut digest = [0u8; 32];
        match hex::decode_to_slice(payload, &mut digest) {
            Ok(()) => self.remove(&digest),
            Err(_) => self.clear(),
        }
    }
}

/// Follows session changes until `shutdown` (see [`listener`](crate::listener) for
/// reconnecting), and proves the path at every connection and every `check_every`.
pub async fn listen(cache: Arc<TokenCache>, pool: PgPool, check_every: Duration, shutdown: CancellationToken) {
    let changes = SessionChanges { cache, pool: pool.clone(), check_every };
    listener::follow(&pool, SESSION_CHANGES_CHANNEL, &shutdown, changes).await;
}

struct SessionChanges {
    cache: Arc<TokenCache>,
    pool: PgPool,
    check_every: Duration,
}

impl listener::Follow for SessionChanges {
    async fn connection(&mut self, listener: &mut PgListener) -> Lost {
        Follower { cache: &self.cache, pool: &self.pool, listener }.run(self.check_every).await
    }

    fn missed(&mut self) {
        self.cache.unproven();
    }
}

/// One listener connection, followed while it proves itself.
struct Follower<'a> {
    cache: &'a TokenCache,
    pool: &'a PgPool,
    listener: &'a mut PgListener,
}

/// How a check of the notification path ended.
enum Checked {
    Proven,
    /// The trigger is missing and could not be put back; the connection is fine.
    NoTrigger,
    /// The probe did not come back: the connection is dead or half-open.
    Lost(Lost),
}

impl Follower<'_> {
    /// Applies notifications and checks the path until the connection is lost.
    async fn run(mut self, check_every: Duration) -> Lost {
        let mut next_check = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next_check) => {
                    match self.check().await {
                        Checked::Proven => self.cache.set_notified(true),
                        Checked::NoTrigger => self.cache.set_notified(false),
                        Checked::Lost(lost) => return lost,
                    }
                    next_check = tokio::time::Instant::now() + check_every;
                }
                next = self.listener.try_recv() => match next {
                    Ok(Some(notification)) => self.cache.apply(notification.payload()),
                    Ok(None) => return Lost::Closed,
                    Err(e) => return e.into(),
                },
            }
        }
    }

    /// Proves the path: the trigger is installed (re-installed if it went missing), and
    /// a probe sent on the channel comes back on this connection in time.
    async fn check(&mut self) -> Checked {
        match superset_auth_db::session_triggers_installed(self.pool).await {
            Ok(true) => {}
            Ok(false) => {
                // Sessions may have changed unannounced since the trigger went.
                self.cache.set_notified(false);
                tracing::warn!("the auth.sessions trigger is missing: re-installing it");
                if let Err(e) = superset_auth_db::install_session_triggers(self.pool).await {
                    tracing::warn!(error = %e, "cannot re-install the auth.sessions trigger: validated tokens are trusted for 1 s");
                    return Checked::NoTrigger;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the auth.sessions trigger");
                return Checked::Lost(Lost::Silent("cannot check the auth.sessions trigger"));
            }
        }
        let probe = format!("{PROBE_PREFIX}{}", uuid::Uuid::new_v4());
        let sent =
            sqlx::query("SELECT pg_notify($1, $2)").bind(SESSION_CHANGES_CHANNEL).bind(&probe).execute(self.pool);
        if !matches!(tokio::time::timeout(PROBE_TIMEOUT, sent).await, Ok(Ok(_))) {
            return Checked::Lost(Lost::Silent("cannot send a probe on the session change channel"));
        }
        let returned = tokio::time::timeout(PROBE_TIMEOUT, async {
            loop {
                match self.listener.try_recv().await {
                    Ok(Some(n)) if n.payload() == probe => return true,
                    Ok(Some(n)) => self.cache.apply(n.payload()),
                    Ok(None) | Err(_) => return false,
                }
            }
        });
        if returned.await != Ok(true) {
            return Checked::Lost(Lost::Silent("a probe on the session change channel did not come back"));
        }
        Checked::Proven
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(expires_in: chrono::Duration) -> AuthUser {
        AuthUser { user_id: "u".into(), expires_at: chrono::Utc::now() + expires_in }
    }

    #[test]
    fn insert_after_an_invalidation_is_dropped() {
        let cache = TokenCache::default();
        let generation = cache.generation();
        cache.remove(&[1; 32]);
        cache.insert([2; 32], user(chrono::Duration::hours(1)), generation);
        assert_eq!(cache.get(&[2; 32]), None);
    }

    #[test]
    fn entries_never_outlive_the_session() {
        let cache = TokenCache::default();
        cache.notified.store(true, Ordering::Release);
        cache.insert([3; 32], user(chrono::Duration::milliseconds(-1)), cache.generation());
        assert_eq!(cache.get(&[3; 32]), None);
        cache.insert([4; 32], user(chrono::Duration::hours(1)), cache.generation());
        assert!(cache.get(&[4; 32]).is_some());
    }

    #[test]
    fn notification_payload_removes_one_entry_or_all() {
        let cache = TokenCache::default();
        let digest = superset_auth_db::token_digest("tok");
        cache.insert(digest, user(chrono::Duration::hours(1)), cache.generation());
        cache.insert([5; 32], user(chrono::Duration::hours(1)), cache.generation());
        cache.apply(&hex::encode(digest));
        assert_eq!(cache.get(&digest), None);
        assert!(cache.get(&[5; 32]).is_some());
        cache.apply("*");
        assert_eq!(cache.get(&[5; 32]), None);
    }
}
