//! The file store's log: numbered segment files under `<data dir>/log/`, each a
//! sequence of frames `[length u32][crc32 u32][body]`. Every change to every stream is
//! one frame, so a change and its bookkeeping (producer state, closure) land together or
//! not at all. A frame counts only once it is fsynced; a frame cut short by a crash fails
//! its length or checksum and is cut off when the store opens.
//!
//! One writer thread appends frames: whatever queued up while the previous fsync ran is
//! written and fsynced together (group commit), so concurrent appends share one fsync.
//!
//! Compaction (see `compact`) replaces the closed segments up to `k` with one segment
//! numbered `k` that starts with a base frame: the streams still alive, each as one
//! create frame carrying its data and the state its dropped frames had set. Frames after
//! it may still name streams the base left out because they were deleted since; the
//! base's `next_id` says which those are.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use chrono::{TimeZone, Utc};

use crate::store::{Expiry, ProducerTag};

pub const FRAME_HEADER: usize = 8;
/// The most frames one fsync covers, so acknowledgements keep flowing under load.
const MAX_BATCH: usize = 4096;

const KIND_CREATE: u8 = 1;
const KIND_APPEND: u8 = 2;
const KIND_DELETE: u8 = 3;
const KIND_BASE: u8 = 4;
const KIND_TOUCH: u8 = 5;

/// A new stream, with its initial runs of data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateMeta {
    pub id: u64,
    pub owner: String,
    pub path: String,
    pub content_type: String,
    pub ttl: Option<u64>,
    pub expires_at_ms: Option<i64>,
    pub closed: bool,
    pub fork: Option<ForkMeta>,
    /// Lengths of the data runs that follow the metadata.
    pub runs: Vec<u64>,
    /// When a stream with a sliding TTL was last read or written, as far as the log
    /// knows: set at creation, then by touch frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touched_ms: Option<i64>,
    /// What a base carries over from the append and delete frames it replaces.
    #[serde(default, skip_serializing_if = "Carried::is_empty")]
    pub carried: Carried,
}

impl CreateMeta {
    /// The `ttl` and `expires_at_ms` fields that log `expiry`.
    pub fn expiry_fields(expiry: Expiry) -> (Option<u64>, Option<i64>) {
        match expiry {
            Expiry::Never => (None, None),
            Expiry::Ttl(s) => (Some(s), None),
            Expiry::At(at) => (None, Some(at.timestamp_millis())),
        }
    }

