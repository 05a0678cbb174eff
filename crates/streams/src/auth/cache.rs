//! A cache of validated tokens that never outlives the truth.
//!
//! On PostgreSQL a trigger on `auth.sessions` announces every changed or deleted
//! session (by token digest), and a listener drops it here, so an entry may live up to
//! [`NOTIFIED_TTL`]. Whenever that channel is not known to be live (SQLite, or the
//! listener reconnecting), an entry lives at most [`UNNOTIFIED_TTL`]. No entry outlives
//! its session's `expires_at`. A generation counter closes the race in which a lookup
//! reads a session just before it is revoked and caches it just after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use superset_auth_db::{TokenDigest, SESSION_CHANGES_CHANNEL};
use tokio_util::sync::CancellationToken;

use super::AuthUser;

pub const NOTIFIED_TTL: Duration = Duration::from_secs(30);
pub const UNNOTIFIED_TTL: Duration = Duration::from_secs(1);
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

    /// Whether notifications are flowing; entries made while not are short-lived.
    fn set_notified(&self, notified: bool) {
        self.notified.store(notified, Ordering::Release);
        self.clear();
    }

    fn apply(&self, payload: &str) {
        let mut digest = [0u8; 32];
        match hex::decode_to_slice(payload, &mut digest) {
            Ok(()) => self.remove(&digest),
            Err(_) => self.clear(),
        }
    }
}

/// Follows session changes until `shutdown`, reconnecting with backoff; while the
/// channel is down the cache falls back to short-lived entries.
pub async fn listen(cache: Arc<TokenCache>, pool: PgPool, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(SESSION_CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = connected => r,
        };
        match result {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                cache.set_notified(true);
                tracing::debug!("following session changes");
                loop {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        n = listener.try_recv() => n,
                    };
                    match next {
                        Ok(Some(notification)) => cache.apply(notification.payload()),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "session change listener failed");
                            break;
                        }
                    }
                }
                cache.set_notified(false);
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for session changes"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
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
