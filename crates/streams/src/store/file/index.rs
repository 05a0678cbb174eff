//! The in-memory index: which stream owns which bytes of the log, producer state,
//! closure, forks and what each owner keeps. Rebuilt by replaying the log at open, and
//! kept up to date by the same steps as each change is decided.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

use super::log::{AppendMeta, CreateMeta, ForkMeta, Frame};
use crate::limits::Limit;
use crate::store::notify::Version;
use crate::store::payload::is_json;
use crate::store::rules::ProducerState;
use crate::store::{Expiry, ProducerTag, Quota, StoreError, StreamInfo, StreamKey};

/// Recent data kept in memory per stream, so live readers rarely touch the disk.
const CACHE_PER_STREAM: u64 = 128 << 10;

#[derive(Default)]
pub(super) struct State {
    pub(super) next_id: u64,
    pub(super) keys: HashMap<StreamKey, u64>,
    pub(super) streams: HashMap<u64, Stream>,
    /// The last log sequence number handed out.
    pub(super) lsn: u64,
    pub(super) segment: u32,
    pub(super) position: u64,
    /// What becomes visible to readers when each LSN is durable.
    pub(super) pending: VecDeque<(u64, Option<Visible>)>,
    pub(super) poisoned: bool,
    /// What each owner keeps, for the [`Quota`]: kept up to date by the same steps
    /// that replay the log, so it is rebuilt with the index at open.
    pub(super) usage: HashMap<String, Usage>,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Usage {
    pub(super) streams: u64,
    pub(super) bytes: u64,
}

/// A stream's tail and closure as of one log frame.
#[derive(Clone, Copy)]
pub(super) struct Visible {
    pub(super) id: u64,
    pub(super) tail: u64,
    pub(super) closed: bool,
}

pub(super) struct Stream {
    pub(super) key: StreamKey,
    pub(super) content_type: String,
    pub(super) json: bool,
    pub(super) expiry: Expiry,
    pub(super) last_access: DateTime<Utc>,
    pub(super) fork: Option<ForkMeta>,
    /// The stream's own runs, in order; inherited data is read from the source.
    pub(super) runs: Vec<Run>,
    /// Oldest run whose data is still cached.
    pub(super) cached_from: usize,
    pub(super) cached_bytes: u64,
    pub(super) tail: u64,
    pub(super) closed: bool,
    pub(super) closed_by: Option<ProducerTag>,
    pub(super) producers: HashMap<String, ProducerState>,
    pub(super) last_stream_seq: Option<String>,
    /// What readers see: the part that is fsynced.
    pub(super) durable_tail: u64,
    pub(super) durable_closed: bool,
    pub(super) visible: bool,
    pub(super) soft_deleted: bool,
    /// Forks reading from this stream.
    pub(super) forks: u32,
}

pub(super) struct Run {
    pub(super) start: u64,
    pub(super) len: u64,
    pub(super) segment: u32,
    pub(super) at: u64,
    pub(super) cached: Option<Bytes>,
}

/// A piece of a read, before its bytes are fetched.
pub(super) struct Piece {
    pub(super) start: u64,
    pub(super) source: PieceSource,
}

pub(super) enum PieceSource {
    Memory(Bytes),
    Disk { segment: u32, at: u64, len: u64 },
}

impl State {
    /// Once `lsn` is durable, readers see stream `id` as it is now.
    pub(super) fn visible(&mut self, lsn: u64, id: u64) {
        let stream = &self.streams[&id];
        let visible = Visible { id, tail: stream.tail, closed: stream.closed };
        self.pending.push_back((lsn, Some(visible)));
    }

    pub(super) fn replay(&mut self, segment: u32, frame: Frame<'_>) -> Result<(), String> {
        match frame {
            Frame::Create { meta, data_at, .. } => {
                if self.streams.contains_key(&meta.id) {
                    return Err(format!("stream {} created twice", meta.id));
                }
                self.next_id = self.next_id.max(meta.id + 1);
                self.insert(&meta, segment, data_at, None);
                self.streams.get_mut(&meta.id).expect("just inserted").make_durable();
            }
            Frame::Append { meta, data_at, data } => {
                let stream = self.streams.get(&meta.id).ok_or(format!("append to unknown stream {}", meta.id))?;
                if meta.start != stream.tail {
                    return Err(format!(
                        "append to stream {} at {} but its tail is {}",
                        meta.id, meta.start, stream.tail
                    ));
                }
                self.apply_append(&meta, segment, data_at, Bytes::copy_from_slice(data), false);
                self.streams.get_mut(&meta.id).expect("found above").make_durable();
            }
            Frame::Delete { id, soft } => {
                let stream = self.streams.get(&id).ok_or(format!("delete of unknown stream {id}"))?;
                if soft != (stream.forks > 0) {
                    return Err(format!(
                        "stream {id} deleted {} but it has {} forks",
                        if soft { "softly" } else { "for good" },
                        stream.forks
                    ));
                }
                self.remove(id);
            }
        }
        Ok(())
    }

