//! The write path: each create, append or delete is one transaction that locks the
//! stream's row, counts what its owner keeps, and announces the change on commit.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::listen::notify;
use super::read::{is_boundary, run_at};
use super::{PgStore, Row};
use crate::limits::Limit;
use crate::store::notify::Version;
use crate::store::payload::is_json;
use crate::store::rules::{self, AppendPlan, AppendTarget, ExistingStream, ProducerState};
use crate::store::{Append, Appended, CreateError, CreateStream, Created, Expiry, StoreError, StreamInfo, StreamKey};

impl PgStore {
    /// Deletes a stream: softly while forks use it, otherwise for good, releasing its
    /// source (which goes too if it was deleted and this was its last fork).
    pub(super) async fn remove(&self, tx: &mut Transaction<'_, Postgres>, row: &Row) -> Result<bool, StoreError> {
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

    pub(super) async fn create_tx(
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

    pub(super) async fn append_tx(
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
pub(super) async fn recount_owners(pool: &PgPool) -> Result<(), sqlx::Error> {
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
