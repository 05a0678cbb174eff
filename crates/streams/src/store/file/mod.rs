//! The embedded store: every stream change goes to one append-only log (see [`log`]);
//! the index (which stream owns which bytes, producer state, closure, forks) lives in
//! memory and is rebuilt from the log when the store opens.
//!
//! A change is decided under one lock, queued to the log writer in that same order,
//! and applied to the index at once, so the next request is judged against it; readers
//! see it only once the writer reports it fsynced. The request is answered after that,
//! so an acknowledged write survives `kill -9` and power loss.
//!
//! The last access of a stream with a sliding TTL is logged at most every
//! [`index::touch_every`], so its deadline survives a restart. Space held by deleted
//! streams and dropped frames is given back by compaction once it is a quarter of the
//! closed segments.
//!
//! - [`log`]: the on-disk log: frame format, writer thread, recovery;
//! - `index`: the in-memory index, and its replay from the log;
//! - `write`: how a create, append or delete is decided and queued to the log;
//! - `read`: reads, from the cache in memory or the log on disk;
//! - `compact`: rewriting the closed segments as one base of what is alive;
//! - `sweep`: removing expired streams nobody asks for, and starting compactions;
//! - `lock`: one process per data directory.

mod compact;
mod index;
mod lock;
pub(crate) mod log;
mod read;
mod sweep;
mod write;

use std::fs::{DirBuilder, File, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::watch;

use self::index::State;
use self::log::{Files, Job, RecoverError};
use super::notify::Notifier;
use super::{
    Append, Appended, CreateStream, Created, Quota, ReadBatch, ReadFrom, Store, StoreError, StreamInfo, StreamKey,
    Watch,
};

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
    /// A segment is closed once it would grow past this.
    segment_bytes: u64,
    _lock: File,
}

/// What the writer thread also needs. It does not hold the job sender, so dropping
/// the store ends the writer.
struct Shared {
    state: Mutex<State>,
    notifier: Notifier,
    durable: watch::Sender<Durable>,
    files: Files,
}

#[derive(Clone, Copy, Debug, Default)]
struct Durable {
    lsn: u64,
    failed: bool,
}

impl FileStore {
    /// Opens (or creates) the store in `dir`, replaying its log; each owner may keep
    /// what `quota` allows; segments of the log are closed at about `segment_bytes`.
    pub async fn open(dir: &Path, quota: Quota, segment_bytes: u64) -> Result<FileStore, OpenError> {
        let dir = dir.to_owned();
        let store = tokio::task::spawn_blocking(move || Self::open_blocking(&dir, quota, segment_bytes))
            .await
            .expect("opening the store does not panic")?;
        tokio::spawn(sweep::run(Arc::downgrade(&store.0)));
        Ok(store)
    }

    fn open_blocking(dir: &Path, quota: Quota, segment_bytes: u64) -> Result<FileStore, OpenError> {
        let log_dir = dir.join("log");
        let dir_err = |source| OpenError::Dir { path: dir.to_owned(), source };
        // The data directory, when it is made here, and the log in it: the owner's alone.
        DirBuilder::new().recursive(true).mode(0o700).create(&log_dir).map_err(dir_err)?;
        if let Err(e) = std::fs::set_permissions(&log_dir, Permissions::from_mode(0o700)) {
            tracing::warn!(dir = %log_dir.display(), error = %e, "cannot make the log readable by this user alone");
        }
        let lock = lock::lock_dir(dir)?;
        let mut state = State { next_id: 1, ..State::default() };
        let mut inconsistent = None;
        let end = log::recover(&log_dir, |segment, frame, len| {
            if let Err(e) = state.replay(segment, frame, len) {
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
            files: Files::new(log_dir.clone()),
        });
        let (jobs, queue) = mpsc::channel();
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("streams-log-writer".into())
            .spawn(move || {
                log::write_loop(log_dir, (end.segment, end.length), segment_bytes, queue, |result| {
                    writer.durable(result)
                })
            })
            .map_err(dir_err)?;
        tracing::info!(dir = %dir.display(), streams, torn_bytes_cut = end.cut, "file store open");
        Ok(FileStore(Arc::new(Inner { shared, jobs, quota, segment_bytes, _lock: lock })))
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
        self.read_batch(key, from, limit).await
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
