//! Per-user limits, so that one signed-in user cannot exhaust the server for everyone.
//!
//! Two are kept in memory by each instance, being about that instance's own load: the
//! request rate (a token bucket per user) and the live reads (SSE, long-poll) a user
//! holds open. What a user keeps is counted where it is kept, so that the count is
//! right after a restart and whichever instance wrote: streams and bytes by the store
//! (see [`crate::store::Quota`]), chat sessions from the user's session index.
//!
//! Every refusal is the same `429` ([`ApiError::limit`]): `Retry-After` and
//! `{"error": "Too many requests", "limit": NAME}`, NAME being one of [`Limit::name`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api_error::{ApiError, Wait};
use crate::config::UserLimits;
use crate::AuthUser;

/// Which limit a refused request ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Streams,
    Sessions,
    Bytes,
    Readers,
    Requests,
}

impl Limit {
    /// The name clients see in the `limit` field of the 429 body.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Streams => "streams",
            Limit::Sessions => "sessions",
            Limit::Bytes => "bytes",
            Limit::Readers => "readers",
            Limit::Requests => "requests",
        }
    }
}

/// How often buckets that have refilled are dropped: a full bucket is the same as
/// none, so the map holds only users active in the last moments.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The in-memory limits of one instance.
pub struct Limiter {
    limits: UserLimits,
    buckets: Mutex<Buckets>,
    readers: Mutex<HashMap<Arc<str>, u64>>,
}

struct Buckets {
    by_user: HashMap<Arc<str>, Bucket>,
    swept: Instant,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    pub fn new(limits: UserLimits) -> Self {
        Limiter {
            limits,
            buckets: Mutex::new(Buckets { by_user: HashMap::new(), swept: Instant::now() }),
            readers: Mutex::default(),
        }
    }

    /// Takes one request from the user's bucket, or says in how many seconds one
    /// will be there.
    fn admit(&self, user: &Arc<str>) -> Result<(), u64> {
        let rate = f64::from(self.limits.requests_per_second);
        let burst = f64::from(self.limits.request_burst);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("limiter lock");
        if now.duration_since(buckets.swept) >= SWEEP_EVERY {
            buckets.by_user.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            buckets.swept = now;
        }
        let bucket = buckets.by_user.entry(user.clone()).or_insert(Bucket { tokens: burst, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
    }

    /// A place for one more live read of `user`, held until the slot is dropped.
    pub fn reader(self: &Arc<Self>, user: &Arc<str>) -> Result<ReaderSlot, Limit> {
        let mut readers = self.readers.lock().expect("limiter lock");
        let open = readers.entry(user.clone()).or_insert(0);
        if *open >= self.limits.max_readers {
            return Err(Limit::Readers);
        }
        *open += 1;
        Ok(ReaderSlot { limiter: self.clone(), user: user.clone() })
    }
}

/// One open live read; dropping it frees the place.
pub struct ReaderSlot {
    limiter: Arc<Limiter>,
    user: Arc<str>,
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        let mut readers = self.limiter.readers.lock().expect("limiter lock");
        if let Some(open) = readers.get_mut(&self.user) {
            *open -= 1;
            if *open == 0 {
                readers.remove(&self.user);
            }
        }
    }
}

/// Refuses a request over its user's rate.
pub fn per_user_rate(limiter: &Limiter, user: &AuthUser) -> Result<(), ApiError> {
    limiter
        .admit(&user.user_id)
        .map_err(|retry_after| ApiError::limit_for(Limit::Requests, Wait::For(Duration::from_secs(retry_after))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests_per_second: u32, request_burst: u32, max_readers: u64) -> Arc<Limiter> {
        Arc::new(Limiter::new(UserLimits {
            max_streams: 1,
            max_sessions: 1,
            max_bytes: 1,
            max_readers,
            requests_per_second,
            request_burst,
        }))
    }

    #[test]
    fn a_burst_is_admitted_then_refused_with_the_wait_for_one_token() {
        let limiter = limiter(1, 3, 1);
        let (alice, bob): (Arc<str>, Arc<str>) = ("alice".into(), "bob".into());
        for _ in 0..3 {
            assert_eq!(limiter.admit(&alice), Ok(()));
        }
        assert_eq!(limiter.admit(&alice), Err(1));
        assert_eq!(limiter.admit(&bob), Ok(()), "another user has a bucket of their own");
    }

    #[test]
    fn reader_slots_are_freed_when_dropped() {
        let limiter = limiter(1, 1, 2);
        let alice: Arc<str> = "alice".into();
        let first = limiter.reader(&alice).unwrap();
        let _second = limiter.reader(&alice).unwrap();
        assert_eq!(limiter.reader(&alice).err(), Some(Limit::Readers));
        assert!(limiter.reader(&"bob".into()).is_ok());
        drop(first);
        assert!(limiter.reader(&alice).is_ok());
    }
}
