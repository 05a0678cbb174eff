//! The soak's verdicts: whether subscriptions caught up after a failure, and, at the
//! end, whether each acknowledged write is in its stream exactly once and in order,
//! and whether each device saw exactly the stream.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::caller::ATTEMPT_TIMEOUT;
use crate::user::User;

/// How soon after a failure ends every subscription must have delivered everything
/// acknowledged before it ended.
pub const CATCH_UP_LIMIT: Duration = Duration::from_secs(5);
/// Pages of one final read; a session holds a few hundred events.
const MAX_PAGES: usize = 1_000;

/// How subscriptions fared after one failure.
#[derive(Default)]
pub struct CatchUp {
    pub subscriptions: usize,
    pub late: usize,
    pub slowest: Duration,
}

/// Waits (until `recovered + CATCH_UP_LIMIT`) for every live subscription of users not
/// revoked to deliver what their user had acknowledged by `recovered`.
pub async fn caught_up(users: &[Arc<User>], recovered: Instant) -> CatchUp {
    let mut waiting: Vec<(Vec<String>, Arc<crate::user::Device>)> = Vec::new();
    for user in users.iter().filter(|u| !u.is_revoked()) {
        let acked = user.acked.lock().unwrap().clone();
        for device in &user.devices {
            waiting.push((acked.clone(), device.clone()));
        }
    }
    let mut result = CatchUp { subscriptions: waiting.len(), ..CatchUp::default() };
    let deadline = recovered + CATCH_UP_LIMIT;
    loop {
        waiting.retain(|(acked, device)| {
            let received = device.received.lock().unwrap();
            !acked.iter().all(|key| received.set.contains(key))
        });
        result.slowest = recovered.elapsed();
        if waiting.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    result.late = waiting.len();
    result
}

/// One event of a session's stream: its key and the text it carries ("" for none).
pub struct StoredEvent {
    pub key: String,
    pub text: String,
}

/// The whole stream of `user`'s session, read page by page (not live).
pub async fn read_stream(user: &User) -> Result<Vec<StoredEvent>, String> {
    let mut events = Vec::new();
    let mut offset = "-1".to_owned();
    for _ in 0..MAX_PAGES {
        let mut url = user.stream_url.clone();
        url.query_pairs_mut().append_pair("offset", &offset);
        let response = user
            .http
            .get(url)
            .bearer_auth(user.token())
            .timeout(ATTEMPT_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("user {}: final read: {e}", user.index))?;
        if response.status() != StatusCode::OK {
            return Err(format!("user {}: final read answered {}", user.index, response.status()));
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let next = header("stream-next-offset").ok_or("a read without Stream-Next-Offset")?;
        let up_to_date = header("stream-up-to-date").is_some_and(|v| v == "true");
        let body: serde_json::Value = response.json().await.map_err(|e| format!("final read: {e}"))?;
        for event in body.as_array().into_iter().flatten().filter(|e| e["type"] == "chunk") {
            let chunk = &event["value"]["chunk"];
            let text = chunk["delta"].as_str().or(chunk["content"].as_str()).unwrap_or_default();
            events.push(StoredEvent { key: event["key"].as_str().unwrap_or_default().to_owned(), text: text.into() });
        }
        if up_to_date || next == offset {
            return Ok(events);
        }
        offset = next;
    }
    Err(format!("user {}: the final read did not end", user.index))
}

/// What one session's check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub acked: usize,
    /// Acknowledged, and absent from the stream.
    pub lost: usize,
    /// Extra copies in the stream (same key or same text), or delivered twice to a device.
    pub duplicated: usize,
    /// Events out of the order they were acknowledged in, in the stream or on a device.
    pub reordered: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.acked += other.acked;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
    }
}

/// Checks a stream against what was acknowledged (in order) and what each device
/// delivered (in order).
pub fn verify(acked: &[String], stream: &[StoredEvent], devices: &[Vec<String>]) -> Tally {
    let mut tally = Tally { acked: acked.len(), ..Tally::default() };
    let stored: HashSet<&str> = stream.iter().map(|e| e.key.as_str()).collect();
    tally.lost = acked.iter().filter(|k| !stored.contains(k.as_str())).count();

    let mut keys = HashSet::new();
    let mut texts = HashSet::new();
    for event in stream {
        let repeated_key = !keys.insert(event.key.as_str());
        let repeated_text = !event.text.is_empty() && !texts.insert(event.text.as_str());
        if repeated_key || repeated_text {
            tally.duplicated += 1;
        }
    }

    let rank: HashMap<&str, usize> = acked.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect();
    let mut highest = None;
    for position in stream.iter().filter_map(|e| rank.get(e.key.as_str())) {
        if highest.is_some_and(|h| *position < h) {
            tally.reordered += 1;
        } else {
            highest = Some(*position);
        }
    }

    // A device must have delivered a prefix of the stream, each event once.
    for delivered in devices {
        let mut seen = HashSet::new();
        for (i, key) in delivered.iter().enumerate() {
            if !seen.insert(key.as_str()) {
                tally.duplicated += 1;
            } else if stream.get(i).is_none_or(|e| &e.key != key) {
                tally.reordered += 1;
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(events: &[(&str, &str)]) -> Vec<StoredEvent> {
        events.iter().map(|(k, t)| StoredEvent { key: (*k).into(), text: (*t).into() }).collect()
    }

    fn keys(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| (*k).to_owned()).collect()
    }

    #[test]
    fn a_clean_run_has_nothing_to_report() {
        let stored = stream(&[("a:0", "hi"), ("b:0", "x"), ("b:1", "")]);
        let tally = verify(&keys(&["a:0", "b:0", "b:1"]), &stored, &[keys(&["a:0", "b:0"])]);
        assert_eq!(tally, Tally { acked: 3, ..Tally::default() });
    }

    #[test]
    fn losses_copies_and_disorder_are_counted() {
        // b:1 is a copy of b:0 written again under the next seq; c:0 is missing.
        let stored = stream(&[("b:0", "x"), ("a:0", "hi"), ("b:1", "x")]);
        let devices = [keys(&["b:0", "b:0"]), keys(&["a:0"])];
        let tally = verify(&keys(&["a:0", "b:0", "c:0"]), &stored, &devices);
        assert_eq!(tally, Tally { acked: 3, lost: 1, duplicated: 2, reordered: 2 });
    }
}
