//! The read path: a stream's data, following forks to their sources, up to a size
//! limit; reading renews a sliding TTL.

use bytes::Bytes;
use chrono::Utc;
use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::store::payload::is_json;
use crate::store::{ReadBatch, ReadFrom, Slice, StoreError, StreamKey};

impl PgStore {
    pub(super) async fn read_uncached(
        &self,
        key: &StreamKey,
        from: ReadFrom,
        limit: usize,
    ) -> Result<ReadBatch, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = self.locate(&mut tx, key).await;
        let row = match row? {
            Ok(row) => row,
            Err(e) => {
                tx.commit().await?;
                return Err(e);
            }
        };
        if row.ttl_seconds.is_some() {
            sqlx::query("UPDATE streams.streams SET last_access = $2 WHERE id = $1")
                .bind(row.id)
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
        }
        let info = row.info();
        let pos = from.position(info.tail)?;
        let json = is_json(&row.content_type);
        if json && !is_boundary(&mut tx, row.id, pos).await? {
            return Err(StoreError::OffsetNotBoundary(pos));
        }
        let slices = collect(&mut tx, row.id, pos, info.tail, limit as u64, json).await?;
        tx.commit().await?;
        let next = slices.last().map_or(pos, |s| s.start + s.data.len() as u64);
        Ok(ReadBatch { from: pos, next, slices, info })
    }
}

/// Whether `pos` starts or ends a stored run of stream `id` (or of its sources).
pub(super) async fn is_boundary(tx: &mut Transaction<'_, Postgres>, mut id: i64, pos: u64) -> Result<bool, StoreError> {
    loop {
        let (tail, source, offset): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT tail, fork_source, fork_offset FROM streams.streams WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
        let own = offset.unwrap_or(0) as u64;
        if pos == own || pos == tail as u64 {
            return Ok(true);
        }
        match source {
            Some(source) if pos < own => id = source,
            _ => {
                let found: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM streams.runs WHERE stream_id = $1 AND start_pos = $2")
                        .bind(id)
                        .bind(pos as i64)
                        .fetch_optional(&mut **tx)
                        .await?;
                return Ok(found.is_some());
            }
        }
    }
}

/// The stored run containing `pos` of stream `id` (following forks), from `pos` on.
pub(super) async fn run_at(
    tx: &mut Transaction<'_, Postgres>,
    mut id: i64,
    pos: u64,
) -> Result<Option<Slice>, StoreError> {
    let mut limit = u64::MAX;
    loop {
        let (source, offset): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT fork_source, fork_offset FROM streams.streams WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
        let own = offset.unwrap_or(0) as u64;
        if let Some(source) = source.filter(|_| pos < own) {
            id = source;
            limit = limit.min(own);
            continue;
        }
        let run: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT start_pos, data FROM streams.runs WHERE stream_id = $1 AND start_pos <= $2 ORDER BY start_pos DESC LIMIT 1",
        )
        .bind(id)
        .bind(pos as i64)
        .fetch_optional(&mut **tx)
        .await?;
        return Ok(run.and_then(|(start, data)| {
            let start = start as u64;
            let end = (start + data.len() as u64).min(limit);
            (end > pos).then(|| Slice {
                start: pos,
                data: Bytes::from(data).slice((pos - start) as usize..(end - start) as usize),
            })
        }));
    }
}

/// `[from, to)` of stream `id`, following forks, up to about `budget` bytes (JSON
/// runs are never cut).
async fn collect(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    from: u64,
    to: u64,
    mut budget: u64,
    json: bool,
) -> Result<Vec<Slice>, StoreError> {
    // The chain of (stream, own range) from the oldest source to `id`.
    let mut ranges = Vec::new();
    let (mut current, mut hi) = (id, to);
    loop {
        let (source, offset): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT fork_source, fork_offset FROM streams.streams WHERE id = $1")
                .bind(current)
                .fetch_one(&mut **tx)
                .await?;
        let own = offset.unwrap_or(0) as u64;
        ranges.push((current, own.max(from), hi));
        match source {
            Some(source) if from < own => {
                current = source;
                hi = own;
            }
            _ => break,
        }
    }
    let mut slices = Vec::new();
    for (stream, lo, hi) in ranges.into_iter().rev() {
        if lo >= hi {
            continue;
        }
        // Only the runs within the budget bring their data (the run holding `lo`
        // always does): the others come as NULL, without being read, and end the read.
        let rows: Vec<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT start_pos, CASE WHEN before < $5 OR start_pos <= $2 THEN data END FROM ( \
             SELECT start_pos, data, sum(octet_length(data)) OVER (ORDER BY start_pos) - octet_length(data) AS before \
             FROM streams.runs WHERE stream_id = $1 AND start_pos < $3 AND start_pos >= \
             COALESCE((SELECT max(start_pos) FROM streams.runs WHERE stream_id = $1 AND start_pos <= $2), 0) \
             ORDER BY start_pos LIMIT $4) runs ORDER BY start_pos",
        )
        .bind(stream)
        .bind(lo as i64)
        .bind(hi as i64)
        .bind(10_000_i64)
        .bind(budget.min(i64::MAX as u64) as i64)
        .fetch_all(&mut **tx)
        .await?;
        for (start, data) in rows {
            let Some(data) = data.filter(|_| budget > 0 || slices.is_empty()) else {
                return Ok(slices);
            };
            let start = start as u64;
            let end = start + data.len() as u64;
            let lo = lo.max(start);
            let mut end = end.min(hi);
            if lo >= end {
                continue;
            }
            if !json {
                end = end.min(lo + budget.max(1));
            }
            budget = budget.saturating_sub(end - lo);
            slices.push(Slice {
                start: lo,
                data: Bytes::from(data).slice((lo - start) as usize..(end - start) as usize),
            });
        }
    }
    Ok(slices)
}
