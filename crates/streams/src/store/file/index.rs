//! The in-memory index: which stream owns which bytes of the log, producer state,
//! closure, forks and what each owner keeps. Rebuilt by replaying the log at open, and
//! kept up to date by the same steps as each change is decided.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};

use super::log::{AppendMeta, Carried, CreateMeta, Files, ForkMeta, Frame, FRAME_HEADER};
use crate::limits::Limit;
use crate::store::notify::Version;
use crate::store::payload::is_json;
use crate::store::rules::ProducerState;
use crate::store::{Expiry, Joined, ProducerTag, Quota, StoreError, StreamInfo, StreamKey};

/// Recent data kept in memory per stream, so live readers rarely touch the disk.
const CACHE_PER_STREAM: u64 = 128 << 10;
/// Roughly what an append frame adds to its data: counted as dead with the data.
pub(super) const APPEND_OVERHEAD: u64 = FRAME_HEADER as u64 + 18;

#[derive(Default)]
pub(super) struct State {
    pub(super) next_id: u64,
    pub(super) keys: HashMap<StreamKey, u64>,
    /// Boxed: the table then holds a pointer per slot, and its spare slots (an eighth
    /// to a half of them) cost 16 bytes each instead of a whole stream's.
    pub(super) streams: HashMap<u64, Box<Stream>>,
    /// The last log sequence number handed out.
    pub(super) lsn: u64,
    pub(super) segment: u32,
    pub(super) position: u64,
    /// The LSN of the first frame of the open segment: once it is durable, the segment
    /// before is whole.
    pub(super) active_since: u64,
    /// What becomes visible to readers when each LSN is durable.
    pub(super) pending: VecDeque<(u64, Option<Visible>)>,
    pub(super) poisoned: bool,
    /// What each owner keeps, for the [`Quota`]: kept up to date by the same steps
    /// that replay the log, so it is rebuilt with the index at open.
    pub(super) usage: HashMap<String, Usage>,
    /// Bytes of each segment nothing needs any more, for deciding when to compact.
    pub(super) dead: BTreeMap<u32, u64>,
    /// Set by a base: streams below it that the log no longer holds were deleted.
    pub(super) base_next_id: u64,
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
    /// The last access the log holds (see [`touch_every`]).
    pub(super) touched: DateTime<Utc>,
    pub(super) fork: Option<ForkMeta>,
    /// The stream's own runs, in order; inherited data is read from the source.
    pub(super) runs: Vec<Run>,
    /// The data of the last `cache.len()` runs, for live readers: runs stay small (an
    /// index entry each) while a stream's recent data is at hand.
    pub(super) cache: VecDeque<Bytes>,
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
}

/// A piece of a read, before its bytes are fetched.
pub(super) struct Piece {
    pub(super) start: u64,
    pub(super) source: PieceSource,
}

pub(super) enum PieceSource {
    Memory(Bytes),
    /// `file` is the place of its log file in [`Pieces::files`].
    Disk {
        file: usize,
        at: u64,
        len: u64,
    },
}

/// What a read takes from the index: its pieces, and the log files of those on disk.
#[derive(Default)]
pub(super) struct Pieces {
    pub(super) list: Vec<Piece>,
    /// Held, so a compaction that replaces a segment meanwhile does not change what the
    /// read gets. Once per segment rather than an `Arc` per piece: counting a piece
    /// each took a fifth of a catch-up's time over small messages.
    files: Vec<(u32, Arc<File>)>,
}

impl Pieces {
    pub(super) fn file(&self, i: usize) -> &File {
        &self.files[i].1
    }

    /// The place of `segment`'s file: pieces come mostly from one segment in a row, so
    /// the shared map (a lock and a lookup) is asked only when the segment changes.
    fn file_of(&mut self, segment: u32, files: &Files) -> std::io::Result<usize> {
        if self.files.last().is_none_or(|(n, _)| *n != segment) {
            self.files.push((segment, files.get(segment)?));
        }
        Ok(self.files.len() - 1)
    }
}

