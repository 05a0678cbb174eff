//! What the soak counts while it runs: answers by phase, latencies by route,
//! reconnects, and users signed out who should not have been.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// Counts of one phase of the run (the failure going on, or `steady`).
#[derive(Clone, Default)]
pub struct PhaseCounts {
    pub answers: u64,
    pub server_errors: u64,
    pub rate_limited: u64,
    /// Connections refused or cut before an answer (a killed server behind HAProxy
    /// shows up as 502/503 from HAProxy instead; these are the rest).
    pub transport_errors: u64,
}

#[derive(Default)]
struct State {
    phase: &'static str,
    /// Phase names in the order they first began.
    phases: Vec<&'static str>,
    counts: HashMap<&'static str, PhaseCounts>,
    latency: HashMap<&'static str, Vec<Duration>>,
    reconnect_times: Vec<Duration>,
    /// Users answered 401 although nobody revoked them.
    signed_out: BTreeSet<usize>,
    /// Requests that got an answer the soak does not expect, or gave up retrying.
    failures: Vec<String>,
}

pub struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    pub fn new(first_phase: &'static str) -> Self {
        let metrics = Metrics { state: Mutex::new(State::default()) };
        metrics.enter(first_phase);
        metrics
    }

    pub fn enter(&self, phase: &'static str) {
        let mut state = self.state.lock().unwrap();
        state.phase = phase;
        if !state.phases.contains(&phase) {
            state.phases.push(phase);
        }
    }

    fn count(&self, bump: impl FnOnce(&mut PhaseCounts)) {
        let mut state = self.state.lock().unwrap();
        let phase = state.phase;
        bump(state.counts.entry(phase).or_default());
    }

    /// An answer with this status; `latency` is kept for answers that count as
    /// served (2xx, and a 409 that confirms an earlier write).
    pub fn answer(&self, route: &'static str, status: u16, latency: Duration) {
        self.count(|c| {
            c.answers += 1;
            match status {
                429 => c.rate_limited += 1,
                500.. => c.server_errors += 1,
                _ => {}
            }
        });
        if (200..300).contains(&status) || status == 409 {
            self.state.lock().unwrap().latency.entry(route).or_default().push(latency);
        }
    }

    pub fn transport_error(&self) {
        self.count(|c| c.transport_errors += 1);
    }

    pub fn reconnected(&self, took: Duration) {
        self.state.lock().unwrap().reconnect_times.push(took);
    }

    pub fn wrongly_signed_out(&self, user: usize, what: &str) {
        let mut state = self.state.lock().unwrap();
        if state.signed_out.insert(user) {
            state.failures.push(format!("user {user} was refused (401) on {what} without being revoked"));
        }
    }

    pub fn failure(&self, what: String) {
        self.state.lock().unwrap().failures.push(what);
    }

    pub fn signed_out(&self) -> usize {
        self.state.lock().unwrap().signed_out.len()
    }

    pub fn failures(&self) -> Vec<String> {
        self.state.lock().unwrap().failures.clone()
    }

    pub fn by_phase(&self) -> Vec<(&'static str, PhaseCounts)> {
        let state = self.state.lock().unwrap();
        state.phases.iter().map(|p| (*p, state.counts.get(p).cloned().unwrap_or_default())).collect()
    }

    /// Per route: count, p50, p99.
    pub fn latencies(&self) -> Vec<(&'static str, usize, Duration, Duration)> {
        let state = self.state.lock().unwrap();
        let mut routes: Vec<_> = state
            .latency
            .iter()
            .map(|(route, times)| {
                let mut times = times.clone();
                times.sort();
                (*route, times.len(), percentile(&times, 50), percentile(&times, 99))
            })
            .collect();
        routes.sort_by_key(|r| r.0);
        routes
    }

    /// Count, p50, p99 of the time from a lost connection to the next one delivering.
    pub fn reconnects(&self) -> (usize, Duration, Duration) {
        let mut times = self.state.lock().unwrap().reconnect_times.clone();
        times.sort();
        (times.len(), percentile(&times, 50), percentile(&times, 99))
    }
}

/// The `p`th percentile of sorted values (nearest rank); zero when there are none.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50), Duration::from_millis(50));
        assert_eq!(percentile(&values, 99), Duration::from_millis(99));
        assert_eq!(percentile(&values[..1], 99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn answers_are_counted_in_the_phase_they_came_in() {
        let metrics = Metrics::new("steady");
        metrics.answer("chunks", 200, Duration::from_millis(3));
        metrics.enter("kill-1");
        metrics.answer("chunks", 502, Duration::from_millis(1));
        metrics.answer("chunks", 429, Duration::from_millis(1));
        metrics.enter("steady");
        metrics.answer("chunks", 503, Duration::from_millis(1));
        let phases = metrics.by_phase();
        assert_eq!(phases.iter().map(|p| p.0).collect::<Vec<_>>(), ["steady", "kill-1"]);
        assert_eq!((phases[0].1.answers, phases[0].1.server_errors), (2, 1));
        assert_eq!((phases[1].1.server_errors, phases[1].1.rate_limited), (1, 1));
        assert_eq!(metrics.latencies()[0].1, 1, "only served answers have a latency");
    }
}
