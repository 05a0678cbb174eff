//! The read path: a stream's data, following forks to their sources, up to a size
//! limit; reading renews a sliding TTL.
//!
//! A read takes neither a lock nor a transaction: stored runs never change, and the
//! stream's row, read first, bounds what is read after it. Each statement is a round
//! trip, and at catch-up rates the round trips, not the rows, were the cost.
//!
//! A stored row holds one or more appends of one stream (`bounds`: where each after
//! the first starts); reads give them out one by one, as they were appended.

use bytes::Bytes;
use chrono::Utc;
use sqlx::PgConnection;

use super::cache::RunCache;
use super::{PgStore, Row, COLUMNS};
use crate::store::payload::is_json;
use crate::store::{ReadBatch, ReadFrom, Slice, StoreError, StreamInfo, StreamKey};

impl PgStore {
    pub(super) async fn read_uncached(
        &self,
        key: &StreamKey,
        from: ReadFrom,
        limit: usize,
    ) -> Result<ReadBatch, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM streams.streams WHERE owner = $1 AND path = $2");
        let row: Option<Row> = sqlx::query_as(&sql).bind(&key.owner).bind(&key.path).fetch_optional(&self.pool).await?;
        let row = match row {
            None => return Err(StoreError::NotFound),
            Some(row) if row.soft_deleted => return Err(StoreError::Gone),
            Some(row) if !row.expired() => row,
            // Removed as a write removes it; it may have been created again meanwhile.
            Some(_) => self.in_tx(async |tx| self.locate(tx, key).await).await?,
        };
        let mut conn = self.pool.acquire().await?;
        if row.ttl_seconds.is_some() {
            sqlx::query("UPDATE streams.streams SET last_access = $2 WHERE id = $1")
                .bind(row.id)
                .bind(Utc::now())
                .execute(&mut *conn)
                .await?;
        }
        let info = row.info();
        let pos = from.position(info.tail)?;
        let json = is_json(&row.content_type);
        // A JSON read must start where an append does; `collect` checks on its way.
        let check = json && pos != row.own_start() && pos != info.tail;
        let slices = collect(&mut conn, &row, pos, limit as u64, json, check, &self.runs).await?;
        Ok(ReadBatch::new(pos, slices, info))
    }

    /// A live read answered from what this process keeps, when that holds everything up
    /// to the stream's latest notified tail: no round trip, and a reader woken by the
    /// notification is not put to sleep again waiting for one. `None`: ask the database.
    pub(super) fn recall(&self, key: &StreamKey, pos: u64, limit: usize) -> Option<ReadBatch> {
        let info = self.memo.known(key, self.notifier.epoch())?;
        let version = self.notifier.latest(info.id)?;
        if version.gone || pos > version.tail {
            return None;
        }
        let info = StreamInfo { tail: version.tail, closed: version.closed, ..info };
        let json = is_json(&info.content_type);
        let mut slices = Vec::new();
        if pos < info.tail {
            let appends = self.runs.get(info.id as i64, pos, info.tail);
            let whole = appends.last().is_some_and(|a| a.end() >= info.tail);
            if !whole || (json && appends[0].start != pos) {
                return None;
            }
            take(appends, (pos, info.tail), &mut (limit as u64), json, &mut slices);
        }
        Some(ReadBatch::new(pos, slices, info))
    }
}

/// A row of `streams.runs` as a read takes it: where it starts, its bytes and where its
/// appends after the first start.
type RunRow = (i64, Vec<u8>, Option<Vec<i32>>);

/// The stream `id` was forked from, if any, and where its own appends start.
async fn fork_of(conn: &mut PgConnection, id: i64) -> Result<(Option<i64>, u64), StoreError> {
    let (source, offset): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT fork_source, fork_offset FROM streams.streams WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    Ok((source, offset.unwrap_or(0) as u64))
}

/// Whether `pos` starts or ends an append to stream `id` (or to its sources).
pub(super) async fn is_boundary(conn: &mut PgConnection, mut id: i64, pos: u64) -> Result<bool, StoreError> {
    loop {
        let (tail, source, offset): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT tail, fork_source, fork_offset FROM streams.streams WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        let own = offset.unwrap_or(0) as u64;
        if pos == own || pos == tail as u64 {
            return Ok(true);
        }
        match source {
            Some(source) if pos < own => id = source,
            _ => {
                let row: Option<(i64, Option<Vec<i32>>)> = sqlx::query_as(
                    "SELECT start_pos, bounds FROM streams.runs WHERE stream_id = $1 AND start_pos <= $2 \
                     ORDER BY start_pos DESC LIMIT 1",
                )
                .bind(id)
                .bind(pos as i64)
                .fetch_optional(&mut *conn)
                .await?;
                return Ok(row.is_some_and(|(start, bounds)| {
                    let at = pos - start as u64;
                    at == 0 || bounds.unwrap_or_default().iter().any(|&b| b as u64 == at)
                }));
            }
        }
    }
}