    /// Refuses a change that would take `owner` past `quota` by `streams` more
    /// streams and `bytes` more bytes.
    pub(super) fn within_quota(&self, owner: &str, streams: u64, bytes: u64, quota: Quota) -> Result<(), StoreError> {
        let usage = self.usage.get(owner).copied().unwrap_or_default();
        if usage.streams + streams > quota.streams {
            return Err(StoreError::Quota(Limit::Streams));
        }
        if usage.bytes + bytes > quota.bytes {
            return Err(StoreError::Quota(Limit::Bytes));
        }
        Ok(())
    }

    /// Applies an append to its stream, and counts its bytes to the owner.
    pub(super) fn apply_append(&mut self, meta: &AppendMeta, segment: u32, at: u64, data: Bytes, cache: bool) {
        let stream = self.streams.get_mut(&meta.id).expect("appends go to a known stream");
        if let Some(usage) = self.usage.get_mut(&stream.key.owner) {
            usage.bytes += data.len() as u64;
        }
        stream.apply_append(meta, segment, at, data, cache);
    }

    /// Adds a created stream; `runs` are its initial data, cached when given.
    pub(super) fn insert(&mut self, meta: &CreateMeta, segment: u32, data_at: u64, runs: Option<&[Bytes]>) {
        let start = meta.fork.as_ref().map_or(0, |f| f.offset);
        if let Some(fork) = &meta.fork {
            if let Some(source) = self.streams.get_mut(&fork.source) {
                source.forks += 1;
            }
        }
        let expiry = match (meta.ttl, meta.expires_at_ms) {
            (Some(ttl), _) => Expiry::Ttl(ttl),
            (None, Some(ms)) => Utc.timestamp_millis_opt(ms).single().map_or(Expiry::Never, Expiry::At),
            (None, None) => Expiry::Never,
        };
        let key = StreamKey::new(meta.owner.clone(), meta.path.clone());
        let mut stream = Stream {
            key: key.clone(),
            json: is_json(&meta.content_type),
            content_type: meta.content_type.clone(),
            expiry,
            last_access: Utc::now(),
            fork: meta.fork.clone(),
            runs: Vec::new(),
            cached_from: 0,
            cached_bytes: 0,
            tail: start,
            closed: meta.closed,
            closed_by: None,
            producers: HashMap::new(),
            last_stream_seq: None,
            durable_tail: start,
            durable_closed: false,
            visible: false,
            soft_deleted: false,
            forks: 0,
        };
        let mut at = data_at;
        for (i, &len) in meta.runs.iter().enumerate() {
            let cached = runs.map(|r| r[i].clone());
            stream.push_run(len, segment, at, cached);
            at += len;
        }
        let usage = self.usage.entry(meta.owner.clone()).or_default();
        usage.streams += 1;
        usage.bytes += meta.runs.iter().sum::<u64>();
        self.keys.insert(key, meta.id);
        self.streams.insert(meta.id, stream);
    }

    /// Removes `id`, softly while forks read from it; removing a stream releases its
    /// source, which goes too if it was deleted and this was its last fork. Returns
    /// the streams now gone for good.
    pub(super) fn remove(&mut self, id: u64) -> Vec<u64> {
        let Some(stream) = self.streams.get_mut(&id) else { return Vec::new() };
        if stream.forks > 0 {
            stream.soft_deleted = true;
            return Vec::new();
        }
        let mut gone = Vec::new();
        let mut next = Some(id);
        while let Some(id) = next.take() {
            let Some(stream) = self.streams.remove(&id) else { break };
            if self.keys.get(&stream.key) == Some(&id) {
                self.keys.remove(&stream.key);
            }
            self.release(&stream);
            gone.push(id);
            if let Some(source) = stream.fork.and_then(|f| self.streams.get_mut(&f.source).map(|s| (f.source, s))) {
                let (source_id, source) = source;
                source.forks -= 1;
                if source.soft_deleted && source.forks == 0 {
                    next = Some(source_id);
                }
            }
        }
        gone
    }

    /// Stops counting a stream gone for good to its owner.
    fn release(&mut self, stream: &Stream) {
        let Some(usage) = self.usage.get_mut(&stream.key.owner) else { return };
        usage.streams -= 1;
        usage.bytes -= stream.tail - stream.own_start();
        if usage.streams == 0 {
            self.usage.remove(&stream.key.owner);
        }
    }

