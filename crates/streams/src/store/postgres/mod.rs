//! The production store: tables in schema `streams`, so any number of server processes
//! on one database serve the same streams. Each change is one transaction that locks
//! the stream's row, so producer state, closure and data change together, and
//! announces itself with `NOTIFY streams_changed`; every process listens and wakes its
//! own long-polls and SSE subscribers.
//!
//! Live readers all wake on the same notification and ask for the same range: such
//! reads are answered once per process and shared ([`ReadMemo`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::notify::{Notifier, Version};
use super::payload::is_json;
use super::rules::{self, AppendPlan, AppendTarget, ExistingStream, ProducerState};
use super::{
    Append, Appended, ReadBatch, CreateError, CreateStream, Created, Expiry, ProducerTag, Quota, ReadFrom, Slice, Store,
    StoreError, StreamInfo, StreamKey, Watch,
};
use crate::limits::Limit;

const CHANNEL: &str = "streams_changed";

/// Streams kept in PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    notifier: Arc<Notifier>,
    memo: Arc<ReadMemo>,
    quota: Quota,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    content_type: String,
    ttl_seconds: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    tail: i64,
    closed: bool,
    closed_by_producer: Option<String>,
    closed_by_epoch: Option<i64>,
    closed_by_seq: Option<i64>,
    last_stream_seq: Option<String>,
    fork_path: Option<String>,
    fork_offset: Option<i64>,
    fork_sub_offset: Option<i64>,
    forks: i32,
    soft_deleted: bool,
    last_access: DateTime<Utc>,
}

const COLUMNS: &str = "id, content_type, ttl_seconds, expires_at, tail, closed, closed_by_producer, \
     closed_by_epoch, closed_by_seq, last_stream_seq, fork_path, fork_offset, fork_sub_offset, \
     forks, soft_deleted, last_access";

impl Row {
    fn expiry(&self) -> Expiry {
        match (self.ttl_seconds, self.expires_at) {
            (Some(ttl), _) => Expiry::Ttl(ttl as u64),
            (None, Some(at)) => Expiry::At(at),
            (None, None) => Expiry::Never,
        }
    }

    fn info(&self) -> StreamInfo {
        StreamInfo {
            id: self.id as u64,
            content_type: self.content_type.clone(),
            expiry: self.expiry(),
            tail: self.tail as u64,
            closed: self.closed,
        }
    }

    fn own_start(&self) -> u64 {
        self.fork_offset.unwrap_or(0) as u64
    }

    fn closed_by(&self) -> Option<ProducerTag> {
        Some(ProducerTag {
            id: self.closed_by_producer.clone()?,
            epoch: self.closed_by_epoch? as u64,
            seq: self.closed_by_seq? as u64,
        })
    }

    fn expired(&self) -> bool {
        rules::expired(self.expiry(), self.last_access, Utc::now())
    }
}

impl PgStore {
    /// Creates the `streams` schema if needed, recounts what each owner keeps, and
    /// starts listening for changes made by any process; the listener stops with
    /// `shutdown`. Each owner may keep what `quota` allows.
    pub async fn open(pool: PgPool, shutdown: CancellationToken, quota: Quota) -> Result<PgStore, sqlx::Error> {
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // auth-db keeps its own migrations in the same table.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        recount_owners(&pool).await?;
        let notifier = Arc::new(Notifier::default());
        tokio::spawn(listen(pool.clone(), notifier.clone(), shutdown));
        Ok(PgStore { pool, notifier, memo: Arc::new(ReadMemo::default()), quota })
    }

