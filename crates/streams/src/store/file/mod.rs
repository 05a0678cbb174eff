//! The embedded store: every stream change goes to one append-only log (see [`log`]);
//! the index (which stream owns which bytes, producer state, closure, forks) lives in
//! memory and is rebuilt from the log when the store opens.
//!
//! A change is decided under one lock, queued to the log writer in that same order,
//! and applied to the index at once, so the next request is judged against it; readers
//! see it only once the writer reports it fsynced. The request is answered after that,
//! so an acknowledged write survives `kill -9` and power loss.
//!
//! Not persisted: the last-access time of streams with a sliding TTL (it restarts from
//! the moment the store opens), and space held by deleted streams (the log is never
//! compacted).

pub(crate) mod log;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

use self::log::{AppendMeta, CreateMeta, Encoded, ForkMeta, Frame, Job, RecoverError};
use super::notify::{Notifier, Version};
use super::payload::is_json;
use super::rules::{self, AppendPlan, AppendTarget, ExistingStream, ProducerState};
use super::{
    Append, Appended, ReadBatch, CreateError, CreateStream, Created, Expiry, ProducerTag, Quota, ReadFrom, Slice, Store,
    StoreError, StreamInfo, StreamKey, Watch,
};
use crate::limits::Limit;

/// Recent data kept in memory per stream, so live readers rarely touch the disk.
const CACHE_PER_STREAM: u64 = 128 << 10;
/// How often expired streams are removed even if nobody asks for them.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot use data directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("data directory {0} is in use by another process")]
    Locked(PathBuf),
    #[error("{0}")]
    Recover(#[from] RecoverError),
    #[error("the log contradicts itself: {0}")]
    Inconsistent(String),
}

/// The file-backed store. Cheap to clone.
#[derive(Clone)]
pub struct FileStore(Arc<Inner>);

struct Inner {
    shared: Arc<Shared>,
    /// Only ever used with the state lock held, so frames reach the log in the order
    /// their changes were decided.
    jobs: mpsc::Sender<Job>,
    quota: Quota,
    _lock: File,
}

/// What the writer thread also needs. It does not hold the job sender, so dropping
/// the store ends the writer.
struct Shared {
    state: Mutex<State>,
    notifier: Notifier,
    durable: watch::Sender<Durable>,
    dir: PathBuf,
    readers: Mutex<HashMap<u32, Arc<File>>>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Durable {
    lsn: u64,
    failed: bool,
}

#[derive(Default)]
struct State {
    next_id: u64,
    keys: HashMap<StreamKey, u64>,
    streams: HashMap<u64, Stream>,
    /// The last log sequence number handed out.
    lsn: u64,
    segment: u32,
    position: u64,
    /// What becomes visible to readers when each LSN is durable.
    pending: VecDeque<(u64, Option<Visible>)>,
    poisoned: bool,
    /// What each owner keeps, for the [`Quota`]: kept up to date by the same steps
    /// that replay the log, so it is rebuilt with the index at open.
    usage: HashMap<String, Usage>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    streams: u64,
    bytes: u64,
}

/// A stream's tail and closure as of one log frame.
#[derive(Clone, Copy)]
struct Visible {
    id: u64,
    tail: u64,
    closed: bool,
}

struct Stream {
    key: StreamKey,
    content_type: String,
    json: bool,
    expiry: Expiry,
    last_access: DateTime<Utc>,
    fork: Option<ForkMeta>,
    /// The stream's own runs, in order; inherited data is read from the source.
    runs: Vec<Run>,
    /// Oldest run whose data is still cached.
    cached_from: usize,
    cached_bytes: u64,
    tail: u64,
    closed: bool,
    closed_by: Option<ProducerTag>,
    producers: HashMap<String, ProducerState>,
    last_stream_seq: Option<String>,
    /// What readers see: the part that is fsynced.
    durable_tail: u64,
    durable_closed: bool,
    visible: bool,
    soft_deleted: bool,
    /// Forks reading from this stream.
    forks: u32,
}

struct Run {
    start: u64,
    len: u64,
    segment: u32,
    at: u64,
    cached: Option<Bytes>,
}

/// A piece of a read, before its bytes are fetched.
struct Piece {
    start: u64,
    source: PieceSource,
}

enum PieceSource {
    Memory(Bytes),
    Disk { segment: u32, at: u64, len: u64 },
}

impl FileStore {
    /// Opens (or creates) the store in `dir`, replaying its log; each owner may keep
    /// what `quota` allows.
    pub async fn open(dir: &Path, quota: Quota) -> Result<FileStore, OpenError> {
        let dir = dir.to_owned();
        let store = tokio::task::spawn_blocking(move || Self::open_blocking(&dir, quota))
            .await
            .expect("opening the store does not panic")?;
        tokio::spawn(sweep(Arc::downgrade(&store.0)));
        Ok(store)
    }