    pub fn expiry(&self) -> Expiry {
        match (self.ttl, self.expires_at_ms) {
            (Some(ttl), _) => Expiry::Ttl(ttl),
            (None, Some(ms)) => Utc.timestamp_millis_opt(ms).single().map_or(Expiry::Never, Expiry::At),
            (None, None) => Expiry::Never,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Carried {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub producers: Vec<ProducerTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<ProducerTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_seq: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft_deleted: bool,
}

impl Carried {
    fn is_empty(&self) -> bool {
        self.producers.is_empty() && self.closed_by.is_none() && self.stream_seq.is_none() && !self.soft_deleted
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ForkMeta {
    pub source: u64,
    pub path: String,
    pub offset: u64,
    pub sub_offset: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendMeta {
    pub id: u64,
    pub start: u64,
    pub close: bool,
    pub producer: Option<ProducerTag>,
    pub stream_seq: Option<String>,
}

/// A frame read back from disk. `data_at` is where the frame's data starts in its
/// segment, so reads can go straight to it later.
#[derive(Debug)]
pub enum Frame<'a> {
    Create {
        meta: CreateMeta,
        data_at: u64,
    },
    Append {
        meta: AppendMeta,
        data_at: u64,
        data: &'a [u8],
    },
    Delete {
        id: u64,
        soft: bool,
    },
    /// Starts a compacted segment: streams below `next_id` it does not hold are gone.
    Base {
        next_id: u64,
    },
    /// Stream `id` was read or written at `at_ms`.
    Touch {
        id: u64,
        at_ms: i64,
    },
}

/// An encoded frame and where its data begins within it.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub data_offset: usize,
}

pub fn encode_create(meta: &CreateMeta, runs: &[&[u8]]) -> Encoded {
    let json = serde_json::to_vec(meta).expect("metadata serializes");
    let mut body = Vec::with_capacity(5 + json.len() + runs.iter().map(|r| r.len()).sum::<usize>());
    body.push(KIND_CREATE);
    body.extend_from_slice(&(json.len() as u32).to_le_bytes());
    body.extend_from_slice(&json);
    let data_offset = FRAME_HEADER + body.len();
    for run in runs {
        body.extend_from_slice(run);
    }
    Encoded { bytes: frame(body), data_offset }
}

pub fn encode_append(meta: &AppendMeta, data: &[u8]) -> Encoded {
    let mut body = Vec::with_capacity(64 + data.len());
    body.push(KIND_APPEND);
    body.extend_from_slice(&meta.id.to_le_bytes());
    body.extend_from_slice(&meta.start.to_le_bytes());
    let flags =
        u8::from(meta.close) | u8::from(meta.producer.is_some()) << 1 | u8::from(meta.stream_seq.is_some()) << 2;
    body.push(flags);
    if let Some(p) = &meta.producer {
        put_str(&mut body, &p.id);
        body.extend_from_slice(&p.epoch.to_le_bytes());
        body.extend_from_slice(&p.seq.to_le_bytes());
    }
    if let Some(seq) = &meta.stream_seq {
        put_str(&mut body, seq);
    }
    let data_offset = FRAME_HEADER + body.len();
    body.extend_from_slice(data);
    Encoded { bytes: frame(body), data_offset }
}

pub fn encode_delete(id: u64, soft: bool) -> Encoded {
    let mut body = vec![KIND_DELETE];
    body.extend_from_slice(&id.to_le_bytes());
    body.push(u8::from(soft));
    Encoded { bytes: frame(body), data_offset: 0 }
}

pub fn encode_base(next_id: u64) -> Encoded {
    let mut body = vec![KIND_BASE];
    body.extend_from_slice(&next_id.to_le_bytes());
    Encoded { bytes: frame(body), data_offset: 0 }
}

pub fn encode_touch(id: u64, at_ms: i64) -> Encoded {
    let mut body = vec![KIND_TOUCH];
    body.extend_from_slice(&id.to_le_bytes());
    body.extend_from_slice(&at_ms.to_le_bytes());
    Encoded { bytes: frame(body), data_offset: 0 }
}

fn put_str(body: &mut Vec<u8>, s: &str) {
    body.extend_from_slice(&(s.len() as u32).to_le_bytes());
    body.extend_from_slice(s.as_bytes());
}

fn frame(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads the frame at `at` in `segment`: `Ok(None)` where valid frames end (end of
/// file, zeros, a short or mis-checksummed frame), otherwise the frame and its length.
pub fn decode(segment: &[u8], at: usize) -> Result<Option<(Frame<'_>, usize)>, String> {
    let Some(header) = segment.get(at..at + FRAME_HEADER) else { return Ok(None) };
    let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
    let start = at + FRAME_HEADER;
    let Some(body) = segment.get(start..start + len) else { return Ok(None) };
    if len == 0 || crc32fast::hash(body) != crc {
        return Ok(None);
    }
    let mut cursor = Cursor { body, at: 1 };
    let frame = match body[0] {
        KIND_CREATE => {
            let json_len = cursor.u32()? as usize;
            let meta: CreateMeta = serde_json::from_slice(cursor.take(json_len)?).map_err(|e| e.to_string())?;
            let data_at = (start + cursor.at) as u64;
            Frame::Create { meta, data_at }
        }
        KIND_APPEND => {
            let id = cursor.u64()?;
            let start_pos = cursor.u64()?;
            let flags = cursor.take(1)?[0];
            let producer = if flags & 2 != 0 {
                let id = cursor.string()?;
                Some(ProducerTag { id, epoch: cursor.u64()?, seq: cursor.u64()? })
            } else {
                None
            };
            let stream_seq = if flags & 4 != 0 { Some(cursor.string()?) } else { None };
            let meta = AppendMeta { id, start: start_pos, close: flags & 1 != 0, producer, stream_seq };
            let data_at = (start + cursor.at) as u64;
            Frame::Append { meta, data_at, data: &body[cursor.at..] }
        }
        KIND_DELETE => Frame::Delete { id: cursor.u64()?, soft: cursor.take(1)?[0] != 0 },
        KIND_BASE => Frame::Base { next_id: cursor.u64()? },
        KIND_TOUCH => Frame::Touch { id: cursor.u64()?, at_ms: cursor.u64()? as i64 },
        other => return Err(format!("unknown frame kind {other}")),
    };
    Ok(Some((frame, FRAME_HEADER + len)))
}

struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let out = self.body.get(self.at..self.at + n).ok_or("frame body too short")?;
        self.at += n;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|e| e.to_string())
    }
}

pub fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:010}.seg"))
}

/// The segment numbers present in `dir`, in order.
pub fn segments(dir: &Path) -> io::Result<Vec<u32>> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Where the log ends after recovery: the segment to keep writing and its length.
pub struct LogEnd {
    pub segment: u32,
    pub length: u64,
    /// Bytes of a torn tail that were cut off (up to its last non-zero byte).
    pub cut: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("segment {path} is damaged at byte {at} ({reason}), before the end of the log; refusing to guess")]
    Damaged { path: PathBuf, at: u64, reason: String },
}

