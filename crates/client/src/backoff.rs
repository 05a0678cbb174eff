//! Waiting between retries: exponential, capped, with jitter, so that many clients
//! cut off by the same outage do not come back in lockstep (no retry storm).

use std::time::Duration;

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
    fn retry_after_is_honoured_up_to_the_cap() {
        let mut backoff = Backoff::new(policy());
        assert_eq!(backoff.next_delay(Some(Duration::from_secs(1))), Duration::from_secs(1));
        assert_eq!(backoff.next_delay(Some(Duration::from_secs(60))), Duration::from_secs(2));
    }
}
