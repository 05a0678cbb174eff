//! Limits per client address on what anonymous callers can make the server do: a
//! token bucket per address for the token and authorization endpoints, and a quota of
//! sign-ins in progress per address and in total.
//!
//! Addresses are grouped as one party holds them (`superset_edge::address::client_group`:
//! an IPv6 address by its /64).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use superset_edge::address::client_group;

/// Beyond this many addresses seen within a minute, the limiter starts forgetting.
const MAX_TRACKED: usize = 10_000;

/// A bucket refills completely in this time; one untouched for this long is full.
const REFILL: Duration = Duration::from_secs(60);

/// A token bucket per address group, `per_minute` requests at once and refilled per
/// minute.
///
/// Buckets live in two generations. A bucket untouched for a minute is full again,
/// the same as no bucket, so once a minute the older generation is dropped whole and
/// the newer one becomes the older; a bucket used again moves to the newer. So finding
/// or adding a bucket is O(1), and the map never holds more than twice `capacity`: when
/// a flood of distinct addresses fills the newer generation early, it is rotated early.
/// The price is paid by the flood's neighbours, whose buckets may be forgotten (refilled)
/// early, never by a scan of the map.
pub struct RateLimiter {
    per_minute: f64,
    capacity: usize,
    generations: Mutex<Generations>,
}

struct Generations {
    current: HashMap<IpAddr, Bucket>,
    previous: HashMap<IpAddr, Bucket>,
    started: Instant,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn per_minute(n: u32) -> Self {
        RateLimiter::with_capacity(n, MAX_TRACKED)
    }

    fn with_capacity(n: u32, capacity: usize) -> Self {
        RateLimiter {
            per_minute: f64::from(n.max(1)),
            capacity: capacity.max(1),
            generations: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                started: Instant::now(),
            }),
        }
    }

    /// Takes one request from `ip`'s allowance, or says how long until one is free.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let key = client_group(ip);
        let now = Instant::now();
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.rotate(now, self.capacity);
        let Generations { current, previous, .. } = &mut *generations;
        let bucket = current
            .entry(key)
            .or_insert_with(|| previous.remove(&key).unwrap_or(Bucket { tokens: self.per_minute, updated: now }));
        let minutes = now.duration_since(bucket.updated).as_secs_f64() / REFILL.as_secs_f64();
        bucket.tokens = (bucket.tokens + minutes * self.per_minute).min(self.per_minute);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) * REFILL.as_secs_f64() / self.per_minute))
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        let generations = self.generations.lock().unwrap();
        generations.current.len() + generations.previous.len()
    }
}

impl Generations {
    fn rotate(&mut self, now: Instant, capacity: usize) {
        let age = now.duration_since(self.started);
        if age < REFILL && self.current.len() < capacity {
            return;
        }
        self.previous = std::mem::take(&mut self.current);
        if age >= 2 * REFILL {
            // Nothing was touched for a minute: the older buckets are full too.
            self.previous.clear();
        }
        self.started = now;
    }
}

/// Sign-ins in progress that this instance started: at most `per_address` per address
/// group and `total` in all, each counted from its start for `ttl` (its lifetime; one
/// finished early still counts until then, which errs on the side of the bound).
/// Entries expire in the order they were made, so admitting one is O(1) amortized and
/// the bookkeeping never exceeds `total` entries.
pub struct PendingQuota {
    per_address: usize,
    total: usize,
    ttl: Duration,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// Every counted sign-in's expiry and address group, oldest first.
    all: VecDeque<(Instant, IpAddr)>,
    /// The same, per address group.
    by_group: HashMap<IpAddr, VecDeque<Instant>>,
}

/// Why a sign-in was not admitted, and when a slot frees up.
#[derive(Debug, PartialEq, Eq)]
pub enum OverQuota {
    Address(Duration),
    Total(Duration),
}

impl PendingQuota {
    pub fn new(per_address: u32, total: u32, ttl: Duration) -> Self {
        PendingQuota {
            per_address: per_address.max(1) as usize,
            total: total.max(1) as usize,
            ttl,
            queue: Mutex::new(Queue::default()),
        }
    }

    /// Counts a new sign-in from `ip`, if there is room for it.
    pub fn admit(&self, ip: IpAddr) -> Result<(), OverQuota> {
        let key = client_group(ip);
        let now = Instant::now();
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.expire(now);
        if let Some((oldest, _)) = queue.all.front().filter(|_| queue.all.len() >= self.total) {
            return Err(OverQuota::Total(oldest.saturating_duration_since(now)));
        }
        if let Some(oldest) = queue.by_group.get(&key).filter(|q| q.len() >= self.per_address).and_then(|q| q.front()) {
            return Err(OverQuota::Address(oldest.saturating_duration_since(now)));
        }
        let expires = now + self.ttl;
        queue.all.push_back((expires, key));
        queue.by_group.entry(key).or_default().push_back(expires);
        Ok(())
    }
}

impl Queue {
    fn expire(&mut self, now: Instant) {
        while let Some(&(expires, key)) = self.all.front() {
            if expires > now {
                break;
            }
            self.all.pop_front();
            if let Some(group) = self.by_group.get_mut(&key) {
                group.pop_front();
                if group.is_empty() {
                    self.by_group.remove(&key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_address_has_its_own_allowance() {
        let limiter = RateLimiter::per_minute(2);
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).unwrap_err();
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limiter.check(b).is_ok());
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let limiter = RateLimiter::per_minute(2);
        assert!(limiter.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:abcd::9")).is_err(), "a third address of the same /64");
        assert!(limiter.check(ip("2001:db8:1:3::1")).is_ok(), "the next /64 is another party");
        // An IPv4-mapped address is that IPv4 address.
        assert!(limiter.check(ip("192.0.2.7")).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.7")).is_ok());
        assert!(limiter.check(ip("192.0.2.7")).is_err());
    }

    #[test]
    fn a_flood_of_addresses_keeps_the_map_bounded() {
        let limiter = RateLimiter::with_capacity(1, 100);
        for n in 0..10_000u32 {
            let _ = limiter.check(IpAddr::from(n.to_be_bytes()));
            assert!(limiter.tracked() <= 200, "{} addresses tracked after {n}", limiter.tracked());
        }
        // The flood costs its neighbours at most an early refill, never a refusal:
        // an address seen just now is still limited.
        let last = IpAddr::from(9_999u32.to_be_bytes());
        assert!(limiter.check(last).is_err(), "the address that just spent its allowance");
    }

    #[test]
    fn pending_sign_ins_are_bounded_per_address_and_in_total() {
        let quota = PendingQuota::new(2, 3, Duration::from_secs(600));
        assert!(quota.admit(ip("192.0.2.1")).is_ok());
        assert!(quota.admit(ip("192.0.2.1")).is_ok());
        assert!(
            matches!(quota.admit(ip("192.0.2.1")), Err(OverQuota::Address(wait)) if wait > Duration::from_secs(590))
        );
        assert!(quota.admit(ip("2001:db8::1")).is_ok());
        assert!(matches!(quota.admit(ip("2001:db8::2")), Err(OverQuota::Total(_))));
    }

    #[test]
    fn pending_sign_ins_free_their_slot_when_they_expire() {
        let quota = PendingQuota::new(1, 1, Duration::ZERO);
        for _ in 0..3 {
            assert!(quota.admit(ip("192.0.2.1")).is_ok());
        }
        assert!(quota.queue.lock().unwrap().all.len() <= 1);
    }
}
