//! Waiting between retries: exponential, capped, with jitter, so that many clients
//! cut off by the same outage do not come back in lockstep (no retry storm); and one
//! circuit breaker per client, so that all of its requests together stay bounded
//! however long the outage lasts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

/// How retries are spaced, and how many a single request gets.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The first wait; each next one doubles.
    pub first_delay: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
    /// Tries of one request (the first included) before reporting the server
    /// unavailable. Live subscriptions retry until cancelled.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { first_delay: Duration::from_millis(250), max_delay: Duration::from_secs(30), max_attempts: 6 }
    }
}

/// The retry state of one request or subscription.
pub struct Backoff {
    policy: RetryPolicy,
    failures: u32,
}

impl Backoff {
    pub fn new(policy: RetryPolicy) -> Self {
        Backoff { policy, failures: 0 }
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failure and returns how long to wait: the capped exponential delay,
    /// scaled by a random factor in [0.5, 1], and never less than what the server
    /// asked for (`Retry-After`) unless that exceeds the cap.
    pub fn next_delay(&mut self, server_asked: Option<Duration>) -> Duration {
        let exponent = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        let ceiling = self.policy.first_delay.saturating_mul(1 << exponent).min(self.policy.max_delay);
        let jittered = ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        jittered.max(server_asked.unwrap_or_default()).min(self.policy.max_delay)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Shared by every request and subscription of one client. After `max_attempts`
/// failures in a row it opens: nothing is sent for a cool-down of `max_delay` to 1.5 ×
/// `max_delay` (jittered), then one probe goes out; its success closes the breaker, its
/// failure opens it again. A `Retry-After` keeps it open at least that long, whatever
/// the count. So during an outage of length T one client sends at most
/// `max_attempts` + (its concurrent callers) + T / `max_delay` + 1 requests.
pub(crate) struct Breaker {
    policy: RetryPolicy,
    state: Mutex<BreakerState>,
}

#[derive(Default)]
struct BreakerState {
    failures: u32,
    /// Nothing is sent before this.
    closed_until: Option<Instant>,
}

impl Breaker {
    pub fn new(policy: RetryPolicy) -> Self {
        Breaker { policy, state: Mutex::new(BreakerState::default()) }
    }

    /// `Ok` when a request may go now (when the breaker was open, this caller is the
    /// probe and the others keep waiting); otherwise how long until it may.
    pub fn admit(&self) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        match state.closed_until {
            Some(until) if until > now => Err(until - now),
            Some(_) => {
                state.closed_until = Some(now + self.cool_down());
                Ok(())
            }
            None => Ok(()),
        }
    }

    pub fn success(&self) {
        *self.state.lock().unwrap() = BreakerState::default();
    }

    /// A failure that says nothing about the session (network, 5xx, 429).
    pub fn failure(&self, server_asked: Option<Duration>) {
        let mut state = self.state.lock().unwrap();
        state.failures = state.failures.saturating_add(1);
        let now = Instant::now();
        let mut until = state.closed_until.filter(|&until| until > now);
        if state.failures >= self.policy.max_attempts {
            until = until.max(Some(now + self.cool_down()));
        }
        if let Some(asked) = server_asked {
            until = until.max(Some(now + asked.min(MAX_RETRY_AFTER)));
        }
        state.closed_until = until;
    }

    /// After a machine wakes, the outage it remembers is probably over.
    pub fn forget(&self) {
        self.success();
    }

    fn cool_down(&self) -> Duration {
        self.policy.max_delay.mul_f64(rand::thread_rng().gen_range(1.0..=1.5))
    }
}

/// A `Retry-After` longer than this is taken as this (a misconfigured server must not
/// silence the client for days).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy { first_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2), max_attempts: 3 }
    }

    #[test]
    fn delays_double_within_jitter_and_stop_at_the_cap() {
        let mut backoff = Backoff::new(policy());
        for ceiling_ms in [100u64, 200, 400, 800, 1600, 2000, 2000, 2000] {
            let delay = backoff.next_delay(None);
            let ceiling = Duration::from_millis(ceiling_ms);
            assert!(delay <= ceiling && delay >= ceiling / 2, "{delay:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
        }
        backoff.reset();
        assert!(backoff.next_delay(None) <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let delays: std::collections::HashSet<Duration> =
            (0..50).map(|_| Backoff::new(policy()).next_delay(None)).collect();
        assert!(delays.len() > 10, "50 clients retried at only {} distinct moments", delays.len());
    }

    #[test]
    fn the_breaker_opens_after_repeated_failures_and_lets_one_probe_through() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(50),
            max_attempts: 3,
        };
        let breaker = Breaker::new(policy);
        for _ in 0..2 {
            breaker.failure(None);
            assert!(breaker.admit().is_ok());
        }
        breaker.failure(None);
        let wait = breaker.admit().unwrap_err();
        assert!(wait > Duration::from_millis(40) && wait <= Duration::from_millis(75), "{wait:?}");
        std::thread::sleep(wait);
        assert!(breaker.admit().is_ok(), "the probe");
        assert!(breaker.admit().is_err(), "only one probe at a time");
        breaker.success();
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn retry_after_keeps_the_breaker_open_that_long() {
        let breaker = Breaker::new(policy());
        breaker.failure(Some(Duration::from_secs(5)));
        let wait = breaker.admit().unwrap_err();
        assert!(wait > Duration::from_secs(4), "{wait:?}");
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let mut backoff = Backoff::new(policy());
        assert_eq!(backoff.next_delay(Some(Duration::from_secs(1))), Duration::from_secs(1));
        assert_eq!(backoff.next_delay(Some(Duration::from_secs(60))), Duration::from_secs(2));
    }
}