/// How stale the logged last access of a stream with a sliding TTL of `ttl` seconds may
/// get: a touch frame is logged when it is older. After a restart the stream counts as
/// accessed this long after its logged access, so it never expires early.
pub(super) fn touch_every(ttl: u64) -> chrono::Duration {
    chrono::Duration::milliseconds((ttl.saturating_mul(100) as i64).clamp(1, 60_000))
}

impl State {
    /// Once `lsn` is durable, readers see stream `id` as it is now.
    pub(super) fn visible(&mut self, lsn: u64, id: u64) {
        let stream = &self.streams[&id];
        let visible = Visible { id, tail: stream.tail, closed: stream.closed };
        self.pending.push_back((lsn, Some(visible)));
    }

    pub(super) fn replay(&mut self, segment: u32, frame: Frame<'_>, len: u64) -> Result<(), String> {
        match frame {
            Frame::Create { meta, data_at } => {
                if self.streams.contains_key(&meta.id) {
                    return Err(format!("stream {} created twice", meta.id));
                }
                self.next_id = self.next_id.max(meta.id + 1);
                self.insert(&meta, segment, data_at, None);
                self.streams.get_mut(&meta.id).expect("just inserted").make_durable();
            }
            Frame::Append { meta, data_at, data } => {
                let Some(stream) = self.known(meta.id)? else {
                    self.count_dead(segment, len);
                    return Ok(());
                };
                if meta.start != stream.tail {
                    return Err(format!(
                        "append to stream {} at {} but its tail is {}",
                        meta.id, meta.start, stream.tail
                    ));
                }
                self.apply_append(&meta, segment, data_at, data.len() as u64, None);
                self.streams.get_mut(&meta.id).expect("found above").make_durable();
            }
            Frame::Delete { id, soft } => {
                self.count_dead(segment, len);
                let Some(stream) = self.known(id)? else { return Ok(()) };
                // A base leaves out forks deleted since, so a soft delete may find none.
                if !soft && stream.forks > 0 {
                    return Err(format!("stream {id} deleted for good but it has {} forks", stream.forks));
                }
                self.remove(id);
            }
            Frame::Base { next_id } => {
                self.base_next_id = next_id;
                self.next_id = self.next_id.max(next_id);
            }
            Frame::Touch { id, at_ms } => {
                self.count_dead(segment, len);
                if let (Some(stream), Some(at)) = (self.known(id)?, Utc.timestamp_millis_opt(at_ms).single()) {
                    stream.touched_at(at);
                }
            }
        }
        Ok(())
    }

    /// Notes `len` bytes of `segment` that nothing needs any more.
    pub(super) fn count_dead(&mut self, segment: u32, len: u64) {
        *self.dead.entry(segment).or_default() += len;
    }

