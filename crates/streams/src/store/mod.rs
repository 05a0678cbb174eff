//! Where streams are kept. [`Store`] is the one interface the HTTP handlers (and any
//! other Rust code in this crate, such as chat sessions) use to create, append to, read,
//! watch and delete streams; two implementations sit behind it:
//!
//! - [`FileStore`]: an append-only log under a data directory, for one process;
//! - [`PgStore`]: tables in schema `streams`, shared by any number of server processes.
//!
//! The protocol's decisions (what a create or an append must answer) are made by the
//! same code for both, in [`rules`], so the backends differ only in how they persist.

pub mod file;
mod notify;
mod payload;
mod postgres;
pub mod rules;

use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Utc};

use crate::limits::Limit;

pub use file::FileStore;
pub use notify::Version;
pub use payload::{is_json, message_spans, split_messages, BodyError, Payload};
pub use postgres::PgStore;
pub use rules::{AppendError, CreateError};

/// A stream is found by its owner and its path: every user has a namespace of their own,
/// so another user's stream can neither be reached nor detected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub owner: String,
    pub path: String,
}

impl StreamKey {
    pub fn new(owner: impl Into<String>, path: impl Into<String>) -> Self {
        StreamKey { owner: owner.into(), path: path.into() }
    }
}

/// What one owner may keep. The store checks it as it writes, in the same step, so
/// what it counts is what it holds: right after a restart, and whichever instance
/// writes to a shared database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Streams, counted until they are gone for good (a deleted stream that forks
    /// still read from holds its data, so it still counts).
    pub streams: u64,
    /// Each stream's own data: a fork counts only what it adds to its source.
    pub bytes: u64,
}

/// How long a stream lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Never,
    /// Sliding: expires after this long without a read or a write.
    Ttl(u64),
    /// Absolute.
    At(DateTime<Utc>),
}

/// Everything a `PUT` can ask for.
#[derive(Clone, Debug)]
pub struct CreateStream {
    /// `None`: `application/octet-stream`, or the source's type for a fork.
    pub content_type: Option<String>,
    pub expiry: Expiry,
    pub closed: bool,
    pub fork: Option<ForkFrom>,
    /// Initial content, framed by the stream's content type.
    pub body: Bytes,
}

impl CreateStream {
    /// An empty, open stream of this content type that never expires.
    pub fn new(content_type: &str) -> Self {
        CreateStream {
            content_type: Some(content_type.to_owned()),
            expiry: Expiry::Never,
            closed: false,
            fork: None,
            body: Bytes::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForkFrom {
    /// The source's path, in the same owner's namespace.
    pub path: String,
    /// Defaults to the source's tail.
    pub offset: Option<u64>,
    /// Bytes (or JSON messages) of the next append past `offset` to inherit as well.
    pub sub_offset: u64,
}

/// The identity of an idempotent producer's request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProducerTag {
    pub id: String,
    pub epoch: u64,
    pub seq: u64,
}

/// Everything a `POST` can ask for.
#[derive(Clone, Debug)]
pub struct Append {
    /// The request's content type, compared with the stream's when there is a body.
    pub content_type: Option<String>,
    /// `None` for a close-only request (empty body).
    pub payload: Option<Result<Payload, BodyError>>,
    pub close: bool,
    pub stream_seq: Option<String>,
    pub producer: Option<ProducerTag>,
}

impl Append {
    /// Appends one JSON value (or, for a JSON array, each of its elements) the way a
    /// `POST` with `Content-Type: application/json` would, for code inside this crate.
    pub fn json(value: &serde_json::Value) -> Self {
        let body = serde_json::to_vec(value).expect("a Value always serializes");
        Append {
            content_type: Some("application/json".to_owned()),
            payload: Some(Payload::frame("application/json", &body, false)),
            close: false,
            stream_seq: None,
            producer: None,
        }
    }
}

/// A stream's metadata as readers see it: only what is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// Differs between two streams that had the same key at different times.
    pub id: u64,
    pub content_type: String,
    pub expiry: Expiry,
    pub tail: u64,
    pub closed: bool,
}

#[derive(Clone, Debug)]
pub struct Created {
    pub info: StreamInfo,
    /// False when an identical stream already existed (idempotent `PUT`).
    pub new: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// New data (or a close) was written; `tail` is the new tail.
    Written { tail: u64, closed: bool, producer: Option<(u64, u64)> },
    /// The producer already wrote this; nothing changed. `producer` is
    /// `(epoch, highest accepted seq)`.
    Duplicate { tail: u64, closed: bool, producer: Option<(u64, u64)> },
}

/// Where a read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    Start,
    Tail,
    At(u64),
}

