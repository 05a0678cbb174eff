//! The read path: what a read returns is decided under the store's lock, as pieces of
//! cached memory or places in the log; the bytes on disk are fetched after.

use std::os::unix::fs::FileExt;

use bytes::Bytes;

use super::index::{Piece, PieceSource, Pieces, State};
use super::FileStore;
use crate::store::{Joined, ReadBatch, ReadFrom, Slice, StoreError, StreamKey};

impl FileStore {
    /// Up to about `limit` bytes from `from`: decided under the lock, fetched outside it
    /// (on a blocking thread when any of it is on disk).
    pub(super) async fn read_batch(
        &self,
        key: &StreamKey,
        from: ReadFrom,
        limit: usize,
    ) -> Result<ReadBatch, StoreError> {
        let (info, json, from, pieces) = {
            let mut state = self.lock();
            let id = self.find(&mut state, key)?;
            self.touch(&mut state, id)?;
            let info = state.streams[&id].info(id);
            let json = state.streams[&id].json;
            let pos = from.position(info.tail)?;
            if json && !state.is_boundary(id, pos) {
                return Err(StoreError::OffsetNotBoundary(pos));
            }
            if let Some(joined) = state.join_cached(id, (pos, info.tail), limit as u64) {
                drop(state);
                return Ok(ReadBatch::joined(pos, joined, info));
            }
            let mut pieces = Pieces::default();
            state.collect(id, (pos, info.tail), &mut (limit as u64), &self.0.shared.files, &mut pieces)?;
            (info, json, pos, pieces)
        };
        if pieces.list.iter().all(|p| matches!(p.source, PieceSource::Memory(_))) {
            return Ok(ReadBatch::new(from, self.slices(&pieces)?, info));
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || match store.joined(&pieces, json)? {
            Some(joined) => Ok(ReadBatch::joined(from, joined, info)),
            None => Ok(ReadBatch::new(from, store.slices(&pieces)?, info)),
        })
        .await
        .expect("reads do not panic")
    }

    /// When the pieces lie in one stretch of one file, in order (a catch-up of appends
    /// written one after another), reads the stretch and moves each piece down the same
    /// buffer to follow the one before, with the brackets and commas of a JSON array;
    /// pieces the cache holds (the stream's latest) are copied in after them: the read's
    /// body, made with one buffer and one copy from the kernel. Rendering pieces read
    /// apart would take a second buffer as large, and the page faults of fresh memory
    /// made a first read three times slower than the next ones.
    fn joined(&self, pieces: &Pieces, json: bool) -> Result<Option<Joined>, StoreError> {
        let on_disk = pieces.list.iter().take_while(|p| matches!(p.source, PieceSource::Disk { .. })).count();
        let (disk, cached) = pieces.list.split_at(on_disk);
        let Some(&PieceSource::Disk { file, at: first, .. }) = disk.first().map(|p| &p.source) else {
            return Ok(None);
        };
        let mut end = first;
        for piece in disk {
            // A comma needs a byte between pieces for the move to stay behind the bytes
            // not yet moved (frame headers always leave more).
            let room = u64::from(json && end > first);
            match piece.source.near_after(file, end + room) {
                Some(piece_end) => end = piece_end,
                None => return Ok(None),
            }
        }
        let mut from_cache = 0;
        for piece in cached {
            let PieceSource::Memory(ref data) = piece.source else { return Ok(None) };
            from_cache += data.len() + 1;
        }
        let stretch = (end - first) as usize;
        // The stretch goes one byte in, leaving room for the opening bracket.
        let mut buf = vec![0; stretch + from_cache + 2];
        pieces.file(file).read_exact_at(&mut buf[1..=stretch], first)?;
        let mut written = usize::from(json);
        let mut ends = Vec::with_capacity(pieces.list.len());
        for (i, piece) in pieces.list.iter().enumerate() {
            if json && i > 0 {
                buf[written] = b',';
                written += 1;
            }
            written += match piece.source {
                PieceSource::Disk { at, len, .. } => {
                    let from = 1 + (at - first) as usize;
                    buf.copy_within(from..from + len as usize, written);
                    len as usize
                }
                PieceSource::Memory(ref data) => {
                    buf[written..written + data.len()].copy_from_slice(data);
                    data.len()
                }
            };
            ends.push(written);
        }
        if json {
            buf[0] = b'[';
            buf[written] = b']';
            written += 1;
        }
        buf.truncate(written);
        let next = pieces.list.last().map_or(0, |p| p.start + p.source.len());
        Ok(Some(Joined { body: buf.into(), ends, json, next }))
    }