    /// The stream a replayed frame names; `None` for one a base left out as deleted.
    fn known(&mut self, id: u64) -> Result<Option<&mut Stream>, String> {
        match self.streams.get_mut(&id) {
            Some(stream) => Ok(Some(stream)),
            None if id < self.base_next_id => Ok(None),
            None => Err(format!("frame for unknown stream {id}")),
        }
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

    /// Applies an append of `len` bytes (kept in memory when `cached`) to its stream,
    /// and counts them to the owner.
    pub(super) fn apply_append(&mut self, meta: &AppendMeta, segment: u32, at: u64, len: u64, cached: Option<Bytes>) {
        let stream = self.streams.get_mut(&meta.id).expect("appends go to a known stream");
        if let Some(usage) = self.usage.get_mut(&stream.key.owner) {
            usage.bytes += len;
        }
        stream.apply_append(meta, segment, at, len, cached);
    }

    /// Adds a created stream; `runs` are its initial data, cached when given.
    pub(super) fn insert(&mut self, meta: &CreateMeta, segment: u32, data_at: u64, runs: Option<&[Bytes]>) {
        let start = meta.fork.as_ref().map_or(0, |f| f.offset);
        if let Some(fork) = &meta.fork {
            if let Some(source) = self.streams.get_mut(&fork.source) {
                source.forks += 1;
            }
        }
        let expiry = meta.expiry();
        let key = StreamKey::new(meta.owner.clone(), meta.path.clone());
        let now = Utc::now();
        let mut stream = Stream {
            key: key.clone(),
            json: is_json(&meta.content_type),
            content_type: meta.content_type.clone(),
            expiry,
            last_access: now,
            touched: now,
            fork: meta.fork.clone(),
            runs: Vec::new(),
            cache: VecDeque::new(),
            cached_bytes: 0,
            tail: start,
            closed: meta.closed,
            closed_by: meta.carried.closed_by.clone(),
            producers: meta
                .carried
                .producers
                .iter()
                .map(|p| (p.id.clone(), ProducerState { epoch: p.epoch, last_seq: p.seq }))
                .collect(),
            last_stream_seq: meta.carried.stream_seq.clone(),
            durable_tail: start,
            durable_closed: false,
            visible: false,
            soft_deleted: meta.carried.soft_deleted,
            forks: 0,
        };
        if let Some(at) = meta.touched_ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single()) {
            stream.touched_at(at);
        }
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
        self.streams.insert(meta.id, Box::new(stream));
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
            for run in &stream.runs {
                self.count_dead(run.segment, run.len + APPEND_OVERHEAD);
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
    pub(super) fn run_at(
        &self,
        id: u64,
        pos: u64,
        limit: u64,
        files: &Files,
        pieces: &mut Pieces,
    ) -> std::io::Result<Option<Piece>> {
        let stream = &self.streams[&id];
        let own = stream.own_start();
        if pos < own {
            let Some(fork) = stream.fork.as_ref() else { return Ok(None) };
            return self.run_at(fork.source, pos, limit.min(own), files, pieces);
        }
        let i = stream.runs.partition_point(|r| r.start + r.len <= pos);
        if i >= stream.runs.len() {
            return Ok(None);
        }
        let run = &stream.runs[i];
        let end = (run.start + run.len).min(limit);
        if end <= pos {
            return Ok(None);
        }
        stream.piece(i, pos, end, files, pieces).map(Some)
    }

    /// Pieces of `[from, to)` of stream `id`, following forks, until `budget` bytes
    /// are collected (JSON runs are never cut).
    pub(super) fn collect(
        &self,
        id: u64,
        (from, to): (u64, u64),
        budget: &mut u64,
        files: &Files,
        out: &mut Pieces,
    ) -> std::io::Result<()> {
        let stream = &self.streams[&id];
        let own = stream.own_start();
        if from < own {
            if let Some(fork) = &stream.fork {
                self.collect(fork.source, (from, to.min(own)), budget, files, out)?;
            }
        }
        let from = from.max(own);
        let first = stream.runs.partition_point(|r| r.start + r.len <= from);
        // Growing the list as it fills copied it over and over in a long catch-up.
        let last = stream.runs.partition_point(|r| r.start < to);
        out.list.reserve(last.saturating_sub(first).min(1 << 14));
        for (i, run) in stream.runs.iter().enumerate().skip(first) {
            if run.start >= to || (*budget == 0 && !out.list.is_empty()) {
                break;
            }
            let lo = from.max(run.start);
            let mut hi = to.min(run.start + run.len);
            if !stream.json {
                hi = hi.min(lo + (*budget).max(1));
            }
            *budget = budget.saturating_sub(hi - lo);
            let piece = stream.piece(i, lo, hi, files, out)?;
            out.list.push(piece);
        }
        Ok(())
    }

    /// `[from, to)` of stream `id` as a read's body, when the cache holds all of it and
    /// it takes more than one run (or is JSON): copied under the lock, since that costs
    /// less than a counted reference to each cached run. The budget as in
    /// [`State::collect`].
    pub(super) fn join_cached(&self, id: u64, (from, to): (u64, u64), mut budget: u64) -> Option<Joined> {
        let stream = &self.streams[&id];
        if from < stream.own_start() {
            return None;
        }
        let first = stream.runs.partition_point(|r| r.start + r.len <= from);
        let last = stream.runs.partition_point(|r| r.start < to);
        let uncached = stream.runs.len() - stream.cache.len();
        if first < uncached || first >= last || (!stream.json && last - first == 1) {
            return None;
        }
        let json = stream.json;
        let mut body = Vec::with_capacity((to - from).min(budget) as usize + (last - first) + 2);
        let (mut ends, mut next) = (Vec::with_capacity(last - first), from);
        body.extend_from_slice(if json { b"[" } else { b"" });
        for (run, data) in stream.runs[first..last].iter().zip(stream.cache.range(first - uncached..)) {
            if budget == 0 && !ends.is_empty() {
                break;
            }
            let lo = from.max(run.start);
            let mut hi = to.min(run.start + run.len);
            if !json {
                hi = hi.min(lo + budget.max(1));
            }
            budget = budget.saturating_sub(hi - lo);
            if json && !ends.is_empty() {
                body.push(b',');
            }
            body.extend_from_slice(&data[(lo - run.start) as usize..(hi - run.start) as usize]);
            ends.push(body.len());
            next = hi;
        }
        body.extend_from_slice(if json { b"]" } else { b"" });
        Some(Joined { body: body.into(), ends, json, next })
    }
}

impl Stream {
    /// `[from, to)` of run `i`, from the cache if it holds the run.
    fn piece(&self, i: usize, from: u64, to: u64, files: &Files, pieces: &mut Pieces) -> std::io::Result<Piece> {
        let run = &self.runs[i];
        let (lo, hi) = (from - run.start, to - run.start);
        let uncached = self.runs.len() - self.cache.len();
        let source = match i.checked_sub(uncached) {
            Some(c) => PieceSource::Memory(self.cache[c].slice(lo as usize..hi as usize)),
            None => PieceSource::Disk { file: pieces.file_of(run.segment, files)?, at: run.at + lo, len: hi - lo },
        };
        Ok(Piece { start: from, source })
    }

    pub(super) fn own_start(&self) -> u64 {
        self.fork.as_ref().map_or(0, |f| f.offset)
    }

    fn push_run(&mut self, len: u64, segment: u32, at: u64, cached: Option<Bytes>) {
        if len == 0 {
            return;
        }
        self.runs.push(Run { start: self.tail, len, segment, at });
        self.tail += len;
        let Some(data) = cached else {
            self.drop_cache();
            return;
        };
        self.cached_bytes += len;
        self.cache.push_back(data);
        while self.cached_bytes > CACHE_PER_STREAM && self.cache.len() > 1 {
            let oldest = self.cache.pop_front().expect("more than one");
            self.cached_bytes -= oldest.len() as u64;
        }
    }

    fn apply_append(&mut self, meta: &AppendMeta, segment: u32, at: u64, len: u64, cached: Option<Bytes>) {
        self.push_run(len, segment, at, cached);
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

    /// Drops the data cached for readers (they read the disk instead); returns its size.
    pub(super) fn drop_cache(&mut self) -> u64 {
        self.cache = VecDeque::new();
        std::mem::take(&mut self.cached_bytes)
    }

    /// Takes a logged access at `at`: see [`touch_every`].
    fn touched_at(&mut self, at: DateTime<Utc>) {
        let Expiry::Ttl(ttl) = self.expiry else { return };
        self.touched = at;
        self.last_access = (at + touch_every(ttl)).min(Utc::now());
    }

    /// What a base must carry over for this stream.
    pub(super) fn carried(&self) -> Carried {
        Carried {
            producers: self
                .producers
                .iter()
                .map(|(id, p)| ProducerTag { id: id.clone(), epoch: p.epoch, seq: p.last_seq })
                .collect(),
            closed_by: self.closed_by.clone(),
            stream_seq: self.last_stream_seq.clone(),
            soft_deleted: self.soft_deleted,
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
