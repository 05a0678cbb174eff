//! A token bucket per client IP address, for the token endpoint: codes are long random
//! values, but nobody gets to hammer the database guessing them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many tracked addresses, buckets that have refilled are forgotten.
const MAX_TRACKED: usize = 10_000;

pub struct RateLimiter {
    /// Requests allowed at once, and refilled per minute.
    per_minute: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn per_minute(n: u32) -> Self {
        RateLimiter { per_minute: f64::from(n.max(1)), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `ip`'s allowance, or says how long until one is free.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| self.refilled(b, now) < self.per_minute);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket { tokens: self.per_minute, updated: now });
        bucket.tokens = self.refilled(bucket, now);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) * 60.0 / self.per_minute))
        }
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let minutes = now.duration_since(bucket.updated).as_secs_f64() / 60.0;
        (bucket.tokens + minutes * self.per_minute).min(self.per_minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_allowance() {
        let limiter = RateLimiter::per_minute(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).unwrap_err();
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limiter.check(b).is_ok());
    }
}
