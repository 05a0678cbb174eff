//! The read path: what a read returns is decided under the store's lock, as pieces of
//! cached memory or places in the log; the bytes on disk are fetched after.

use std::os::unix::fs::FileExt;

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
            state.collect(id, (pos, info.tail), &mut (limit as u64), &self.0.shared.files, &mut pieces)?;
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

    /// The stored run at `pos` of stream `id` (following forks), read now: used only to
    /// resolve a fork's sub-offset, so the blocking read under the lock stays rare.
    pub(super) fn run_at(&self, state: &State, id: u64, pos: u64) -> Result<Option<Slice>, StoreError> {
        let Some(piece) = state.run_at(id, pos, u64::MAX, &self.0.shared.files)? else { return Ok(None) };
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

    pub(super) fn slices(&self, pieces: Vec<Piece>) -> Result<Vec<Slice>, StoreError> {
        pieces.into_iter().map(|p| Ok(Slice { start: p.start, data: self.fetch(p.source)? })).collect()
    }
}
