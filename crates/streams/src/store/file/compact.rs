//! Compaction gives back what deleted streams and dropped frames hold: the closed
//! segments up to `k` are rewritten as one base holding only the streams still alive,
//! installed as segment `k`.
//!
//! It runs beside the writer and the readers, taking the store's lock only to see which
//! streams are alive and to point the index at the new copies. Each step is safe to be
//! killed at:
//! 1. replay segments up to `k` into an index of their own: the streams as of the end
//!    of `k` (the live index has moved on, and holds changes not yet durable);
//! 2. write those still alive to `k.seg.tmp` and fsync it (the next open removes a
//!    `.tmp`);
//! 3. rename it over segment `k` and fsync the directory: from here the base counts,
//!    and the next open removes the segments below `k` if step 4 did not;
//! 4. point the index's runs at the base, then remove the segments below `k`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::time::Instant;

use super::index::{State, APPEND_OVERHEAD};
use super::log::{self, AppendMeta, CreateMeta, Encoded, Files, RecoverError};
use super::FileStore;

/// Compaction starts once dead bytes are a quarter of the closed segments, so they stay
/// within 4/3 of what is alive (plus the open segment), and a byte alive is copied again
/// only after three times as much died.
const DEAD_SHARE: u64 = 4;
/// Data one create frame carries at most; the rest of a stream follows as appends.
const CREATE_DATA_LIMIT: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub(super) enum CompactError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Recover(#[from] RecoverError),
    #[error("the log contradicts itself: {0}")]
    Inconsistent(String),
}

/// Where the runs of one stream went in the base.
struct Moved {
    id: u64,
    at: Vec<u64>,
}

impl FileStore {
    /// The last closed segment, when compacting up to it is worth it.
    pub(super) fn compaction_due(&self) -> Option<u32> {
        let state = self.lock();
        let durable = self.0.shared.durable.borrow().lsn;
        // The writer may still be finishing the segment before the open one.
        if state.poisoned || durable < state.active_since {
            return None;
        }
        let last = state.segment.checked_sub(1)?;
        let dead: u64 = state.dead.range(..=last).map(|(_, d)| d).sum();
        drop(state);
        if dead == 0 {
            return None;
        }
        let dir = self.0.shared.files.dir();
        let closed: Vec<u32> = log::segments(dir).ok()?.into_iter().filter(|&n| n <= last).collect();
        let closed = log::bytes_of(dir, &closed);
        (dead * DEAD_SHARE >= closed).then_some(last)
    }

    /// Rewrites the segments up to `base` as one base segment.
    pub(super) fn compact(&self, base: u32) -> Result<(), CompactError> {
        let started = Instant::now();
        let files = &self.0.shared.files;
        let dir = files.dir();
        let numbers: Vec<u32> = log::segments(dir)?.into_iter().filter(|&n| n <= base).collect();
        let mut old = State::default();
        let mut inconsistent = None;
        log::replay_closed(dir, &numbers, |segment, frame, len| {
            if let Err(e) = old.replay(segment, frame, len) {
                inconsistent.get_or_insert(e);
            }
        })?;
        if let Some(e) = inconsistent {
            return Err(CompactError::Inconsistent(e));
        }
        // Reads keep going to the files replaced until the index points at the base.
        for &n in &numbers {
            files.get(n)?;
        }
        let mut alive: Vec<u64> = {
            let state = self.lock();
            old.streams.keys().copied().filter(|id| state.streams.contains_key(id)).collect()
        };
        alive.sort_unstable();
        let written = write_base(files, base, &old, &alive).map_err(CompactError::from);
        let moved = match written.and_then(|moved| self.check_moved(base, &old, &moved).map(|()| moved)) {
            Ok(moved) => moved,
            Err(e) => {
                let _ = std::fs::remove_file(log::unfinished_path(dir, base));
                return Err(e);
            }
        };
        let before = log::bytes_of(dir, &numbers);
        log::install_base(dir, base)?;
        self.point_at_base(base, &old, moved);
        log::remove_below(dir, base)?;
        let after = std::fs::metadata(log::segment_path(dir, base))?.len();
        tracing::info!(
            segments = numbers.len(),
            streams = alive.len(),
            bytes_before = before,
            bytes_after = after,
            ms = started.elapsed().as_millis() as u64,
            "compacted the stream log"
        );
        Ok(())
    }