/// Replays every frame in order through `apply` (with the frame's length), then cuts a
/// torn tail off the last segment (fsynced), so a second recovery finds exactly the same
/// log. First it finishes what a compaction cut short: a base not yet installed is
/// dropped, segments an installed base replaces are removed.
pub fn recover(dir: &Path, mut apply: impl FnMut(u32, Frame<'_>, u64)) -> Result<LogEnd, RecoverError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| RecoverError::Io { path, source }
    };
    remove_unfinished(dir).map_err(io_err(dir))?;
    let numbers = segments(dir).map_err(io_err(dir))?;
    let numbers = drop_replaced(dir, numbers).map_err(io_err(dir))?;
    let Some(&last) = numbers.last() else {
        create_segment(dir, 1).map_err(io_err(dir))?;
        return Ok(LogEnd { segment: 1, length: 0, cut: 0 });
    };
    for &number in &numbers {
        let path = segment_path(dir, number);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        let at = replay(&bytes, |frame, len| apply(number, frame, len))
            .map_err(|(at, reason)| RecoverError::Damaged { path: path.clone(), at: at as u64, reason })?;
        if at < bytes.len() {
            if number != last {
                let reason = "frame fails its checksum".to_owned();
                return Err(RecoverError::Damaged { path, at: at as u64, reason });
            }
            let file = OpenOptions::new().write(true).open(&path).map_err(io_err(&path))?;
            file.set_len(at as u64).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
            // The zeros the writer keeps ahead of the end are no torn write.
            let cut = bytes[at..].iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
            if cut > 0 {
                tracing::warn!(segment = %path.display(), cut, "cut a torn write off the end of the log");
            }
            return Ok(LogEnd { segment: last, length: at as u64, cut: cut as u64 });
        }
        if number == last {
            return Ok(LogEnd { segment: last, length: at as u64, cut: 0 });
        }
    }
    unreachable!("the last segment returns")
}

/// Replays the closed segments `numbers`, which must hold nothing but whole frames.
pub fn replay_closed(
    dir: &Path,
    numbers: &[u32],
    mut apply: impl FnMut(u32, Frame<'_>, u64),
) -> Result<(), RecoverError> {
    for &number in numbers {
        let path = segment_path(dir, number);
        let bytes = fs::read(&path).map_err(|source| RecoverError::Io { path: path.clone(), source })?;
        match replay(&bytes, |frame, len| apply(number, frame, len)) {
            Ok(at) if at == bytes.len() => {}
            Ok(at) => {
                return Err(RecoverError::Damaged { path, at: at as u64, reason: "frame fails its checksum".into() })
            }
            Err((at, reason)) => return Err(RecoverError::Damaged { path, at: at as u64, reason }),
        }
    }
    Ok(())
}

/// Decodes the frames of one segment through `apply`; returns where valid frames end.
fn replay(bytes: &[u8], mut apply: impl FnMut(Frame<'_>, u64)) -> Result<usize, (usize, String)> {
    let mut at = 0;
    loop {
        match decode(bytes, at) {
            Ok(Some((frame, len))) => {
                apply(frame, len as u64);
                at += len;
            }
            Ok(None) => return Ok(at),
            Err(reason) => return Err((at, reason)),
        }
    }
}

/// What segments `numbers` take on disk (those gone meanwhile count nothing).
pub fn bytes_of(dir: &Path, numbers: &[u32]) -> u64 {
    numbers.iter().filter_map(|&n| fs::metadata(segment_path(dir, n)).ok()).map(|m| m.len()).sum()
}

/// Where compaction writes a base before it is installed as segment `number`.
pub fn unfinished_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:010}.seg.tmp"))
}

