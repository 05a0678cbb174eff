//! `Stream-Cursor` values: the number of 20-second intervals since 2024-10-09 UTC. They
//! make successive live responses differ in cache key, so a CDN can collapse waiting
//! clients without ever serving the same empty answer in a loop.

use rand::Rng;

const INTERVAL_SECS: i64 = 20;
/// 2024-10-09T00:00:00Z.
const EPOCH_SECS: i64 = 1_728_432_000;

/// The cursor to answer with, given the one the client echoed: never lower than the
/// client's, and strictly higher when the client is already at the current interval
/// (short of `u64::MAX`, where it stays: a client's cursor may be anything).
pub fn next(echoed: Option<&str>) -> String {
    let now = (chrono::Utc::now().timestamp() - EPOCH_SECS) / INTERVAL_SECS;
    let current = now.max(0) as u64;
    match echoed.and_then(|c| c.parse::<u64>().ok()) {
        Some(client) if client >= current => {
            let jitter_secs = rand::thread_rng().gen_range(1..=3600);
            client.saturating_add((jitter_secs / INTERVAL_SECS as u64).max(1)).to_string()
        }
        _ => current.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::next;

    #[test]
    fn cursors_only_move_forward() {
        let first: u64 = next(None).parse().unwrap();
        let second: u64 = next(Some(&first.to_string())).parse().unwrap();
        assert!(second > first);
        assert_eq!(next(Some("3")), first.to_string());
        assert_eq!(next(Some("junk")), first.to_string());
    }

    #[test]
    fn a_cursor_at_the_top_saturates() {
        for huge in [u64::MAX, u64::MAX - 1] {
            assert_eq!(next(Some(&huge.to_string())), u64::MAX.to_string());
        }
    }
}
