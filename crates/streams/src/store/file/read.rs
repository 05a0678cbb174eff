//! The read path: what a read returns is decided under the store's lock, as pieces of
//! cached memory or places in the log; the bytes on disk are fetched after.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use super::index::{Piece, PieceSource, State};
use super::FileStore;
use crate::store::{ReadBatch, ReadFrom, Slice, StoreError, StreamKey};

impl FileStore {
    /// Up to about `limit` bytes from `from`: decided under the lock, fetched outside it
    /// (on a blocking thread when any of it is on disk).
    pub(super) async fn read_batch(
        &self,
        key: &StreamKey,
        from: ReadFrom,
        limit: usize,
    ) -> Result<ReadBatch, StoreError> {
        let (info, from, pieces) = {
            let mut state = self.lock();
            let id = self.find(&mut state, key)?;
            self.touch(&mut state, id)?;
            let info = state.streams[&id].info(id);
            let pos = from.position(info.tail)?;
            if state.streams[&id].json && !state.is_boundary(id, pos) {
                return Err(StoreError::OffsetNotBoundary(pos));
            }
            let mut pieces = Vec::new();
            state.collect(id, (pos, info.tail), &mut (limit as u64), &mut self.0.shared.files.recent(), &mut pieces)?;
            (info, pos, pieces)
        };
        let slices = if pieces.iter().all(|p| matches!(p.source, PieceSource::Memory(_))) {
            self.slices(pieces)?
        } else {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.slices(pieces)).await.expect("reads do not panic")?
        };
        let next = slices.last().map_or(from, Slice::end);
        Ok(ReadBatch { from, next, slices, info })
    }

    /// The stored run at `pos` of stream `id` (following forks), read now: used only to
    /// resolve a fork's sub-offset, so the blocking read under the lock stays rare.
    pub(super) fn run_at(&self, state: &State, id: u64, pos: u64) -> Result<Option<Slice>, StoreError> {
        let Some(piece) = state.run_at(id, pos, u64::MAX, &mut self.0.shared.files.recent())? else { return Ok(None) };
        let data = self.fetch(piece.source)?;
        Ok(Some(Slice { start: piece.start, data }))
    }

    pub(super) fn fetch(&self, source: PieceSource) -> Result<Bytes, StoreError> {
        let (file, at, len) = match source {
            PieceSource::Memory(bytes) => return Ok(bytes),
            PieceSource::Disk { file, at, len } => (file, at, len),
        };
        let mut buf = vec![0; len as usize];
        file.read_exact_at(&mut buf, at)?;
        Ok(buf.into())
    }

    /// The pieces' bytes. Neighbouring pieces of one log file are fetched with one read
    /// and cut apart: each append is a frame of its own, so a catch-up over small
    /// messages would otherwise make a system call per message.
    pub(super) fn slices(&self, pieces: Vec<Piece>) -> Result<Vec<Slice>, StoreError> {
        let mut slices = Vec::with_capacity(pieces.len());
        let mut extent: Option<Extent> = None;
        for (i, piece) in pieces.iter().enumerate() {
            let data = match &piece.source {
                PieceSource::Memory(bytes) => bytes.clone(),
                PieceSource::Disk { file, at, len } => {
                    if !extent.as_ref().is_some_and(|e| e.holds(file, *at, *len)) {
                        extent = Some(self.extent(&pieces[i..])?);
                    }
                    extent.as_ref().expect("read above").slice(*at, *len)
                }
            };
            slices.push(Slice { start: piece.start, data });
        }
        Ok(slices)
    }

    /// Reads the first of `pieces` (on disk) with those right after it that lie near it
    /// in the same file.
    fn extent(&self, pieces: &[Piece]) -> Result<Extent, StoreError> {
        let PieceSource::Disk { file, at, len } = &pieces[0].source else { unreachable!("a piece on disk") };
        let (at, mut end) = (*at, at + len);
        for piece in &pieces[1..] {
            match &piece.source {
                PieceSource::Disk { file: f, at: a, len: l } if Arc::ptr_eq(f, file) && *a >= end && a - end <= GAP => {
                    end = a + l
                }
                _ => break,
            }
        }
        let data = self.fetch(PieceSource::Disk { file: file.clone(), at, len: end - at })?;
        Ok(Extent { file: file.clone(), at, data })
    }
}

/// Pieces of one file at most this far apart are read together: what lies between
/// them (frame headers, other streams' small appends) costs less to read than a
/// system call.
const GAP: u64 = 4 << 10;

/// Bytes read from a log file, from `at` on.
struct Extent {
    file: Arc<File>,
    at: u64,
    data: Bytes,
}

impl Extent {
    fn holds(&self, file: &Arc<File>, at: u64, len: u64) -> bool {
        Arc::ptr_eq(file, &self.file) && at >= self.at && at + len <= self.at + self.data.len() as u64
    }

    fn slice(&self, at: u64, len: u64) -> Bytes {
        let from = (at - self.at) as usize;
        self.data.slice(from..from + len as usize)
    }
}