fn remove_unfinished(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Makes the fsynced base at `unfinished_path(dir, number)` segment `number`: the
/// atomic step of a compaction.
pub fn install_base(dir: &Path, number: u32) -> io::Result<()> {
    fs::rename(unfinished_path(dir, number), segment_path(dir, number))?;
    File::open(dir)?.sync_all()
}

/// Removes the segments below `number`, which a base there replaces.
pub fn remove_below(dir: &Path, number: u32) -> io::Result<()> {
    for n in segments(dir)?.into_iter().filter(|&n| n < number) {
        fs::remove_file(segment_path(dir, n))?;
    }
    File::open(dir)?.sync_all()
}

/// Keeps the segments from the last base on, removing those it replaces.
fn drop_replaced(dir: &Path, numbers: Vec<u32>) -> io::Result<Vec<u32>> {
    for (i, &n) in numbers.iter().enumerate().rev() {
        if starts_with_base(&segment_path(dir, n))? {
            if i > 0 {
                tracing::info!(base = n, "removing the segments a compaction replaced");
                remove_below(dir, n)?;
            }
            return Ok(numbers[i..].to_vec());
        }
    }
    Ok(numbers)
}

fn starts_with_base(path: &Path) -> io::Result<bool> {
    let mut head = Vec::with_capacity(FRAME_HEADER + 9);
    File::open(path)?.take((FRAME_HEADER + 9) as u64).read_to_end(&mut head)?;
    Ok(matches!(decode(&head, 0), Ok(Some((Frame::Base { .. }, _)))))
}

/// The segment files open for reading, shared by every read.
pub struct Files {
    dir: PathBuf,
    open: Mutex<HashMap<u32, Arc<File>>>,
}

impl Files {
    pub fn new(dir: PathBuf) -> Files {
        Files { dir, open: Mutex::default() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self, segment: u32) -> io::Result<Arc<File>> {
        let mut open = self.open.lock().expect("files lock");
        if let Some(file) = open.get(&segment) {
            return Ok(file.clone());
        }
        let file = Arc::new(File::open(segment_path(&self.dir, segment))?);
        open.insert(segment, file.clone());
        Ok(file)
    }

    /// Forgets segments up to `base`, which a compaction replaced; reads under way keep
    /// the files they hold.
    pub fn replaced(&self, base: u32) {
        self.open.lock().expect("files lock").retain(|&n, _| n > base);
    }
}

/// Options that create a file only its owner can read: the log holds every user's data.
pub fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).mode(0o600);
    options
}

