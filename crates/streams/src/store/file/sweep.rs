//! Every [`SWEEP_EVERY`]: expired streams nobody asks for are removed (those asked for
//! go at once), the data cached for idle streams is dropped, and so is the least
//! recently used cache past [`CACHE_BUDGET`], so memory follows what is in use; then a
//! compaction starts if one is due.

use std::sync::Weak;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use tokio::time::MissedTickBehavior;

use super::{FileStore, Inner};
use crate::store::rules;

const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long after a failed compaction the next one is tried.
const RETRY_COMPACTION: Duration = Duration::from_secs(600);
/// A stream not read or written for this long keeps no data in memory.
const CACHE_IDLE: TimeDelta = TimeDelta::seconds(10);
/// Data cached for readers across all streams.
const CACHE_BUDGET: u64 = 256 << 20;

impl FileStore {
    fn sweep(&self) {
        let mut state = self.lock();
        let now = Utc::now();
        let mut expired = Vec::new();
        let mut cached = Vec::new();
        let mut cached_bytes = 0;
        for (&id, s) in state.streams.iter_mut() {
            if s.visible && !s.soft_deleted && rules::expired(s.expiry, s.last_access, now) {
                expired.push(id);
            } else if s.cached_bytes > 0 && now - s.last_access > CACHE_IDLE {
                s.drop_cache();
            } else if s.cached_bytes > 0 {
                cached_bytes += s.cached_bytes;
                cached.push((s.last_access, id));
            }
        }
        if cached_bytes > CACHE_BUDGET {
            cached.sort_unstable();
            for (_, id) in cached {
                cached_bytes -= state.streams.get_mut(&id).expect("listed above").drop_cache();
                if cached_bytes <= CACHE_BUDGET {
                    break;
                }
            }
        }
        for id in expired {
            if state.streams.contains_key(&id) && self.remove(&mut state, id).is_err() {
                return;
            }
        }
    }
}

/// Sweeps and compacts until the store is dropped.
pub(super) async fn run(store: Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_compaction = Instant::now();
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else { return };
        let store = FileStore(inner);
        store.sweep();
        let Some(base) = (Instant::now() >= next_compaction).then(|| store.compaction_due()).flatten() else {
            continue;
        };
        let compacted = tokio::task::spawn_blocking(move || store.compact(base)).await;
        if let Ok(Err(e)) = compacted {
            tracing::warn!(error = %e, "compacting the stream log failed; it keeps its space until the next try");
            next_compaction = Instant::now() + RETRY_COMPACTION;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::payload::Payload;
    use crate::store::{Append, CreateStream, Quota, ReadFrom, Store, StreamKey};

    #[tokio::test]
    async fn an_idle_stream_keeps_no_data_in_memory_and_reads_it_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open_blocking(dir.path(), Quota { streams: 9, bytes: 1 << 20 }, 1 << 20).unwrap();
        let key = StreamKey::new("owner", "idle");
        store.create(&key, CreateStream::new("text/plain")).await.unwrap();
        let payload = Some(Payload::frame("text/plain", b"hello", false));
        let append =
            Append { content_type: Some("text/plain".into()), payload, close: false, stream_seq: None, producer: None };
        store.append(&key, append).await.unwrap();
        let cached = || store.lock().streams.values().map(|s| s.cached_bytes).sum::<u64>();
        assert_eq!(cached(), 5);

        store.sweep();
        assert_eq!(cached(), 5, "a stream in use keeps its cache");
        store.lock().streams.values_mut().for_each(|s| s.last_access -= CACHE_IDLE * 2);
        store.sweep();
        assert_eq!(cached(), 0);
        let read = store.read(&key, ReadFrom::Start, 1 << 20).await.unwrap();
        assert_eq!(read.slices().flat_map(|s| s.data.to_vec()).collect::<Vec<u8>>(), b"hello");
    }
}
