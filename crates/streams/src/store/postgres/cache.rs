//! Stored runs never change, so a process keeps the appends it has read (and written)
//! of its busiest streams: reading them again costs the stream's row, not its data.
//! A catch-up of a hot conversation then moves kilobytes from the database, not
//! megabytes, and live readers find what the batch writer just stored.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::store::Slice;

/// Bytes of appends kept in all, and for one stream.
const CACHE_BYTES: usize = 32 << 20;
const STREAM_BYTES: usize = 8 << 20;
/// Streams kept at most.
const CACHE_STREAMS: usize = 4096;

/// Recent appends of each stream, as one contiguous run of positions per stream.
#[derive(Default)]
pub(super) struct RunCache(Mutex<Cache>);

#[derive(Default)]
struct Cache {
    streams: HashMap<i64, Kept>,
    bytes: usize,
    /// Counts uses, so the least recently used stream goes first.
    clock: u64,
}

#[derive(Default)]
struct Kept {
    appends: VecDeque<Slice>,
    bytes: usize,
    used: u64,
}

impl Kept {
    fn end(&self) -> Option<u64> {
        self.appends.back().map(Slice::end)
    }
}

impl RunCache {
    /// The kept appends of `stream` from the one holding `pos` up to `until`; empty
    /// when `pos` is not kept.
    pub(super) fn get(&self, stream: i64, pos: u64, until: u64) -> Vec<Slice> {
        let mut cache = self.0.lock().expect("run cache lock");
        cache.clock += 1;
        let clock = cache.clock;
        let Some(kept) = cache.streams.get_mut(&stream) else { return Vec::new() };
        kept.used = clock;
        let from = kept.appends.partition_point(|a| a.end() <= pos);
        match kept.appends.get(from) {
            Some(first) if first.start <= pos => {
                kept.appends.range(from..).take_while(|a| a.start < until).cloned().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Keeps `fresh`, contiguous appends of `stream` in order: after what is kept when
    /// they continue it, in its place otherwise.
    pub(super) fn put(&self, stream: i64, fresh: &[Slice]) {
        let Some(first) = fresh.first() else { return };
        let mut guard = self.0.lock().expect("run cache lock");
        let cache = &mut *guard;
        cache.clock += 1;
        let kept = cache.streams.entry(stream).or_default();
        kept.used = cache.clock;
        let kept_end = kept.end();
        let start = kept.appends.front().map_or(u64::MAX, |a| a.start);
        let skip = match kept_end {
            Some(e) if start <= first.start && first.start <= e => fresh.iter().position(|a| a.start == e),
            _ => None,
        };
        let added = match skip {
            Some(skip) => &fresh[skip..],
            None if kept_end.is_some_and(|e| fresh.last().expect("not empty").end() <= e) => &[],
            None => {
                cache.bytes -= kept.bytes;
                *kept = Kept { used: kept.used, ..Kept::default() };
                fresh
            }
        };
        for append in added {
            kept.bytes += append.data.len();
            cache.bytes += append.data.len();
            kept.appends.push_back(append.clone());
        }
        while kept.bytes > STREAM_BYTES {
            let dropped = kept.appends.pop_front().expect("bytes are kept");
            kept.bytes -= dropped.data.len();
            cache.bytes -= dropped.data.len();
        }
        cache.evict();
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.0.lock().unwrap().bytes
    }
}

impl Cache {
    /// Forgets the least recently used streams while over the limits.
    fn evict(&mut self) {
        while self.bytes > CACHE_BYTES || self.streams.len() > CACHE_STREAMS {
            let Some((&oldest, _)) = self.streams.iter().min_by_key(|(_, kept)| kept.used) else { return };
            let kept = self.streams.remove(&oldest).expect("just found");
            self.bytes -= kept.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn appends(start: u64, sizes: &[usize]) -> Vec<Slice> {
        let mut at = start;
        sizes
            .iter()
            .map(|&n| {
                let slice = Slice { start: at, data: Bytes::from(vec![b'x'; n]) };
                at += n as u64;
                slice
            })
            .collect()
    }

    fn starts(slices: &[Slice]) -> Vec<u64> {
        slices.iter().map(|s| s.start).collect()
    }

    #[test]
    fn gives_the_kept_appends_from_the_one_holding_the_position() {
        let cache = RunCache::default();
        cache.put(1, &appends(10, &[5, 5, 5]));
        assert_eq!(starts(&cache.get(1, 12, u64::MAX)), [10, 15, 20]);
        assert_eq!(starts(&cache.get(1, 15, 20)), [15]);
        assert!(cache.get(1, 25, u64::MAX).is_empty(), "past the end");
        assert!(cache.get(1, 9, u64::MAX).is_empty(), "before the start");
        assert!(cache.get(2, 10, u64::MAX).is_empty(), "another stream");
    }

    #[test]
    fn continues_what_is_kept_and_replaces_what_does_not_join() {
        let cache = RunCache::default();
        cache.put(1, &appends(0, &[5, 5]));
        cache.put(1, &appends(5, &[5, 5])); // overlaps: only the new append is added
        assert_eq!(starts(&cache.get(1, 0, u64::MAX)), [0, 5, 10]);
        assert_eq!(cache.bytes(), 15);
        cache.put(1, &appends(0, &[5])); // already kept
        assert_eq!(cache.bytes(), 15);
        cache.put(1, &appends(100, &[7])); // a gap: starts over
        assert_eq!(starts(&cache.get(1, 100, u64::MAX)), [100]);
        assert!(cache.get(1, 0, u64::MAX).is_empty());
        assert_eq!(cache.bytes(), 7);
    }

    #[test]
    fn stays_within_its_bytes() {
        let cache = RunCache::default();
        let big = STREAM_BYTES / 4 + 1;
        cache.put(1, &appends(0, &[big; 5]));
        assert!(cache.bytes() <= STREAM_BYTES, "one stream keeps its newest appends");
        assert_eq!(starts(&cache.get(1, 4 * big as u64, u64::MAX)), [4 * big as u64]);
        for stream in 2..10 {
            cache.put(stream, &appends(0, &[big; 3]));
        }
        assert!(cache.bytes() <= CACHE_BYTES);
        assert!(cache.get(1, 4 * big as u64, u64::MAX).is_empty(), "the least recently used went first");
        assert!(!cache.get(9, 0, u64::MAX).is_empty());
    }
}