    fn open_blocking(dir: &Path, quota: Quota) -> Result<FileStore, OpenError> {
        let log_dir = dir.join("log");
        let dir_err = |source| OpenError::Dir { path: dir.to_owned(), source };
        std::fs::create_dir_all(&log_dir).map_err(dir_err)?;
        let lock = lock_dir(dir)?;
        let mut state = State { next_id: 1, ..State::default() };
        let mut inconsistent = None;
        let end = log::recover(&log_dir, |segment, frame| {
            if let Err(e) = state.replay(segment, frame) {
                inconsistent.get_or_insert(e);
            }
        })?;
        if let Some(e) = inconsistent {
            return Err(OpenError::Inconsistent(e));
        }
        state.segment = end.segment;
        state.position = end.length;
        let streams = state.streams.len();
        let (durable, _) = watch::channel(Durable::default());
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            notifier: Notifier::default(),
            durable,
            dir: log_dir.clone(),
            readers: Mutex::new(HashMap::new()),
        });
        let (jobs, queue) = mpsc::channel();
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("streams-log-writer".into())
            .spawn(move || log::write_loop(log_dir, end.segment, queue, |result| writer.durable(result)))
            .map_err(dir_err)?;
        tracing::info!(dir = %dir.display(), streams, torn_bytes_cut = end.cut, "file store open");
        Ok(FileStore(Arc::new(Inner { shared, jobs, quota, _lock: lock })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.shared.state.lock().expect("store lock")
    }

    /// Waits until everything up to `lsn` is on disk.
    async fn durable(&self, lsn: u64) -> Result<(), StoreError> {
        let mut rx = self.0.shared.durable.subscribe();
        let reached = rx.wait_for(|d| d.lsn >= lsn || d.failed).await.map_err(|_| StoreError::Poisoned)?;
        if reached.lsn >= lsn {
            Ok(())
        } else {
            Err(StoreError::Poisoned)
        }
    }

    /// Queues a frame. Returns its LSN and where its data will be: segment and position.
    /// The caller then applies the change and records what it makes [`State::visible`].
    fn submit(&self, state: &mut State, frame: Encoded) -> Result<(u64, u32, u64), StoreError> {
        let len = frame.bytes.len() as u64;
        let roll_to = (state.position > 0 && state.position + len > log::SEGMENT_LIMIT).then(|| {
            state.segment += 1;
            state.position = 0;
            state.segment
        });
        let at = state.position + frame.data_offset as u64;
        state.position += len;
        state.lsn += 1;
        if self.0.jobs.send(Job { lsn: state.lsn, roll_to, bytes: frame.bytes }).is_err() {
            state.poisoned = true;
            return Err(StoreError::Poisoned);
        }
        Ok((state.lsn, state.segment, at))
    }

    /// The stream at `key` as readers may see it, expiring it first if its time is up.
    fn find(&self, state: &mut State, key: &StreamKey) -> Result<u64, StoreError> {
        let id = *state.keys.get(key).ok_or(StoreError::NotFound)?;
        let stream = &state.streams[&id];
        if !stream.visible {
            return Err(StoreError::NotFound);
        }
        if stream.soft_deleted {
            return Err(StoreError::Gone);
        }
        if rules::expired(stream.expiry, stream.last_access, Utc::now()) {
            let soft = self.remove(state, id)?;
            return Err(if soft { StoreError::Gone } else { StoreError::NotFound });
        }
        Ok(id)
    }

    /// Deletes `id` (softly while forks need it), logs it and tells its watchers.
    /// Returns whether the delete was soft.
    fn remove(&self, state: &mut State, id: u64) -> Result<bool, StoreError> {
        let soft = state.streams[&id].forks > 0;
        let (lsn, _, _) = self.submit(state, log::encode_delete(id, soft))?;
        state.pending.push_back((lsn, None));
        for gone in state.remove(id) {
            self.0.shared.notifier.publish(gone, Version { gone: true, ..Version::default() });
        }
        Ok(soft)
    }

    fn check_usable(state: &State) -> Result<(), StoreError> {
        if state.poisoned {
            Err(StoreError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn create_locked(
        &self,
        state: &mut State,
        key: &StreamKey,
        request: &CreateStream,
    ) -> Result<Outcome<Created>, StoreError> {
        Self::check_usable(state)?;
        if let Some(&id) = state.keys.get(key) {
            let stream = &state.streams[&id];
            if stream.soft_deleted {
                return Err(CreateError::PathInUse.into());
            }
            if rules::expired(stream.expiry, stream.last_access, Utc::now()) {
                if self.remove(state, id)? {
                    return Err(CreateError::PathInUse.into());
                }
            } else {
                return self.existing(state, id, request);
            }
        }
        let (content_type, expiry, fork, prefix) = match &request.fork {
            Some(fork) => {
                let source_key = StreamKey::new(key.owner.clone(), fork.path.clone());
                let source = match self.find(state, &source_key) {
                    Err(StoreError::Gone) => return Err(CreateError::SourceDeleted.into()),
                    other => other?,
                };
                let s = &state.streams[&source];
                let content_type = rules::create_content_type(request.content_type.as_deref(), Some(&s.content_type))?;
                let offset = fork.offset.unwrap_or(s.tail);
                if offset > s.tail {
                    return Err(CreateError::ForkOffsetPastTail(offset).into());
                }
                if s.json && !state.is_boundary(source, offset) {
                    return Err(CreateError::ForkOffsetNotBoundary(offset).into());
                }
                let next = match fork.sub_offset {
                    0 => None,
                    _ => self.run_at(state, source, offset)?,
                };
                let prefix = rules::sub_offset_prefix(&s.content_type, next.as_ref(), fork.sub_offset)?;
                let meta = ForkMeta { source, path: fork.path.clone(), offset, sub_offset: fork.sub_offset };
                (content_type, rules::fork_expiry(request.expiry, s.expiry), Some(meta), prefix)
            }
            None => (rules::create_content_type(request.content_type.as_deref(), None)?, request.expiry, None, None),
        };
        let body = rules::initial_data(&content_type, &request.body)?;
        let runs: Vec<Bytes> = prefix.map(|p| p.data).into_iter().chain(body).collect();
        state.within_quota(&key.owner, 1, runs.iter().map(|r| r.len() as u64).sum(), self.0.quota)?;
        let id = state.next_id;
        state.next_id += 1;
        let (ttl, expires_at_ms) = match expiry {
            Expiry::Never => (None, None),
            Expiry::Ttl(s) => (Some(s), None),
            Expiry::At(at) => (None, Some(at.timestamp_millis())),
        };
        let meta = CreateMeta {
            id,
            owner: key.owner.clone(),
            path: key.path.clone(),
            content_type,
            ttl,
            expires_at_ms,
            closed: request.closed,
            fork,
            runs: runs.iter().map(|r| r.len() as u64).collect(),
        };
        let refs: Vec<&[u8]> = runs.iter().map(|r| r.as_ref()).collect();
        let (lsn, segment, at) = self.submit(state, log::encode_create(&meta, &refs))?;
        state.insert(&meta, segment, at, Some(&runs));
        state.visible(lsn, id);
        let info = state.streams[&id].pending_info(id);
        Ok(Outcome { lsn, value: Created { info, new: true } })
    }

    /// An idempotent `PUT` on an existing stream: the same stream, or a conflict.
    fn existing(&self, state: &State, id: u64, request: &CreateStream) -> Result<Outcome<Created>, StoreError> {
        let stream = &state.streams[&id];
        let source = request.fork.as_ref().and_then(|f| {
            let source_key = StreamKey::new(stream.key.owner.clone(), f.path.clone());
            state.keys.get(&source_key).map(|s| &state.streams[s])
        });
        let requested_type = match (&request.content_type, source) {
            (Some(t), _) => t.clone(),
            (None, Some(s)) => s.content_type.clone(),
            (None, None) => "application/octet-stream".to_owned(),
        };
        let requested_expiry = match source {
            Some(s) => rules::fork_expiry(request.expiry, s.expiry),
            None => request.expiry,
        };
        let existing = ExistingStream {
            content_type: &stream.content_type,
            expiry: stream.expiry,
            closed: stream.closed,
            fork: stream.fork.as_ref().map(|f| (f.path.as_str(), f.offset, f.sub_offset)),
        };
        if !rules::same_config(&existing, request, &requested_type, requested_expiry) {
            return Err(CreateError::ConfigMismatch.into());
        }
        Ok(Outcome { lsn: state.lsn, value: Created { info: stream.pending_info(id), new: false } })
    }

    fn append_locked(
        &self,
        state: &mut State,
        key: &StreamKey,
        request: &Append,
    ) -> Result<Outcome<Appended>, StoreError> {
        Self::check_usable(state)?;
        let id = self.find(state, key)?;
        let stream = &state.streams[&id];
        let target = AppendTarget {
            content_type: &stream.content_type,
            closed: stream.closed,
            closed_by: stream.closed_by.as_ref(),
            last_stream_seq: stream.last_stream_seq.as_deref(),
        };
        let producer = request.producer.as_ref().and_then(|p| stream.producers.get(&p.id).copied());
        let plan = rules::plan_append(&target, producer, request).map_err(|e| match e {
            rules::AppendError::Closed { .. } => rules::AppendError::Closed { tail: stream.tail },
            other => other,
        })?;
        let echo = |p: Option<ProducerState>| p.map(|p| (p.epoch, p.last_seq));
        match plan {
            AppendPlan::Duplicate { producer } => Ok(Outcome {
                lsn: state.lsn,
                value: Appended::Duplicate { tail: stream.tail, closed: stream.closed, producer: echo(producer) },
            }),
            AppendPlan::Write { payload, close, producer } => {
                let data = payload.map(|p| p.data).unwrap_or_default();
                let start = stream.tail;
                state.within_quota(&key.owner, 0, data.len() as u64, self.0.quota)?;
                let meta = AppendMeta {
                    id,
                    start,
                    close,
                    producer: request.producer.clone(),
                    stream_seq: request.stream_seq.clone(),
                };
                let (lsn, segment, at) = self.submit(state, log::encode_append(&meta, &data))?;
                state.apply_append(&meta, segment, at, data, true);
                state.streams.get_mut(&id).expect("stream found above").last_access = Utc::now();
                state.visible(lsn, id);
                let stream = &state.streams[&id];
                let value = Appended::Written { tail: stream.tail, closed: stream.closed, producer: echo(producer) };
                Ok(Outcome { lsn, value })
            }
        }
    }

    /// The stored run at `pos` of stream `id` (following forks), read now: used only to
    /// resolve a fork's sub-offset, so the blocking read under the lock stays rare.
    fn run_at(&self, state: &State, id: u64, pos: u64) -> Result<Option<Slice>, StoreError> {
        let Some(piece) = state.run_at(id, pos, u64::MAX) else { return Ok(None) };
        let data = self.fetch(piece.source)?;
        Ok(Some(Slice { start: piece.start, data }))
    }

    fn fetch(&self, source: PieceSource) -> Result<Bytes, StoreError> {
        let (segment, at, len) = match source {
            PieceSource::Memory(bytes) => return Ok(bytes),
            PieceSource::Disk { segment, at, len } => (segment, at, len),
        };
        let file = self.0.shared.reader(segment)?;
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, at)?;
        Ok(buf.into())
    }
}

/// A decided change and the LSN that must be durable before it is answered.
struct Outcome<T> {
    lsn: u64,
    value: T,
}

impl Shared {
    /// Called by the writer after each fsync.
    fn durable(&self, result: std::io::Result<u64>) {
        let mut state = self.state.lock().expect("store lock");
        match result {
            Ok(lsn) => {
                while state.pending.front().is_some_and(|(l, _)| *l <= lsn) {
                    let (_, visible) = state.pending.pop_front().expect("checked above");
                    if let Some(v) = visible {
                        if let Some(stream) = state.streams.get_mut(&v.id) {
                            stream.durable_tail = v.tail;
                            stream.durable_closed = v.closed;
                            stream.visible = true;
                            self.notifier.publish(v.id, stream.version());
                        }
                    }
                }
                drop(state);
                self.durable.send_replace(Durable { lsn, failed: false });
            }
            Err(e) => {
                tracing::error!(error = %e, "writing the stream log failed; the store refuses further writes");
                state.poisoned = true;
                drop(state);
                self.durable.send_modify(|d| d.failed = true);
            }
        }
    }

    fn reader(&self, segment: u32) -> Result<Arc<File>, StoreError> {
        let mut readers = self.readers.lock().expect("readers lock");
        if let Some(file) = readers.get(&segment) {
            return Ok(file.clone());
        }
        let file = Arc::new(File::open(log::segment_path(&self.dir, segment))?);
        readers.insert(segment, file.clone());
        Ok(file)
    }
}

impl State {
    /// Once `lsn` is durable, readers see stream `id` as it is now.
    fn visible(&mut self, lsn: u64, id: u64) {
        let stream = &self.streams[&id];
        let visible = Visible { id, tail: stream.tail, closed: stream.closed };
        self.pending.push_back((lsn, Some(visible)));
    }

    fn replay(&mut self, segment: u32, frame: Frame<'_>) -> Result<(), String> {
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
    fn within_quota(&self, owner: &str, streams: u64, bytes: u64, quota: Quota) -> Result<(), StoreError> {
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
    fn apply_append(&mut self, meta: &AppendMeta, segment: u32, at: u64, data: Bytes, cache: bool) {
        let stream = self.streams.get_mut(&meta.id).expect("appends go to a known stream");
        if let Some(usage) = self.usage.get_mut(&stream.key.owner) {
            usage.bytes += data.len() as u64;
        }
        stream.apply_append(meta, segment, at, data, cache);
    }

    /// Adds a created stream; `runs` are its initial data, cached when given.
    fn insert(&mut self, meta: &CreateMeta, segment: u32, data_at: u64, runs: Option<&[Bytes]>) {
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
    fn remove(&mut self, id: u64) -> Vec<u64> {
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
    fn is_boundary(&self, id: u64, pos: u64) -> bool {
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
    fn run_at(&self, id: u64, pos: u64, limit: u64) -> Option<Piece> {
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
    fn collect(&self, id: u64, from: u64, to: u64, budget: &mut u64, out: &mut Vec<Piece>) {
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
    fn own_start(&self) -> u64 {
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

    fn version(&self) -> Version {
        Version { tail: self.durable_tail, closed: self.durable_closed, gone: false }
    }

    fn info(&self, id: u64) -> StreamInfo {
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
    fn pending_info(&self, id: u64) -> StreamInfo {
        StreamInfo { tail: self.tail, closed: self.closed, ..self.info(id) }
    }
}

#[async_trait]
impl Store for FileStore {
    async fn create(&self, key: &StreamKey, request: CreateStream) -> Result<Created, StoreError> {
        let outcome = self.create_locked(&mut self.lock(), key, &request)?;
        self.durable(outcome.lsn).await?;
        Ok(outcome.value)
    }

    async fn append(&self, key: &StreamKey, request: Append) -> Result<Appended, StoreError> {
        let outcome = self.append_locked(&mut self.lock(), key, &request)?;
        self.durable(outcome.lsn).await?;
        Ok(outcome.value)
    }

    async fn head(&self, key: &StreamKey) -> Result<StreamInfo, StoreError> {
        let mut state = self.lock();
        let id = self.find(&mut state, key)?;
        Ok(state.streams[&id].info(id))
    }

    async fn read(&self, key: &StreamKey, from: ReadFrom, limit: usize) -> Result<ReadBatch, StoreError> {
        let (info, from, pieces) = {
            let mut state = self.lock();
            let id = self.find(&mut state, key)?;
            let stream = state.streams.get_mut(&id).expect("found above");
            stream.last_access = Utc::now();
            let info = stream.info(id);
            let pos = match from {
                ReadFrom::Start => 0,
                ReadFrom::Tail => info.tail,
                ReadFrom::At(pos) => pos,
            };
            if pos > info.tail {
                return Err(StoreError::OffsetPastTail(pos));
            }
            if stream.json && !state.is_boundary(id, pos) {
                return Err(StoreError::OffsetNotBoundary(pos));
            }
            let mut pieces = Vec::new();
            state.collect(id, pos, info.tail, &mut (limit as u64), &mut pieces);
            (info, pos, pieces)
        };
        let slices = if pieces.iter().all(|p| matches!(p.source, PieceSource::Memory(_))) {
            self.slices(pieces)?
        } else {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.slices(pieces)).await.expect("reads do not panic")?
        };
        let next = slices.last().map_or(from, |s| s.start + s.data.len() as u64);
        Ok(ReadBatch { from, next, slices, info })
    }

    async fn delete(&self, key: &StreamKey) -> Result<(), StoreError> {
        let lsn = {
            let mut state = self.lock();
            Self::check_usable(&state)?;
            let id = self.find(&mut state, key)?;
            self.remove(&mut state, id)?;
            state.lsn
        };
        self.durable(lsn).await
    }

    async fn watch(&self, key: &StreamKey) -> Result<Watch, StoreError> {
        let mut state = self.lock();
        let id = self.find(&mut state, key)?;
        Ok(self.0.shared.notifier.subscribe(id, state.streams[&id].version()))
    }
}

impl FileStore {
    fn slices(&self, pieces: Vec<Piece>) -> Result<Vec<Slice>, StoreError> {
        pieces.into_iter().map(|p| Ok(Slice { start: p.start, data: self.fetch(p.source)? })).collect()
    }

    /// Removes streams whose time is up, so they stop holding memory.
    fn sweep_expired(&self) {
        let mut state = self.lock();
        let now = Utc::now();
        let expired: Vec<u64> = state
            .streams
            .iter()
            .filter(|(_, s)| s.visible && !s.soft_deleted && rules::expired(s.expiry, s.last_access, now))
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if state.streams.contains_key(&id) && self.remove(&mut state, id).is_err() {
                return;
            }
        }
    }
}

async fn sweep(store: Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else { return };
        FileStore(inner).sweep_expired();
    }
}

/// One process per data directory: a second would interleave frames in the same log.
fn lock_dir(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join("LOCK");
    let file = File::create(&path).map_err(|source| OpenError::Dir { path: path.clone(), source })?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(OpenError::Locked(dir.to_owned()));
    }
    Ok(file)
}