    /// Whether `pos` starts or ends a stored run of stream `id` (or its sources).
    pub(super) fn is_boundary(&self, id: u64, pos: u64) -> bool {
        let stream = &self.streams[&id];
        let own = stream.own_start();
        if pos == own || pos == stream.tail {
            return true;
        }
        if pos < own {
            return stream.fork.as_ref().is_some_and(|f| self.is_boundary(f.source, pos));
        }
        stream.runs.binary_search_by_key(&pos, |r| r.start).is_ok()
    }

    /// The run containing `pos`, from `pos` on, cut at `limit`.
    pub(super) fn run_at(&self, id: u64, pos: u64, limit: u64) -> Option<Piece> {
        let stream = &self.streams[&id];
        let own = stream.own_start();
        if pos < own {
            let fork = stream.fork.as_ref()?;
            return self.run_at(fork.source, pos, limit.min(own));
        }
        let i = stream.runs.partition_point(|r| r.start + r.len <= pos);
        let run = stream.runs.get(i)?;
        let end = (run.start + run.len).min(limit);
        (end > pos).then(|| run.piece(pos, end))
    }

    /// Pieces of `[from, to)` of stream `id`, following forks, until `budget` bytes
    /// are collected (JSON runs are never cut).
    pub(super) fn collect(&self, id: u64, from: u64, to: u64, budget: &mut u64, out: &mut Vec<Piece>) {
        let stream = &self.streams[&id];
        let own = stream.own_start();
        if from < own {
            if let Some(fork) = &stream.fork {
                self.collect(fork.source, from, to.min(own), budget, out);
            }
        }
        let from = from.max(own);
        let first = stream.runs.partition_point(|r| r.start + r.len <= from);
        for run in &stream.runs[first..] {
            if run.start >= to || (*budget == 0 && !out.is_empty()) {
                break;
            }
            let lo = from.max(run.start);
            let mut hi = to.min(run.start + run.len);
            if !stream.json {
                hi = hi.min(lo + (*budget).max(1));
            }
            *budget = budget.saturating_sub(hi - lo);
            out.push(run.piece(lo, hi));
        }
    }
}

impl Run {
    fn piece(&self, from: u64, to: u64) -> Piece {
        let (lo, hi) = (from - self.start, to - self.start);
        let source = match &self.cached {
            Some(bytes) => PieceSource::Memory(bytes.slice(lo as usize..hi as usize)),
            None => PieceSource::Disk { segment: self.segment, at: self.at + lo, len: hi - lo },
        };
        Piece { start: from, source }
    }
}

impl Stream {
    pub(super) fn own_start(&self) -> u64 {
        self.fork.as_ref().map_or(0, |f| f.offset)
    }

    fn push_run(&mut self, len: u64, segment: u32, at: u64, cached: Option<Bytes>) {
        if len == 0 {
            return;
        }
        if cached.is_some() {
            self.cached_bytes += len;
        }
        self.runs.push(Run { start: self.tail, len, segment, at, cached });
        self.tail += len;
        while self.cached_bytes > CACHE_PER_STREAM && self.cached_from < self.runs.len() - 1 {
            let run = &mut self.runs[self.cached_from];
            if run.cached.take().is_some() {
                self.cached_bytes -= run.len;
            }
            self.cached_from += 1;
        }
    }

    fn apply_append(&mut self, meta: &AppendMeta, segment: u32, at: u64, data: Bytes, cache: bool) {
        let len = data.len() as u64;
        self.push_run(len, segment, at, cache.then_some(data));
        if let Some(p) = &meta.producer {
            self.producers.insert(p.id.clone(), ProducerState { epoch: p.epoch, last_seq: p.seq });
        }
        if let Some(seq) = &meta.stream_seq {
            self.last_stream_seq = Some(seq.clone());
        }
        if meta.close {
            self.closed = true;
            self.closed_by = meta.producer.clone();
        }
    }

    fn make_durable(&mut self) {
        self.durable_tail = self.tail;
        self.durable_closed = self.closed;
        self.visible = true;
    }

    pub(super) fn version(&self) -> Version {
        Version { tail: self.durable_tail, closed: self.durable_closed, gone: false }
    }

    pub(super) fn info(&self, id: u64) -> StreamInfo {
        StreamInfo {
            id,
            content_type: self.content_type.clone(),
            expiry: self.expiry,
            tail: self.durable_tail,
            closed: self.durable_closed,
        }
    }

    /// The stream as it will be once what was decided so far is durable: what the
    /// writer of a change is told.
    pub(super) fn pending_info(&self, id: u64) -> StreamInfo {
        StreamInfo { tail: self.tail, closed: self.closed, ..self.info(id) }
    }
}