    /// Makes sure the live index holds exactly the runs the base moved, before it is
    /// installed.
    fn check_moved(&self, base: u32, old: &State, moved: &[Moved]) -> Result<(), CompactError> {
        let state = self.lock();
        for m in moved {
            let Some(live) = state.streams.get(&m.id) else { continue };
            let runs = &old.streams[&m.id].runs;
            let same = live.runs.len() >= runs.len()
                && runs
                    .iter()
                    .zip(&live.runs)
                    .all(|(o, l)| (o.start, o.len, o.segment, o.at) == (l.start, l.len, l.segment, l.at))
                && live.runs.get(runs.len()).is_none_or(|next| next.segment > base);
            if !same {
                return Err(CompactError::Inconsistent(format!("stream {} differs from its segments", m.id)));
            }
        }
        Ok(())
    }

    /// Points the runs that moved at the base; what the base holds of streams deleted
    /// meanwhile counts as dead there.
    fn point_at_base(&self, base: u32, old: &State, moved: Vec<Moved>) {
        let mut state = self.lock();
        let mut dead = 0;
        for m in moved {
            match state.streams.get_mut(&m.id) {
                Some(live) => {
                    for (run, at) in live.runs.iter_mut().zip(m.at) {
                        run.segment = base;
                        run.at = at;
                    }
                }
                None => dead += old.streams[&m.id].runs.iter().map(|r| r.len + APPEND_OVERHEAD).sum::<u64>(),
            }
        }
        state.dead.retain(|&n, _| n > base);
        state.dead.insert(base, dead);
        self.0.shared.files.replaced(base);
    }
}

/// Writes the streams `alive` of `old` to the unfinished base for segment `base`,
/// fsynced; returns where each run's data now is.
fn write_base(files: &Files, base: u32, old: &State, alive: &[u64]) -> io::Result<Vec<Moved>> {
    let path = log::unfinished_path(files.dir(), base);
    let file = log::private_file().create(true).truncate(true).open(&path)?;
    let mut out = Output { file: BufWriter::new(file), position: 0 };
    out.write(log::encode_base(old.next_id))?;
    let mut moved = Vec::with_capacity(alive.len());
    for &id in alive {
        let stream = &old.streams[&id];
        let mut data = Vec::new();
        let mut lens = Vec::new();
        let mut runs = stream.runs.iter().peekable();
        while let Some(run) = runs.next_if(|r| lens.is_empty() || (data.len() as u64) + r.len <= CREATE_DATA_LIMIT) {
            data.extend_from_slice(&read_run(files, run.segment, run.at, run.len)?);
            lens.push(run.len);
        }
        let (ttl, expires_at_ms) = CreateMeta::expiry_fields(stream.expiry);
        let meta = CreateMeta {
            id,
            owner: stream.key.owner.clone(),
            path: stream.key.path.clone(),
            content_type: stream.content_type.clone(),
            ttl,
            expires_at_ms,
            closed: stream.closed,
            fork: stream.fork.clone(),
            runs: lens.clone(),
            touched_ms: ttl.map(|_| stream.touched.timestamp_millis()),
            carried: stream.carried(),
        };
        let mut at = out.write(log::encode_create(&meta, &[&data]))?;
        let mut ats = Vec::with_capacity(stream.runs.len());
        for len in lens {
            ats.push(at);
            at += len;
        }
        for run in runs {
            let meta = AppendMeta { id, start: run.start, close: false, producer: None, stream_seq: None };
            ats.push(out.write(log::encode_append(&meta, &read_run(files, run.segment, run.at, run.len)?))?);
        }
        moved.push(Moved { id, at: ats });
    }
    let file = out.file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(moved)
}

struct Output {
    file: BufWriter<File>,
    position: u64,
}