impl ReadFrom {
    /// The byte position this names in a stream whose tail is `tail`.
    pub fn position(self, tail: u64) -> Result<u64, StoreError> {
        let pos = match self {
            ReadFrom::Start => 0,
            ReadFrom::Tail => tail,
            ReadFrom::At(pos) => pos,
        };
        if pos > tail {
            return Err(StoreError::OffsetPastTail(pos));
        }
        Ok(pos)
    }
}

/// A run of a stream's bytes. For JSON streams, `data` holds whole messages joined by
/// commas (without the enclosing brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    pub start: u64,
    pub data: Bytes,
}

impl Slice {
    /// The position after its last byte.
    pub fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

/// What a read returns: the data from the requested position up to a size limit, and
/// the stream as it was when the read was made.
#[derive(Clone, Debug)]
pub struct ReadBatch {
    pub from: u64,
    pub next: u64,
    pub info: StreamInfo,
    runs: Runs,
}

#[derive(Clone, Debug)]
enum Runs {
    Apart(Vec<Slice>),
    Joined(Joined),
}

/// A read's runs already joined into the body it answers with (for a JSON stream, an
/// array), when the store could do it on the way. Each run lies after the one before
/// (past a comma in an array) and its stream position follows from the lengths, so
/// only where each ends is kept: not a slice of the body per run (an atomic count
/// each, a third of the server's time in a catch-up of 10,000 small messages), nor a
/// position and span (24 bytes a run, an allocation large enough that the system
/// allocator maps it fresh, page by page, for a first read).
#[derive(Clone, Debug)]
pub struct Joined {
    pub body: Bytes,
    /// Where each run ends in `body`.
    pub ends: Vec<usize>,
    pub json: bool,
    /// The stream position after the last run.
    pub next: u64,
}

impl ReadBatch {
    /// The runs `slices`, read from `from` (where the next read starts if there are none).
    pub fn new(from: u64, slices: Vec<Slice>, info: StreamInfo) -> Self {
        let next = slices.last().map_or(from, Slice::end);
        ReadBatch { from, next, info, runs: Runs::Apart(slices) }
    }

    /// Runs joined from `from` on.
    pub fn joined(from: u64, joined: Joined, info: StreamInfo) -> Self {
        ReadBatch { from, next: joined.next, info, runs: Runs::Joined(joined) }
    }

    /// No data: the read was at the tail.
    pub fn is_empty(&self) -> bool {
        match &self.runs {
            Runs::Apart(slices) => slices.is_empty(),
            Runs::Joined(joined) => joined.ends.is_empty(),
        }
    }

    /// The runs, in order.
    pub fn slices(&self) -> impl Iterator<Item = Slice> + '_ {
        let (apart, joined) = match &self.runs {
            Runs::Apart(slices) => (Some(slices.iter().cloned()), None),
            Runs::Joined(Joined { body, ends, json, .. }) => {
                let gap = usize::from(*json);
                let (mut at, mut start) = (gap, self.from);
                let slices = ends.iter().map(move |&end| {
                    let slice = Slice { start, data: body.slice(at..end) };
                    (start, at) = (slice.end(), end + gap);
                    slice
                });
                (None, Some(slices))
            }
        };
        apart.into_iter().flatten().chain(joined.into_iter().flatten())
    }