fn create_segment(dir: &Path, number: u32) -> io::Result<File> {
    let file = private_file().create_new(true).open(segment_path(dir, number))?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Frames for the writer, in log order.
pub struct Job {
    /// The log sequence number: jobs are durable in this order.
    pub lsn: u64,
    /// Start segment `n` before writing these bytes.
    pub roll_to: Option<u32>,
    pub bytes: Vec<u8>,
}

/// How far ahead of the log's end the writer fills the segment with zeros. fdatasync on
/// a file that grew must also write its new size and block map (the inode, or a journal
/// commit); over blocks already written it flushes the data alone (ext4 on this
/// project's 2-core machine: 115-121 µs per fdatasync instead of 175-177). Frames are
/// written over the zeros, which read as the end of the log (a frame of length 0).
const ZERO_AHEAD: u64 = 1 << 20;

/// The segment being written: frames up to `end`, zeros from there to `zeroed`.
struct Tail {
    file: File,
    end: u64,
    zeroed: u64,
    /// Zeros stop where the segment will be closed (`STREAMS_SEGMENT_BYTES`), so the
    /// open segment takes no more disk than a closed one.
    limit: u64,
}

impl Tail {
    fn open(dir: &Path, segment: u32, end: u64, limit: u64) -> io::Result<Tail> {
        let file = OpenOptions::new().write(true).open(segment_path(dir, segment))?;
        let zeroed = file.metadata()?.len().max(end);
        Ok(Tail { file, end, zeroed, limit })
    }

    fn create(dir: &Path, segment: u32, limit: u64) -> io::Result<Tail> {
        Ok(Tail { file: create_segment(dir, segment)?, end: 0, zeroed: 0, limit })
    }

    /// Writes `bytes` at the end, and zeros ahead when fewer than half are left.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.end)?;
        self.end += bytes.len() as u64;
        self.zeroed = self.zeroed.max(self.end);
        let target = (self.end + ZERO_AHEAD).min(self.limit);
        if self.zeroed < self.end + ZERO_AHEAD / 2 && target > self.zeroed {
            self.file.write_all_at(&vec![0; (target - self.zeroed) as usize], self.zeroed)?;
            self.zeroed = target;
        }
        Ok(())
    }

    /// Cuts the zeros off a segment the log moves on from, before the next segment
    /// exists, so a closed segment holds whole frames only.
    fn close(&self) -> io::Result<()> {
        self.file.set_len(self.end)?;
        self.file.sync_all()
    }
}

/// Runs the writer on the calling thread until every sender is gone. The log continues
/// segment `segment` at `end`; segments are closed at about `segment_bytes`. After each
/// fsync it reports the highest durable LSN (or the error that stopped it) to `durable`.
pub fn write_loop(
    dir: PathBuf,
    (segment, end): (u32, u64),
    segment_bytes: u64,
    jobs: Receiver<Job>,
    mut durable: impl FnMut(io::Result<u64>),
) {
    let mut tail = match Tail::open(&dir, segment, end, segment_bytes) {
        Ok(tail) => tail,
        Err(e) => return durable(Err(e)),
    };
    let mut buffer = Vec::new();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let last = batch.last().map(|j| j.lsn).unwrap_or_default();
        let result = write_batch(&dir, &mut tail, &mut buffer, batch).map(|()| last);
        let failed = result.is_err();
        durable(result);
        if failed {
            return;
        }
    }
}