    /// The stream at `key`, locked for the rest of `tx`; expired streams are removed
    /// on the way (the caller must commit for that to stick).
    async fn locate(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        key: &StreamKey,
    ) -> Result<Result<Row, StoreError>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM streams.streams WHERE owner = $1 AND path = $2 FOR UPDATE");
        let Some(row) =
            sqlx::query_as::<_, Row>(&sql).bind(&key.owner).bind(&key.path).fetch_optional(&mut **tx).await?
        else {
            return Ok(Err(StoreError::NotFound));
        };
        if row.soft_deleted {
            return Ok(Err(StoreError::Gone));
        }
        if row.expired() {
            let soft = self.remove(tx, &row).await?;
            return Ok(Err(if soft { StoreError::Gone } else { StoreError::NotFound }));
        }
        Ok(Ok(row))
    }

    /// Deletes a stream: softly while forks use it, otherwise for good, releasing its
    /// source (which goes too if it was deleted and this was its last fork).
    async fn remove(&self, tx: &mut Transaction<'_, Postgres>, row: &Row) -> Result<bool, StoreError> {
        if row.forks > 0 {
            sqlx::query("UPDATE streams.streams SET soft_deleted = true WHERE id = $1")
                .bind(row.id)
                .execute(&mut **tx)
                .await?;
            notify(tx, row.id, Version { gone: true, ..Version::default() }).await?;
            return Ok(true);
        }
        let mut next = Some(row.id);
        while let Some(id) = next.take() {
            let deleted: Option<(Option<i64>, String, i64)> = sqlx::query_as(
                "DELETE FROM streams.streams WHERE id = $1 \
                 RETURNING fork_source, owner, tail - COALESCE(fork_offset, 0)",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
            notify(tx, id, Version { gone: true, ..Version::default() }).await?;
            let Some((source, owner, bytes)) = deleted else { continue };
            sqlx::query("UPDATE streams.owners SET streams = streams - 1, bytes = bytes - $2 WHERE owner = $1")
                .bind(&owner)
                .bind(bytes)
                .execute(&mut **tx)
                .await?;
            if let Some(source) = source {
                let released: (bool, i32) = sqlx::query_as(
                    "UPDATE streams.streams SET forks = forks - 1 WHERE id = $1 RETURNING soft_deleted, forks",
                )
                .bind(source)
                .fetch_one(&mut **tx)
                .await?;
                if released == (true, 0) {
                    next = Some(source);
                }
            }
        }
        Ok(false)
    }

    async fn create_tx(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        key: &StreamKey,
        request: &CreateStream,
    ) -> Result<Result<Created, StoreError>, StoreError> {
        match self.locate(tx, key).await? {
            Ok(row) => return Ok(self.existing(tx, key, &row, request).await),
            Err(StoreError::Gone) => return Ok(Err(CreateError::PathInUse.into())),
            Err(_) => {}
        }
        let now = Utc::now();
        let (content_type, expiry, fork, prefix) = match &request.fork {
            Some(fork) => {
                let source_key = StreamKey::new(key.owner.clone(), fork.path.clone());
                let source = match self.locate(tx, &source_key).await? {
                    Ok(row) => row,
                    Err(StoreError::Gone) => return Ok(Err(CreateError::SourceDeleted.into())),
                    Err(e) => return Ok(Err(e)),
                };
                let content_type =
                    match rules::create_content_type(request.content_type.as_deref(), Some(&source.content_type)) {
                        Ok(t) => t,
                        Err(e) => return Ok(Err(e.into())),
                    };
                let offset = fork.offset.unwrap_or(source.tail as u64);
                if offset > source.tail as u64 {
                    return Ok(Err(CreateError::ForkOffsetPastTail(offset).into()));
                }
                if is_json(&source.content_type) && !is_boundary(tx, source.id, offset).await? {
                    return Ok(Err(CreateError::ForkOffsetNotBoundary(offset).into()));
                }
                let next = match fork.sub_offset {
                    0 => None,
                    _ => run_at(tx, source.id, offset).await?,
                };
                let prefix = match rules::sub_offset_prefix(&source.content_type, next.as_ref(), fork.sub_offset) {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(e.into())),
                };
                sqlx::query("UPDATE streams.streams SET forks = forks + 1 WHERE id = $1")
                    .bind(source.id)
                    .execute(&mut **tx)
                    .await?;
                let expiry = rules::fork_expiry(request.expiry, source.expiry());
                (content_type, expiry, Some((source.id, fork, offset)), prefix)
            }
            None => match rules::create_content_type(request.content_type.as_deref(), None) {
                Ok(t) => (t, request.expiry, None, None),
                Err(e) => return Ok(Err(e.into())),
            },
        };
        let body = match rules::initial_data(&content_type, &request.body) {
            Ok(body) => body,
            Err(e) => return Ok(Err(e.into())),
        };
        let runs: Vec<Bytes> = prefix.map(|p| p.data).into_iter().chain(body).collect();
        let start = fork.as_ref().map_or(0, |(_, _, offset)| *offset);
        let tail = start + runs.iter().map(|r| r.len() as u64).sum::<u64>();
        let (ttl, expires_at) = match expiry {
            Expiry::Never => (None, None),
            Expiry::Ttl(s) => (Some(s as i64), None),
            Expiry::At(at) => (None, Some(at)),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO streams.streams (owner, path, content_type, ttl_seconds, expires_at, tail, closed, \
             fork_source, fork_path, fork_offset, fork_sub_offset, last_access) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(&key.owner)
        .bind(&key.path)
        .bind(&content_type)
        .bind(ttl)
        .bind(expires_at)
        .bind(tail as i64)
        .bind(request.closed)
        .bind(fork.as_ref().map(|(source, _, _)| *source))
        .bind(fork.as_ref().map(|(_, f, _)| f.path.clone()))
        .bind(fork.as_ref().map(|(_, _, offset)| *offset as i64))
        .bind(fork.as_ref().map(|(_, f, _)| f.sub_offset as i64))
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        let (streams, bytes): (i64, i64) = sqlx::query_as(
            "INSERT INTO streams.owners AS o (owner, streams, bytes) VALUES ($1, 1, $2) \
             ON CONFLICT (owner) DO UPDATE SET streams = o.streams + 1, bytes = o.bytes + $2 \
             RETURNING streams, bytes",
        )
        .bind(&key.owner)
        .bind((tail - start) as i64)
        .fetch_one(&mut **tx)
        .await?;
        // Refused by rolling back, after the stream's row is written: see `recount_owners`.
        if streams as u64 > self.quota.streams {
            return Err(StoreError::Quota(Limit::Streams));
        }
        if bytes as u64 > self.quota.bytes {
            return Err(StoreError::Quota(Limit::Bytes));
        }
        let mut pos = start;
        for run in &runs {
            insert_run(tx, id, pos, run).await?;
            pos += run.len() as u64;
        }
        let info = StreamInfo { id: id as u64, content_type, expiry, tail, closed: request.closed };
        Ok(Ok(Created { info, new: true }))
    }

    /// An idempotent `PUT` on an existing stream: the same stream, or a conflict.
    async fn existing(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        key: &StreamKey,
        row: &Row,
        request: &CreateStream,
    ) -> Result<Created, StoreError> {
        let source: Option<(String, Option<i64>, Option<DateTime<Utc>>)> =
            match &request.fork {
                Some(f) => sqlx::query_as(
                    "SELECT content_type, ttl_seconds, expires_at FROM streams.streams WHERE owner = $1 AND path = $2",
                )
                .bind(&key.owner)
                .bind(&f.path)
                .fetch_optional(&mut **tx)
                .await?,
                None => None,
            };
        let requested_type = match (&request.content_type, &source) {
            (Some(t), _) => t.clone(),
            (None, Some((t, _, _))) => t.clone(),
            (None, None) => "application/octet-stream".to_owned(),
        };
        let requested_expiry = match &source {
            Some((_, ttl, at)) => {
                let source_expiry = match (ttl, at) {
                    (Some(ttl), _) => Expiry::Ttl(*ttl as u64),
                    (None, Some(at)) => Expiry::At(*at),
                    (None, None) => Expiry::Never,
                };
                rules::fork_expiry(request.expiry, source_expiry)
            }
            None => request.expiry,
        };
        let existing = ExistingStream {
            content_type: &row.content_type,
            expiry: row.expiry(),
            closed: row.closed,
            fork: row.fork_path.as_deref().map(|p| (p, row.own_start(), row.fork_sub_offset.unwrap_or(0) as u64)),
        };
        if !rules::same_config(&existing, request, &requested_type, requested_expiry) {
            return Err(CreateError::ConfigMismatch.into());
        }
        Ok(Created { info: row.info(), new: false })
    }

    async fn append_tx(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        key: &StreamKey,
        request: &Append,
    ) -> Result<Result<Appended, StoreError>, StoreError> {
        let row = match self.locate(tx, key).await? {
            Ok(row) => row,
            Err(e) => return Ok(Err(e)),
        };
        let producer = match &request.producer {
            Some(p) => sqlx::query_as::<_, (i64, i64)>(
                "SELECT epoch, last_seq FROM streams.producers WHERE stream_id = $1 AND producer_id = $2",
            )
            .bind(row.id)
            .bind(&p.id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|(epoch, last_seq)| ProducerState { epoch: epoch as u64, last_seq: last_seq as u64 }),
            None => None,
        };
        let closed_by = row.closed_by();
        let target = AppendTarget {
            content_type: &row.content_type,
            closed: row.closed,
            closed_by: closed_by.as_ref(),
            last_stream_seq: row.last_stream_seq.as_deref(),
        };
        let echo = |p: Option<ProducerState>| p.map(|p| (p.epoch, p.last_seq));
        let plan = match rules::plan_append(&target, producer, request) {
            Ok(plan) => plan,
            Err(rules::AppendError::Closed { .. }) => {
                return Ok(Err(rules::AppendError::Closed { tail: row.tail as u64 }.into()));
            }
            Err(e) => return Ok(Err(e.into())),
        };
        let (payload, close, producer) = match plan {
            AppendPlan::Duplicate { producer } => {
                return Ok(Ok(Appended::Duplicate {
                    tail: row.tail as u64,
                    closed: row.closed,
                    producer: echo(producer),
                }));
            }
            AppendPlan::Write { payload, close, producer } => (payload, close, producer),
        };
        let mut tail = row.tail as u64;
        if let Some(payload) = payload.filter(|p| !p.data.is_empty()) {
            insert_run(tx, row.id, tail, &payload.data).await?;
            tail += payload.data.len() as u64;
        }
        let added = tail - row.tail as u64;
        if let (Some(tag), Some(_)) = (&request.producer, producer) {
            sqlx::query(
                "INSERT INTO streams.producers (stream_id, producer_id, epoch, last_seq) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = $3, last_seq = $4",
            )
            .bind(row.id)
            .bind(&tag.id)
            .bind(tag.epoch as i64)
            .bind(tag.seq as i64)
            .execute(&mut **tx)
            .await?;
        }
        let closer = request.producer.as_ref().filter(|_| close);
        // The owner's bytes are counted in the same statement, after the stream's row
        // changed (see `recount_owners`); an append past the quota is refused by
        // rolling the whole transaction back, so none of it is stored.
        let owner_bytes: Option<i64> = sqlx::query_scalar(
            "WITH changed AS (UPDATE streams.streams SET tail = $2, closed = closed OR $3, \
             closed_by_producer = CASE WHEN $3 THEN $4 ELSE closed_by_producer END, \
             closed_by_epoch = CASE WHEN $3 THEN $5 ELSE closed_by_epoch END, \
             closed_by_seq = CASE WHEN $3 THEN $6 ELSE closed_by_seq END, \
             last_stream_seq = COALESCE($7, last_stream_seq), last_access = $8 WHERE id = $1 RETURNING owner) \
             UPDATE streams.owners o SET bytes = o.bytes + $9 FROM changed \
             WHERE o.owner = changed.owner AND $9 > 0 RETURNING o.bytes",
        )
        .bind(row.id)
        .bind(tail as i64)
        .bind(close)
        .bind(closer.map(|p| p.id.clone()))
        .bind(closer.map(|p| p.epoch as i64))
        .bind(closer.map(|p| p.seq as i64))
        .bind(&request.stream_seq)
        .bind(Utc::now())
        .bind(added as i64)
        .fetch_optional(&mut **tx)
        .await?;
        if owner_bytes.is_some_and(|b| b as u64 > self.quota.bytes) {
            return Err(StoreError::Quota(Limit::Bytes));
        }
        let closed = row.closed || close;
        notify(tx, row.id, Version { tail, closed, gone: false }).await?;
        Ok(Ok(Appended::Written { tail, closed, producer: echo(producer) }))
    }

    /// Runs `f` in a transaction that is committed whatever `f` decided, so expiries
    /// noticed on the way stick even when the request is refused.
    async fn in_tx<T>(
        &self,
        f: impl AsyncFnOnce(&mut Transaction<'_, Postgres>) -> Result<Result<T, StoreError>, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = self.pool.begin().await?;
        let outcome = f(&mut tx).await?;
        tx.commit().await?;
        outcome
    }

    async fn read_uncached(&self, key: &StreamKey, from: ReadFrom, limit: usize) -> Result<ReadBatch, StoreError> {
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
        let pos = match from {
            ReadFrom::Start => 0,
            ReadFrom::Tail => info.tail,
            ReadFrom::At(pos) => pos,
        };
        if pos > info.tail {
            return Err(StoreError::OffsetPastTail(pos));
        }
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
async fn is_boundary(tx: &mut Transaction<'_, Postgres>, mut id: i64, pos: u64) -> Result<bool, StoreError> {
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
async fn run_at(tx: &mut Transaction<'_, Postgres>, mut id: i64, pos: u64) -> Result<Option<Slice>, StoreError> {
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

async fn insert_run(tx: &mut Transaction<'_, Postgres>, id: i64, start: u64, data: &[u8]) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO streams.runs (stream_id, start_pos, data) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(start as i64)
        .bind(data)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Counts again what each owner keeps, from the streams themselves: corrects any
/// count a server without this table left behind (a rolling upgrade). Writes are held
/// back meanwhile (SHARE blocks them), and they never lock an owner's row before
/// changing `streams.streams`, so they cannot deadlock with this.
async fn recount_owners(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE streams.streams IN SHARE MODE").execute(&mut *tx).await?;
    sqlx::query("DELETE FROM streams.owners").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO streams.owners (owner, streams, bytes) \
         SELECT owner, count(*), sum(tail - COALESCE(fork_offset, 0)) FROM streams.streams GROUP BY owner",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// Tells every process (this one included) that a stream changed, on commit.
async fn notify(tx: &mut Transaction<'_, Postgres>, id: i64, v: Version) -> Result<(), StoreError> {
    let payload = format!("{id}:{}:{}:{}", v.tail, u8::from(v.closed), u8::from(v.gone));
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut **tx).await?;
    Ok(())
}

fn parse_notification(payload: &str) -> Option<(u64, Version)> {
    let mut parts = payload.split(':');
    let id = parts.next()?.parse().ok()?;
    let tail = parts.next()?.parse().ok()?;
    let closed = parts.next()? == "1";
    let gone = parts.next()? == "1";
    Some((id, Version { tail, closed, gone }))
}

/// Relays `streams_changed` notifications to this process's subscribers until
/// `shutdown`. After a lost connection everyone is woken to look again, since
/// notifications may have been missed meanwhile.
async fn listen(pool: PgPool, notifier: Arc<Notifier>, shutdown: CancellationToken) {
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            notifier.wake_all();
            // `try_recv`, not `recv`: `recv` reconnects by itself and hides the gap, in
            // which other instances' notifications are lost and nobody here is woken.
            while let Some(notification) = listener.try_recv().await? {
                if let Some((id, version)) = parse_notification(notification.payload()) {
                    notifier.publish(id, version);
                }
            }
            Ok(())
        };
        let result: Result<(), sqlx::Error> = tokio::select! {
            r = listener => r,
            () = shutdown.cancelled() => return,
        };
        match result {
            Err(e) => tracing::warn!(error = %e, "lost the streams notification channel; reconnecting"),
            Ok(()) => tracing::warn!("lost the streams notification channel; reconnecting"),
        }
        notifier.wake_all();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Shares one database read among readers asking for the same range of the same
/// stream version: after an append, every live reader of the stream asks at once.
/// An entry is only reused while the stream's latest notified version is the one it
/// was made at, and only for streams that never expire (reads renew a sliding TTL, and
/// expiry must be checked each time).
#[derive(Default)]
struct ReadMemo {
    /// Streams seen by reads, so a read can find the version it is after.
    ids: Mutex<HashMap<StreamKey, u64>>,
    entries: Mutex<HashMap<(StreamKey, u64, usize), MemoEntry>>,
}

#[derive(Clone)]
struct MemoEntry {
    /// The stream's notified version and the notifier's epoch it was read at.
    version: (Version, u64),
    cell: Arc<OnceCell<ReadBatch>>,
}

/// Entries kept at most; beyond this the memo starts over.
const MEMO_ENTRIES: usize = 4096;

#[async_trait]
impl Store for PgStore {
    async fn create(&self, key: &StreamKey, request: CreateStream) -> Result<Created, StoreError> {
        let created = self.in_tx(async |tx| self.create_tx(tx, key, &request).await).await;
        if let Err(StoreError::Database(sqlx::Error::Database(e))) = &created {
            // 40P01: a deadlock, possible only when re-creating over an expired stream
            // as a fork, since that removal changes an owner's count before the source
            // is locked.
            if e.is_unique_violation() || e.code().as_deref() == Some("40P01") {
                // Another process created it meanwhile: answer as for an existing stream.
                return self.in_tx(async |tx| self.create_tx(tx, key, &request).await).await;
            }
        }
        created
    }

    async fn append(&self, key: &StreamKey, request: Append) -> Result<Appended, StoreError> {
        self.in_tx(async |tx| self.append_tx(tx, key, &request).await).await
    }

    async fn head(&self, key: &StreamKey) -> Result<StreamInfo, StoreError> {
        self.in_tx(async |tx| Ok(self.locate(tx, key).await?.map(|row| row.info()))).await
    }

    async fn read(&self, key: &StreamKey, from: ReadFrom, limit: usize) -> Result<ReadBatch, StoreError> {
        let entry = match from {
            ReadFrom::At(pos) => self.memo.entry(key, pos, limit, &self.notifier),
            _ => None,
        };
        let Some(entry) = entry else {
            let batch = self.read_uncached(key, from, limit).await?;
            self.memo.learn(key, &batch.info);
            return Ok(batch);
        };
        let batch = entry.cell.get_or_try_init(|| self.read_uncached(key, from, limit)).await?;
        Ok(batch.clone())
    }

    async fn delete(&self, key: &StreamKey) -> Result<(), StoreError> {
        self.in_tx(async |tx| match self.locate(tx, key).await? {
            Ok(row) => self.remove(tx, &row).await.map(|_| Ok(())),
            Err(e) => Ok(Err(e)),
        })
        .await
    }

    async fn watch(&self, key: &StreamKey) -> Result<Watch, StoreError> {
        let row = self.in_tx(async |tx| self.locate(tx, key).await).await?;
        let version = Version { tail: row.tail as u64, closed: row.closed, gone: false };
        Ok(self.notifier.subscribe(row.id as u64, version))
    }
}

impl ReadMemo {
    /// The shared read for `(key, pos, limit)` at the stream's current version, if the
    /// stream is known and someone in this process watches it.
    fn entry(&self, key: &StreamKey, pos: u64, limit: usize, notifier: &Notifier) -> Option<MemoEntry> {
        let id = *self.ids.lock().expect("memo lock").get(key)?;
        let version = (notifier.latest(id)?, notifier.epoch());
        let mut entries = self.entries.lock().expect("memo lock");
        let slot = (key.clone(), pos, limit);
        if let Some(existing) = entries.get(&slot).filter(|e| e.version == version) {
            return Some(existing.clone());
        }
        if entries.len() >= MEMO_ENTRIES {
            entries.clear();
        }
        let fresh = MemoEntry { version, cell: Arc::new(OnceCell::new()) };
        entries.insert(slot, fresh.clone());
        Some(fresh)
    }

    /// Remembers which stream a key named, if its reads may be shared.
    fn learn(&self, key: &StreamKey, info: &StreamInfo) {
        let mut ids = self.ids.lock().expect("memo lock");
        if info.expiry != Expiry::Never {
            ids.remove(key);
            return;
        }
        if ids.len() >= MEMO_ENTRIES {
            ids.clear();
        }
        ids.insert(key.clone(), info.id);
    }
}