    /// The read's body: the bytes, or for a JSON stream the messages as one array.
    pub fn render(&self, json: bool) -> Bytes {
        let slices = match &self.runs {
            Runs::Joined(joined) => return joined.body.clone(),
            Runs::Apart(slices) => slices,
        };
        if !json && slices.len() == 1 {
            return slices[0].data.clone();
        }
        let size: usize = slices.iter().map(|s| s.data.len() + 1).sum();
        let mut out = BytesMut::with_capacity(size + 2);
        if json {
            out.put_u8(b'[');
        }
        for (i, slice) in slices.iter().enumerate() {
            if json && i > 0 {
                out.put_u8(b',');
            }
            out.put_slice(&slice.data);
        }
        if json {
            out.put_u8(b']');
        }
        out.freeze()
    }

    /// The body a read answers with, when the store has made it.
    #[cfg(test)]
    pub fn body(&self) -> Option<&Bytes> {
        match &self.runs {
            Runs::Joined(joined) => Some(&joined.body),
            Runs::Apart(_) => None,
        }
    }

    pub fn up_to_date(&self) -> bool {
        self.next >= self.info.tail
    }

    /// The reader has everything there will ever be.
    pub fn at_end(&self) -> bool {
        self.info.closed && self.up_to_date()
    }
}

/// A live view of a stream's tail, for long-polls and SSE.
pub type Watch = tokio::sync::watch::Receiver<Version>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream not found")]
    NotFound,
    #[error("stream was deleted but is kept for its forks")]
    Gone,
    #[error("{0}")]
    Create(#[from] CreateError),
    #[error("{0}")]
    Append(#[from] AppendError),
    #[error("offset {0} is past the end of the stream")]
    OffsetPastTail(u64),
    #[error("offset {0} is not a message boundary of this JSON stream")]
    OffsetNotBoundary(u64),
    #[error("storage failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage is unusable after an earlier write failure")]
    Poisoned,
    #[error("corrupt stream data: {0}")]
    Corrupt(String),
    #[error("the owner's {} limit is reached", .0.name())]
    Quota(Limit),
}

/// The streams, on whichever backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create(&self, key: &StreamKey, request: CreateStream) -> Result<Created, StoreError>;
    async fn append(&self, key: &StreamKey, request: Append) -> Result<Appended, StoreError>;
    /// Metadata, without counting as a read (the TTL is not renewed).
    async fn head(&self, key: &StreamKey) -> Result<StreamInfo, StoreError>;
    /// Up to about `limit` bytes from `from`; renews a TTL.
    async fn read(&self, key: &StreamKey, from: ReadFrom, limit: usize) -> Result<ReadBatch, StoreError>;
    /// A read by a live reader that follows the stream through [`watch`](Self::watch):
    /// it may be answered as of the last change announced to this process (a later one
    /// wakes the reader again), where [`read`](Self::read) sees every acknowledged write.
    async fn read_live(&self, key: &StreamKey, pos: u64, limit: usize) -> Result<ReadBatch, StoreError> {
        self.read(key, ReadFrom::At(pos), limit).await
    }
    async fn delete(&self, key: &StreamKey) -> Result<(), StoreError>;
    /// Changes to the stream from now on. Subscribe before reading so that nothing
    /// written in between is missed.
    async fn watch(&self, key: &StreamKey) -> Result<Watch, StoreError>;
}

/// When a stream with this expiry, last touched at `last_access`, stops existing.
pub(crate) fn expires_at(expiry: Expiry, last_access: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match expiry {
        Expiry::Never => None,
        Expiry::Ttl(seconds) => Some(last_access + Duration::from_secs(seconds)),
        Expiry::At(at) => Some(at),
    }
}
