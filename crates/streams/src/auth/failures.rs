//! Failed session lookups per client, so that guessing tokens (or a flood of stale
//! ones) from one place costs the database little: past the limit, that client's
//! unknown tokens are refused with 429 before any lookup. Tokens that were valid when
//! last looked up are remembered and exempt, so a user who shares an address with an
//! attacker is never held back by the attacker's failures.
//!
//! Counts are kept for the current minute and the one before, weighted into a sliding
//! estimate; valid tokens for the current hour and the one before. Every map is
//! bounded: when the current one is full it becomes the previous one early, so memory
//! stays bounded without ever scanning a map.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use superset_auth_db::TokenDigest;
use superset_edge::address::client_group;

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked per window.
const MAX_TRACKED: usize = 50_000;
/// How long a valid token is remembered without being looked up again.
const KNOWN_FOR: Duration = Duration::from_secs(3600);
/// Valid tokens remembered per period.
const MAX_KNOWN: usize = 100_000;

pub struct FailedLookups {
    per_minute: u32,
    windows: Mutex<Windows>,
    known_valid: Mutex<KnownValid>,
}

struct KnownValid {
    started: Instant,
    current: HashSet<TokenDigest>,
    previous: HashSet<TokenDigest>,
}

struct Windows {
    started: Instant,
    current: HashMap<IpAddr, u32>,
    previous: HashMap<IpAddr, u32>,
}

impl FailedLookups {
    pub fn per_minute(per_minute: u32) -> Self {
        let windows = Windows { started: Instant::now(), current: HashMap::new(), previous: HashMap::new() };
        let known_valid = KnownValid { started: Instant::now(), current: HashSet::new(), previous: HashSet::new() };
        FailedLookups {
            per_minute: per_minute.max(1),
            windows: Mutex::new(windows),
            known_valid: Mutex::new(known_valid),
        }
    }

    /// Whether the token was valid when last looked up (within the last hour or two).
    pub fn known_valid(&self, digest: &TokenDigest) -> bool {
        let known = self.known_valid.lock().unwrap_or_else(|e| e.into_inner());
        known.current.contains(digest) || known.previous.contains(digest)
    }

    pub fn succeeded(&self, digest: TokenDigest) {
        let mut known = self.known_valid.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if now.duration_since(known.started) >= KNOWN_FOR || known.current.len() >= MAX_KNOWN {
            known.previous = std::mem::take(&mut known.current);
            known.started = now;
        }
        known.current.insert(digest);
    }

    /// A lookup found nothing: the token is no longer known valid, and `client` (when
    /// the lookup was made for one) has failed once more.
    pub fn failed(&self, client: Option<IpAddr>, digest: &TokenDigest) {
        {
            let mut known = self.known_valid.lock().unwrap_or_else(|e| e.into_inner());
            known.current.remove(digest);
            known.previous.remove(digest);
        }
        if let Some(client) = client {
            self.record(client);
        }
    }

    /// `Err(retry_after)` when `ip`'s group has failed too often lately.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let client = client_group(ip);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        windows.roll(now);
        let elapsed = now.duration_since(windows.started);
        let carried = 1.0 - elapsed.as_secs_f64() / WINDOW.as_secs_f64();
        let count = |map: &HashMap<IpAddr, u32>| f64::from(map.get(&client).copied().unwrap_or(0));
        let estimate = count(&windows.current) + count(&windows.previous) * carried;
        if estimate < f64::from(self.per_minute) {
            return Ok(());
        }
        Err((WINDOW - elapsed).max(Duration::from_secs(1)))
    }

    fn record(&self, ip: IpAddr) {
        let client = client_group(ip);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.roll(Instant::now());
        if windows.current.len() >= MAX_TRACKED && !windows.current.contains_key(&client) {
            windows.previous = std::mem::take(&mut windows.current);
        }
        *windows.current.entry(client).or_default() += 1;
    }
}

impl Windows {
    fn roll(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.started);
        if elapsed < WINDOW {
            return;
        }
        self.previous = if elapsed < 2 * WINDOW { std::mem::take(&mut self.current) } else { HashMap::new() };
        self.current = HashMap::new();
        self.started = now - Duration::from_nanos((elapsed.as_nanos() % WINDOW.as_nanos()) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn past_the_limit_an_address_waits_and_others_do_not() {
        let failures = FailedLookups::per_minute(3);
        for _ in 0..3 {
            assert!(failures.check(ip("192.0.2.1")).is_ok());
            failures.record(ip("192.0.2.1"));
        }
        let wait = failures.check(ip("192.0.2.1")).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= WINDOW, "{wait:?}");
        assert!(failures.check(ip("192.0.2.2")).is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_count() {
        let failures = FailedLookups::per_minute(2);
        failures.record(ip("2001:db8:1:2::1"));
        failures.record(ip("2001:db8:1:2::ffff"));
        assert!(failures.check(ip("2001:db8:1:2:abcd::9")).is_err());
        assert!(failures.check(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn a_token_known_valid_is_exempt_until_it_fails() {
        let failures = FailedLookups::per_minute(1);
        let digest = superset_auth_db::token_digest("valid");
        assert!(!failures.known_valid(&digest));
        failures.succeeded(digest);
        assert!(failures.known_valid(&digest));
        failures.failed(Some(ip("192.0.2.1")), &digest);
        assert!(!failures.known_valid(&digest));
        assert!(failures.check(ip("192.0.2.1")).is_err());
    }

    #[test]
    fn a_full_window_is_retired_rather_than_grown() {
        let failures = FailedLookups::per_minute(1);
        for i in 0..=MAX_TRACKED as u32 {
            failures.record(IpAddr::from(i.to_be_bytes()));
        }
        let windows = failures.windows.lock().unwrap();
        assert_eq!(windows.current.len(), 1);
        assert_eq!(windows.previous.len(), MAX_TRACKED);
    }
}