/// The append containing `pos` of stream `id` (following forks), from `pos` on.
pub(super) async fn run_at(conn: &mut PgConnection, mut id: i64, pos: u64) -> Result<Option<Slice>, StoreError> {
    let mut limit = u64::MAX;
    loop {
        let (source, own) = fork_of(conn, id).await?;
        if let Some(source) = source.filter(|_| pos < own) {
            id = source;
            limit = limit.min(own);
            continue;
        }
        let row: Option<RunRow> = sqlx::query_as(
            "SELECT start_pos, data, bounds FROM streams.runs WHERE stream_id = $1 AND start_pos <= $2 \
             ORDER BY start_pos DESC LIMIT 1",
        )
        .bind(id)
        .bind(pos as i64)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((start, data, bounds)) = row else { return Ok(None) };
        let append = appends(start as u64, data.into(), bounds).into_iter().find(|a| a.end() > pos);
        return Ok(append.and_then(|a| {
            let end = a.end().min(limit);
            (end > pos)
                .then(|| Slice { start: pos, data: a.data.slice((pos - a.start) as usize..(end - a.start) as usize) })
        }));
    }
}

/// A stored row's appends, each with where it starts.
fn appends(start: u64, data: Bytes, bounds: Option<Vec<i32>>) -> Vec<Slice> {
    let mut cuts = vec![0];
    cuts.extend(bounds.unwrap_or_default().into_iter().map(|b| b as usize));
    cuts.push(data.len());
    cuts.windows(2).map(|w| Slice { start: start + w[0] as u64, data: data.slice(w[0]..w[1]) }).collect()
}

/// From `from` to the tail of `row`'s stream, following forks, up to about `budget`
/// bytes (JSON appends are never cut). With `check`, `from` must start an append.
async fn collect(
    conn: &mut PgConnection,
    row: &Row,
    from: u64,
    mut budget: u64,
    json: bool,
    mut check: bool,
    cache: &RunCache,
) -> Result<Vec<Slice>, StoreError> {
    // The chain of (stream, own range) from `row`'s stream to the oldest source read;
    // the oldest range starts at `from`.
    let mut ranges = vec![(row.id, row.own_start().max(from), row.tail as u64)];
    let (mut source, mut own) = (row.fork_source, row.own_start());
    while let Some(id) = source.filter(|_| from < own) {
        let (next, source_own) = fork_of(conn, id).await?;
        ranges.push((id, source_own.max(from), own));
        (source, own) = (next, source_own);
    }
    let mut slices = Vec::new();
    for (stream, lo, hi) in ranges.into_iter().rev() {
        if lo >= hi {
            continue;
        }
        let mut appends = cache.get(stream, lo, hi);
        // What the budget allows: the appends starting before `lo + budget`.
        let wanted = hi.min(lo.saturating_add(budget.max(1))).min(i64::MAX as u64);
        let fetch_from = appends.last().map_or(lo, Slice::end);
        if fetch_from < wanted {
            let fetched = fetch(conn, stream, fetch_from, wanted).await?;
            cache.put(stream, &fetched);
            appends.extend(fetched.into_iter().filter(|a| a.end() > fetch_from));
        }
        if std::mem::take(&mut check) && appends.first().is_none_or(|a| a.start != lo) {
            return Err(StoreError::OffsetNotBoundary(lo));
        }
        if take(appends, (lo, hi), &mut budget, json, &mut slices) {
            return Ok(slices);
        }
    }
    Ok(slices)
}

/// Adds what `appends` (in order, the first holding `lo`) hold of `lo..hi` to `slices`,
/// up to about `budget` bytes (JSON appends are never cut). True when the read ends
/// here: the budget ran out, or the appends stop short of `hi` (the row cap).
fn take(appends: Vec<Slice>, (lo, hi): (u64, u64), budget: &mut u64, json: bool, slices: &mut Vec<Slice>) -> bool {
    let end_of_appends = appends.last().map_or(lo, Slice::end);
    for append in appends {
        if *budget == 0 && !slices.is_empty() {
            return true;
        }
        let start = append.start;
        let lo = lo.max(start);
        let mut end = append.end().min(hi);
        if lo >= end {
            continue;
        }
        if !json {
            end = end.min(lo + (*budget).max(1));
        }
        *budget = budget.saturating_sub(end - lo);
        slices.push(Slice { start: lo, data: append.data.slice((lo - start) as usize..(end - start) as usize) });
    }
    end_of_appends < hi
}

/// The appends of stream `id` in the rows from the one holding `from` to those starting
/// before `until`.
async fn fetch(conn: &mut PgConnection, id: i64, from: u64, until: u64) -> Result<Vec<Slice>, StoreError> {
    let rows: Vec<RunRow> = sqlx::query_as(
        "SELECT start_pos, data, bounds FROM streams.runs WHERE stream_id = $1 AND start_pos < $3 AND \
         start_pos >= COALESCE((SELECT max(start_pos) FROM streams.runs WHERE stream_id = $1 AND start_pos <= $2), 0) \
         ORDER BY start_pos LIMIT $4",
    )
    .bind(id)
    .bind(from as i64)
    .bind(until as i64)
    .bind(ROWS_PER_READ)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().flat_map(|(start, data, bounds)| appends(start as u64, data.into(), bounds)).collect())
}

/// Rows read at most by one read; the byte budget usually ends it first.
const ROWS_PER_READ: i64 = 10_000;