    /// The stored run at `pos` of stream `id` (following forks), read now: used only to
    /// resolve a fork's sub-offset, so the blocking read under the lock stays rare.
    pub(super) fn run_at(&self, state: &State, id: u64, pos: u64) -> Result<Option<Slice>, StoreError> {
        let mut pieces = Pieces::default();
        let Some(piece) = state.run_at(id, pos, u64::MAX, &self.0.shared.files, &mut pieces)? else {
            return Ok(None);
        };
        let data = fetch(&pieces, &piece.source)?;
        Ok(Some(Slice { start: piece.start, data }))
    }

    /// The pieces' bytes. Neighbouring pieces of one log file are fetched with one read
    /// and cut apart: each append is a frame of its own, so a catch-up over small
    /// messages would otherwise make a system call per message.
    pub(super) fn slices(&self, pieces: &Pieces) -> Result<Vec<Slice>, StoreError> {
        let mut slices = Vec::with_capacity(pieces.list.len());
        let mut extent: Option<Extent> = None;
        for (i, piece) in pieces.list.iter().enumerate() {
            let data = match piece.source {
                PieceSource::Memory(ref bytes) => bytes.clone(),
                PieceSource::Disk { file, at, len } => {
                    if !extent.as_ref().is_some_and(|e| e.holds(file, at, len)) {
                        extent = Some(Extent::read(pieces, &pieces.list[i..])?);
                    }
                    extent.as_ref().expect("read above").slice(at, len)
                }
            };
            slices.push(Slice { start: piece.start, data });
        }
        Ok(slices)
    }
}

/// A piece's bytes.
fn fetch(pieces: &Pieces, source: &PieceSource) -> Result<Bytes, StoreError> {
    let (file, at, len) = match *source {
        PieceSource::Memory(ref bytes) => return Ok(bytes.clone()),
        PieceSource::Disk { file, at, len } => (file, at, len),
    };
    let mut buf = vec![0; len as usize];
    pieces.file(file).read_exact_at(&mut buf, at)?;
    Ok(buf.into())
}

/// Pieces of one file at most this far apart are read together: what lies between
/// them (frame headers, other streams' small appends) costs less to read than a
/// system call.
const GAP: u64 = 4 << 10;

impl PieceSource {
    fn len(&self) -> u64 {
        match self {
            PieceSource::Memory(bytes) => bytes.len() as u64,
            PieceSource::Disk { len, .. } => *len,
        }
    }

    /// Where this piece ends, if it lies in `file` from `end` on and at most `GAP`
    /// after it: close enough to be read with what comes before.
    fn near_after(&self, file: usize, end: u64) -> Option<u64> {
        match *self {
            PieceSource::Disk { file: f, at, len } if f == file && at >= end && at - end <= GAP => Some(at + len),
            _ => None,
        }
    }
}

/// Bytes read from a log file, from `at` on.
struct Extent {
    file: usize,
    at: u64,
    data: Bytes,
}

impl Extent {
    /// The first of `list` (on disk) with those right after it that lie near it in the
    /// same file.
    fn read(pieces: &Pieces, list: &[Piece]) -> Result<Extent, StoreError> {
        let PieceSource::Disk { file, at, len } = list[0].source else { unreachable!("a piece on disk") };
        let mut end = at + len;
        for piece in &list[1..] {
            match piece.source.near_after(file, end) {
                Some(piece_end) => end = piece_end,
                None => break,
            }
        }
        let data = fetch(pieces, &PieceSource::Disk { file, at, len: end - at })?;
        Ok(Extent { file, at, data })
    }