impl Output {
    /// Writes a frame; returns where its data starts.
    fn write(&mut self, frame: Encoded) -> io::Result<u64> {
        self.file.write_all(&frame.bytes)?;
        let at = self.position + frame.data_offset as u64;
        self.position += frame.bytes.len() as u64;
        Ok(at)
    }
}

fn read_run(files: &Files, segment: u32, at: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    files.get(segment)?.read_exact_at(&mut buf, at)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::store::payload::Payload;
    use crate::store::{
        Append, Appended, CreateStream, Expiry, ForkFrom, ProducerTag, Quota, ReadFrom, Store, StreamKey,
    };

    fn open(dir: &Path) -> FileStore {
        FileStore::open_blocking(dir, Quota { streams: u64::MAX, bytes: u64::MAX }, 4096).unwrap()
    }

    fn key(path: &str) -> StreamKey {
        StreamKey::new("owner", path)
    }

    fn produced(seq: u64) -> Append {
        let body = serde_json::to_vec(&json!({ "seq": seq, "pad": "p".repeat(100) })).unwrap();
        Append {
            content_type: Some("application/json".into()),
            payload: Some(Payload::frame("application/json", &body, false)),
            close: false,
            stream_seq: None,
            producer: Some(ProducerTag { id: "writer".into(), epoch: 1, seq }),
        }
    }

    /// Each stream as readers see it: the checksum of its bytes, its tail and closure,
    /// or why there is none.
    async fn contents(store: &FileStore) -> Vec<Result<(u32, u64, bool), String>> {
        let mut out = Vec::new();
        for path in ["log", "text", "deleted", "source", "fork"] {
            let read = store.read(&key(path), ReadFrom::Start, usize::MAX).await;
            out.push(read.map_err(|e| e.to_string()).map(|batch| {
                let mut crc = crc32fast::Hasher::new();
                batch.slices().for_each(|s| crc.update(&s.data));
                (crc.finalize(), batch.info.tail, batch.info.closed)
            }));
        }
        out
    }

    /// Streams across several 4 KiB segments: appends by an idempotent producer, a
    /// closed stream with a sliding TTL, a deleted one, and a deleted source kept for
    /// its fork. Returns the segment compaction may go up to.
    async fn fill(store: &FileStore) -> u32 {
        store.create(&key("log"), CreateStream::new("application/json")).await.unwrap();
        let text = CreateStream { expiry: Expiry::Ttl(3600), ..CreateStream::new("text/plain") };
        store.create(&key("text"), text).await.unwrap();
        store.create(&key("deleted"), CreateStream::new("text/plain")).await.unwrap();
        store.create(&key("source"), CreateStream::new("application/json")).await.unwrap();
        for seq in 0..60 {
            store.append(&key("log"), produced(seq)).await.unwrap();
            for path in ["text", "deleted"] {
                let line = Payload::frame("text/plain", format!("{path} line {seq:03}\n").as_bytes(), false);
                let append =
                    Append { content_type: Some("text/plain".into()), payload: Some(line), ..Append::json(&json!(0)) };
                store.append(&key(path), append).await.unwrap();
            }
            if seq < 10 {
                store.append(&key("source"), Append::json(&json!({ "source": seq }))).await.unwrap();
            }
        }
        let fork = ForkFrom { path: "source".into(), offset: None, sub_offset: 0 };
        store
            .create(&key("fork"), CreateStream { fork: Some(fork), ..CreateStream::new("application/json") })
            .await
            .unwrap();
        store.append(&key("fork"), Append::json(&json!({ "fork": 1 }))).await.unwrap();
        store.append(&key("text"), Append { close: true, payload: None, ..Append::json(&json!(0)) }).await.unwrap();
        store.delete(&key("deleted")).await.unwrap();
        store.delete(&key("source")).await.unwrap();
        // Everything above in closed segments, so compaction carries it all.
        store.create(&key("filler"), CreateStream::new("text/plain")).await.unwrap();
        let filler = Payload::frame("text/plain", &[b'f'; 5000], false);
        let append =
            Append { content_type: Some("text/plain".into()), payload: Some(filler), ..Append::json(&json!(0)) };
        store.append(&key("filler"), append).await.unwrap();
        let state = store.lock();
        assert!(state.segment >= 4, "the streams span several segments");
        state.segment - 1
    }

    fn copy_log(from: &Path, to: &Path, keep: impl Fn(&str) -> bool) {
        std::fs::create_dir_all(to.join("log")).unwrap();
        for entry in std::fs::read_dir(from.join("log")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if keep(&name) {
                std::fs::copy(from.join("log").join(&name), to.join("log").join(&name)).unwrap();
            }
        }
    }

    fn log_bytes(dir: &Path) -> u64 {
        std::fs::read_dir(dir.join("log")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
    }

    /// The log holds every user's data: nobody but the server's user may read it, in the
    /// segments written, the base a compaction writes, or the directories.
    #[tokio::test]
    async fn the_log_is_readable_by_its_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let store = open(&data);
        let base = fill(&store).await;
        store.compact(base).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&data), mode(&data.join("log"))), (0o700, 0o700));
        let mut files = vec![data.join("LOCK")];
        files.extend(std::fs::read_dir(data.join("log")).unwrap().map(|e| e.unwrap().path()));
        assert!(files.len() >= 3, "a base and the segments after it: {files:?}");
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[tokio::test]
    async fn compaction_keeps_what_is_alive_and_every_crash_point_recovers_it() {
        let live = tempfile::tempdir().unwrap();
        let store = open(live.path());
        let base = fill(&store).await;
        let expected = contents(&store).await;
        assert!(matches!(&expected[2], Err(e) if e == "stream not found"));
        let before = tempfile::tempdir().unwrap();
        copy_log(live.path(), before.path(), |_| true);

        store.compact(base).unwrap();
        assert_eq!(contents(&store).await, expected, "reads after compaction");
        let (was, is) = (log_bytes(before.path()), log_bytes(live.path()));
        println!("log bytes {was} -> {is}");
        assert!(was - is > 60 * "deleted line 000\n".len() as u64, "the deleted stream's space is back");
        let base_name = format!("{base:010}.seg");
        let after = tempfile::tempdir().unwrap();
        copy_log(live.path(), after.path(), |_| true);

        // Appends after compaction land after the base, and a restart reads both.
        store.append(&key("log"), produced(60)).await.unwrap();
        let appended = contents(&store).await;
        drop(store);
        let reopened = open(live.path());
        assert_eq!(contents(&reopened).await, appended);
        let text = reopened.lock().streams.values().find(|s| s.key.path == "text").map(|s| s.expiry);
        assert_eq!(text, Some(Expiry::Ttl(3600)));

        // Killed while writing the base: a partial `.tmp` beside the old segments.
        let unfinished = tempfile::tempdir().unwrap();
        copy_log(before.path(), unfinished.path(), |_| true);
        let partial = std::fs::read(after.path().join("log").join(&base_name)).unwrap();
        std::fs::write(log::unfinished_path(&unfinished.path().join("log"), base), &partial[..partial.len() / 2])
            .unwrap();
        assert_eq!(contents(&open(unfinished.path())).await, expected, "killed before the rename");
        assert!(!std::fs::read_dir(unfinished.path().join("log"))
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().ends_with(".tmp") }));

        // Killed after the rename, before the segments it replaced were removed.
        let installed = tempfile::tempdir().unwrap();
        copy_log(before.path(), installed.path(), |name| name != base_name);
        copy_log(after.path(), installed.path(), |name| name == base_name);
        assert_eq!(contents(&open(installed.path())).await, expected, "killed before the old segments went");
        assert_eq!(log::segments(&installed.path().join("log")).unwrap()[0], base);

        let compacted = open(after.path());
        assert_eq!(contents(&compacted).await, expected, "a clean restart after compaction");
        let retried = compacted.append(&key("log"), produced(59)).await.unwrap();
        assert!(matches!(retried, Appended::Duplicate { .. }), "the producer's state survived compaction");
    }
}
