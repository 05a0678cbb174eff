//! Chat sessions (`/v1/sessions`): the API the desktop talks to instead of raw streams.
//!
//! A session is a JSON stream at `sessions/{id}` in its owner's namespace, holding
//! State Protocol events (see the `superset-chat` crate), plus a metadata entry in the
//! owner's session index. Both live in the stream store, so they survive restarts and
//! are shared by every server instance on the same storage.
//!
//! - `routes`: the HTTP handlers and their validation;
//! - `sequence`: writing to one session's stream, with per-message sequence numbers
//!   assigned under a lock so they are gap-free however many writers race;
//! - `index`: each user's list of sessions.

mod index;
mod request;
mod routes;
mod sequence;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::time::Instant;

use serde_json::Value;

use crate::api_error::ApiError;
use crate::store::{ReadFrom, Store, StoreError, StreamKey};

pub use routes::routes;

/// Where chat-session streams live, inside each owner's namespace.
pub const STREAM_PREFIX: &str = "sessions/";

/// How long a session's writer state or a user's session index stays in memory
/// unused; it is read again from the store when needed.
const IDLE: Duration = Duration::from_secs(300);

/// The shared state of the chat-session API.
pub struct Sessions {
    store: Arc<dyn Store>,
    max_content_bytes: usize,
    /// Chat sessions one user may own.
    max_sessions: u64,
    sequences: Idle<StreamKey, sequence::Sequences>,
    indexes: Idle<String, index::Index>,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, max_content_bytes: usize, max_sessions: u64) -> Self {
        Sessions { store, max_content_bytes, max_sessions, sequences: Idle::new(IDLE), indexes: Idle::new(IDLE) }
    }

    fn sequences(&self, key: &StreamKey) -> Arc<tokio::sync::Mutex<sequence::Sequences>> {
        self.sequences.get(key)
    }

    fn index(&self, owner: &str) -> Arc<tokio::sync::Mutex<index::Index>> {
        self.indexes.get(&owner.to_owned())
    }

    /// Forgets a deleted session's cached state.
    fn forget(&self, key: &StreamKey) {
        self.sequences.remove(key);
    }
}

/// Values kept per key while in use, and dropped once unused for a while, so what
/// many users or sessions once touched does not stay in memory. The map is swept at
/// most once per that while, by the lookup that finds that much time has passed.
struct Idle<K, V> {
    after: Duration,
    entries: Mutex<IdleEntries<K, V>>,
}

struct IdleEntries<K, V> {
    by_key: HashMap<K, (Arc<tokio::sync::Mutex<V>>, Instant)>,
    swept: Instant,
}

impl<K: Clone + Eq + Hash, V: Default> Idle<K, V> {
    fn new(after: Duration) -> Self {
        Idle { after, entries: Mutex::new(IdleEntries { by_key: HashMap::new(), swept: Instant::now() }) }
    }

    fn get(&self, key: &K) -> Arc<tokio::sync::Mutex<V>> {
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("idle map lock");
        if now.duration_since(entries.swept) >= self.after {
            // An entry someone holds is in use, however long ago it was looked up.
            let after = self.after;
            entries.by_key.retain(|_, (value, used)| Arc::strong_count(value) > 1 || now.duration_since(*used) < after);
            entries.swept = now;
        }
        let (value, used) = entries.by_key.entry(key.clone()).or_insert_with(|| (Arc::default(), now));
        *used = now;
        value.clone()
    }

    fn remove(&self, key: &K) {
        self.entries.lock().expect("idle map lock").by_key.remove(key);
    }

    #[cfg(test)]
    fn keys(&self) -> Vec<K> {
        self.entries.lock().expect("idle map lock").by_key.keys().cloned().collect()
    }
}

/// The stream key of a session.
pub fn stream_key(owner: &str, session_id: &str) -> StreamKey {
    StreamKey::new(owner, format!("{STREAM_PREFIX}{session_id}"))
}

/// A JSON message of a stream, and where it lies.
struct Message {
    value: Value,
    /// Where a fork of the stream must start to end just after this message: an
    /// offset, and how many messages of the stored run there to inherit as well.
    fork_after: (u64, u64),
}

/// Calls `each` with every JSON message of a stream from `from` to its tail, in
/// order; returns the offset after them. The stream is read a megabyte at a time (or
/// one stored run, at most the largest append), so a stream of any size is never
/// held in memory whole.
async fn for_each_message(
    store: &dyn Store,
    key: &StreamKey,
    mut from: ReadFrom,
    mut each: impl FnMut(Message),
) -> Result<u64, StoreError> {
    const BATCH: usize = 1 << 20;
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    loop {
        let batch = store.read(key, from, BATCH).await?;
        for slice in batch.slices() {
            let spans = crate::store::message_spans(&slice.data).map_err(|e| corrupt(&e))?;
            let count = spans.len() as u64;
            for (i, span) in (1..).zip(spans) {
                let value = serde_json::from_slice(&slice.data[span]).map_err(|e| corrupt(&e))?;
                let fork_after = if i == count { (slice.end(), 0) } else { (slice.start, i) };
                each(Message { value, fork_after });
            }
        }
        if batch.up_to_date() || batch.next == batch.from {
            return Ok(batch.next);
        }
        from = ReadFrom::At(batch.next);
    }
}

/// Chat-session streams (and the session index) are written only through the session
/// API, which stamps identity and sequence numbers; the raw stream routes may read them.
/// The stream guard reads the stream path as the handlers do, percent-decoded, so
/// `/v1/stream/%73essions/...` is the same stream as `/v1/stream/sessions/...`.
pub fn refuse_session_write(path: &str, method: &axum::http::Method) -> Option<ApiError> {
    use axum::http::{Method, StatusCode};

    if path.starts_with(STREAM_PREFIX) && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let refusal =
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "chat-session streams are written through /v1/sessions");
        return Some(refusal.with("allow", "GET, HEAD"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_unused_for_a_while_are_dropped_unless_held() {
        let idle: Idle<&str, u32> = Idle::new(Duration::from_millis(100));
        let held = idle.get(&"held");
        idle.get(&"unused");
        std::thread::sleep(Duration::from_millis(150));
        idle.get(&"fresh");
        let mut keys = idle.keys();
        keys.sort();
        assert_eq!(keys, ["fresh", "held"]);
        drop(held);
        std::thread::sleep(Duration::from_millis(150));
        idle.get(&"fresh");
        assert_eq!(idle.keys(), ["fresh"]);
    }
}