    fn holds(&self, file: usize, at: u64, len: u64) -> bool {
        file == self.file && at >= self.at && at + len <= self.at + self.data.len() as u64
    }

    fn slice(&self, at: u64, len: u64) -> Bytes {
        let from = (at - self.at) as usize;
        self.data.slice(from..from + len as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::payload::Payload;
    use crate::store::{Append, CreateStream, Quota, Store};

    async fn append(store: &FileStore, key: &StreamKey, content_type: &str, body: &str) {
        let payload = Some(Payload::frame(content_type, body.as_bytes(), false));
        let append =
            Append { content_type: Some(content_type.into()), payload, close: false, stream_seq: None, producer: None };
        store.append(key, append).await.unwrap();
    }

    /// Reads from disk and from the cache are answered with the body joined on the way,
    /// each its own way; body and slices must be the same, wherever it starts and however
    /// little it may take, with another stream's appends lying in between.
    #[tokio::test]
    async fn a_read_joined_from_disk_is_the_read_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open_blocking(dir.path(), Quota { streams: 9, bytes: 1 << 20 }, 1 << 20).unwrap();
        let (json, text) = (StreamKey::new("owner", "json"), StreamKey::new("owner", "text"));
        store.create(&json, CreateStream::new("application/json")).await.unwrap();
        store.create(&text, CreateStream::new("text/plain")).await.unwrap();
        for n in 0..20 {
            append(&store, &json, "application/json", &format!(r#"[{{"n":{n}}}, "second {n}"]"#)).await;
            append(&store, &text, "text/plain", &format!("line {n}\n")).await;
        }
        let mut expected = Vec::new();
        for (key, is_json) in [(&json, true), (&text, false)] {
            let tail = store.head(key).await.unwrap().tail;
            let read: Vec<_> = store.read(key, ReadFrom::Start, 1 << 20).await.unwrap().slices().collect();
            for (from, limit) in [(0, 1 << 20), (read[7].start, 1 << 20), (read[3].start, 40), (tail, 1 << 20)] {
                let in_memory = store.read(key, ReadFrom::At(from), limit).await.unwrap();
                assert_eq!(in_memory.body().is_some(), from < tail, "joined from the cache, from {from}");
                expected.push((key, is_json, from, limit, tail, in_memory));
            }
        }
        store.lock().streams.values_mut().for_each(|s| {
            s.drop_cache();
        });
        let slices = |b: &ReadBatch| b.slices().map(|s| (s.start, s.data)).collect::<Vec<_>>();
        for (key, is_json, from, limit, tail, in_memory) in expected {
            let from_disk = store.read(key, ReadFrom::At(from), limit).await.unwrap();
            assert_eq!(from_disk.body().is_some(), from < tail, "read from {from}");
            assert_eq!(from_disk.render(is_json), in_memory.render(is_json), "read from {from}, limit {limit}");
            assert_eq!(slices(&from_disk), slices(&in_memory));
            assert_eq!(from_disk.next, in_memory.next);
        }
        // Appends after the caches were dropped are cached again: the read takes the
        // older runs from disk and the newer from memory, into one body.
        for n in 20..23 {
            append(&store, &json, "application/json", &format!(r#"{{"n":{n}}}"#)).await;
            append(&store, &text, "text/plain", &format!("line {n}\n")).await;
        }
        for (key, is_json) in [(&json, true), (&text, false)] {
            let read = store.read(key, ReadFrom::Start, 1 << 20).await.unwrap();
            assert!(read.body().is_some(), "joined from disk and memory");
            let apart = ReadBatch::new(0, read.slices().collect(), read.info.clone());
            assert_eq!(read.render(is_json), apart.render(is_json));
            assert_eq!(read.next, apart.next);
        }
        let whole = store.read(&json, ReadFrom::Start, 1 << 20).await.unwrap();
        let messages: Vec<serde_json::Value> = serde_json::from_slice(&whole.render(true)).unwrap();
        assert_eq!(messages.len(), 43);
        assert_eq!(messages[39], "second 19");
        assert_eq!(messages[42], serde_json::json!({ "n": 22 }));
    }
}