fn write_batch(dir: &Path, tail: &mut Tail, buffer: &mut Vec<u8>, batch: Vec<Job>) -> io::Result<()> {
    buffer.clear();
    for job in batch {
        if let Some(next) = job.roll_to {
            tail.write(buffer)?;
            buffer.clear();
            tail.close()?;
            *tail = Tail::create(dir, next, tail.limit)?;
        }
        buffer.extend_from_slice(&job.bytes);
    }
    tail.write(buffer)?;
    tail.file.sync_data()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn append(id: u64, start: u64, data: &[u8]) -> Vec<u8> {
        let meta = AppendMeta { id, start, close: false, producer: None, stream_seq: None };
        encode_append(&meta, data).bytes
    }

    fn replay(dir: &Path) -> (Vec<Vec<u8>>, LogEnd) {
        let mut seen = Vec::new();
        let end = recover(dir, |_, frame, _| {
            if let Frame::Append { data, .. } = frame {
                seen.push(data.to_vec());
            }
        })
        .unwrap();
        (seen, end)
    }

    #[test]
    fn frames_round_trip() {
        let meta = AppendMeta {
            id: 7,
            start: 42,
            close: true,
            producer: Some(ProducerTag { id: "p".into(), epoch: 1, seq: 2 }),
            stream_seq: Some("s".into()),
        };
        let encoded = encode_append(&meta, b"hello");
        let (frame, len) = decode(&encoded.bytes, 0).unwrap().unwrap();
        assert_eq!(len, encoded.bytes.len());
        let Frame::Append { meta: back, data, data_at } = frame else { panic!("not an append") };
        assert_eq!((back, data, data_at as usize), (meta, &b"hello"[..], encoded.data_offset));
    }

    #[test]
    fn a_torn_tail_is_cut_back_once_and_for_all() {
        let dir = tempfile::tempdir().unwrap();
        let first = recover(dir.path(), |_, _, _| {}).unwrap();
        assert_eq!((first.segment, first.length), (1, 0));
        let whole = [append(1, 0, b"one"), append(1, 3, b"two")].concat();
        let torn = append(1, 6, b"three, torn by a crash");
        let mut file = OpenOptions::new().append(true).open(segment_path(dir.path(), 1)).unwrap();
        file.write_all(&whole).unwrap();
        file.write_all(&torn[..torn.len() - 5]).unwrap();
        drop(file);

        let (seen, end) = replay(dir.path());
        assert_eq!(seen, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!((end.length, end.cut), (whole.len() as u64, (torn.len() - 5) as u64));
        assert_eq!(fs::metadata(segment_path(dir.path(), 1)).unwrap().len(), whole.len() as u64);

        let (again, end) = replay(dir.path());
        assert_eq!((again, end.cut), (seen, 0));
    }

    #[test]
    fn the_writer_keeps_zeros_ahead_and_closed_segments_hold_whole_frames() {
        let dir = tempfile::tempdir().unwrap();
        recover(dir.path(), |_, _, _| {}).unwrap();
        let frames: Vec<Vec<u8>> = (0..4).map(|n| append(1, n * 5, format!("data{n}").as_bytes())).collect();
        let (jobs, queue) = std::sync::mpsc::channel();
        for (n, bytes) in frames.iter().enumerate() {
            let roll_to = (n == 2).then_some(2);
            jobs.send(Job { lsn: n as u64 + 1, roll_to, bytes: bytes.clone() }).unwrap();
        }
        drop(jobs);
        let mut durable = Vec::new();
        write_loop(dir.path().to_owned(), (1, 0), 64 << 10, queue, |r| durable.push(r.unwrap()));
        assert_eq!(durable.last(), Some(&4));

        let size = |n| fs::metadata(segment_path(dir.path(), n)).unwrap().len();
        assert_eq!(size(1), (frames[0].len() + frames[1].len()) as u64, "a closed segment ends at its last frame");
        assert_eq!(size(2), 64 << 10, "the open segment is zeroed up to where it closes");
        let (seen, end) = replay(dir.path());
        assert_eq!(seen, (0..4).map(|n| format!("data{n}").into_bytes()).collect::<Vec<_>>());
        assert_eq!((end.segment, end.length, end.cut), (2, (frames[2].len() + frames[3].len()) as u64, 0));
        assert_eq!(size(2), end.length, "recovery cuts the zeros off");
    }

    #[test]
    fn a_write_torn_inside_the_zeros_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        recover(dir.path(), |_, _, _| {}).unwrap();
        let whole = append(1, 0, b"whole");
        let torn = append(1, 5, b"torn by a crash");
        let mut bytes = [&whole[..], &torn[..torn.len() - 3]].concat();
        bytes.resize(bytes.len() + 4096, 0);
        fs::write(segment_path(dir.path(), 1), &bytes).unwrap();
        let (seen, end) = replay(dir.path());
        assert_eq!(seen, vec![b"whole".to_vec()]);
        assert_eq!(end.length, whole.len() as u64);
        assert!(end.cut > 0 && end.cut <= (torn.len() - 3) as u64, "cut {}", end.cut);
    }

    #[test]
    fn a_flipped_byte_in_the_tail_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        recover(dir.path(), |_, _, _| {}).unwrap();
        let mut bytes = [append(1, 0, b"kept"), append(1, 4, b"flipped")].concat();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(segment_path(dir.path(), 1), &bytes).unwrap();
        let (seen, end) = replay(dir.path());
        assert_eq!(seen, vec![b"kept".to_vec()]);
        assert!(end.cut > 0);
    }

    #[test]
    fn damage_before_the_last_segment_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let mut bad = append(1, 0, b"x");
        bad[9] ^= 0xff;
        fs::write(segment_path(dir.path(), 1), &bad).unwrap();
        fs::write(segment_path(dir.path(), 2), append(1, 1, b"y")).unwrap();
        assert!(matches!(recover(dir.path(), |_, _, _| {}), Err(RecoverError::Damaged { .. })));
    }
}
