//! The production store: tables in schema `streams`, so any number of server processes
//! on one database serve the same streams. Each change is one transaction that locks
//! the stream's row, so producer state, closure and data change together, and
//! announces itself with `NOTIFY streams_changed`; every process listens and wakes its
//! own long-polls and SSE subscribers.
//!
//! Live readers all wake on the same notification and ask for the same range: such
//! reads are answered once per process and shared (`memo`).
//!
//! - `write`: creates, appends and deletes, each one transaction;
//! - `batch`: appends that arrive together, group-committed in one transaction;
//! - `read`: reads, following forks to their sources;
//! - `memo`: reads shared by the live readers of one process;
//! - `cache`: the appends a process has read lately, which never change;
//! - `listen`: the `streams_changed` channel, both ends.

mod batch;
mod cache;
mod listen;
mod memo;
mod read;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use self::batch::Batcher;
use self::cache::RunCache;
use self::memo::ReadMemo;
use super::notify::{Notifier, Version};
use super::rules;
use super::{
    Append, Appended, CreateStream, Created, Expiry, ProducerTag, Quota, ReadBatch, ReadFrom, Store, StoreError,
    StreamInfo, StreamKey, Watch,
};

/// Streams kept in PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    notifier: Arc<Notifier>,
    memo: Arc<ReadMemo>,
    runs: Arc<RunCache>,
    /// Names this process in the notifications of the batches it writes.
    origin: u64,
    quota: Quota,
    /// Where appends queue for group commit; `None` in the batch writer's own copy,
    /// which writes directly.
    batcher: Option<Batcher>,
}

#[derive(sqlx::FromRow, Clone)]
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
    fork_source: Option<i64>,
    fork_path: Option<String>,
    fork_offset: Option<i64>,
    fork_sub_offset: Option<i64>,
    forks: i32,
    soft_deleted: bool,
    last_access: DateTime<Utc>,
}

const COLUMNS: &str = "id, content_type, ttl_seconds, expires_at, tail, closed, closed_by_producer, \
     closed_by_epoch, closed_by_seq, last_stream_seq, fork_source, fork_path, fork_offset, fork_sub_offset, \
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
        write::recount_owners(&pool).await?;
        let notifier = Arc::new(Notifier::default());
        let origin = rand::random();
        tokio::spawn(listen::relay(pool.clone(), notifier.clone(), origin, shutdown.clone()));
        let mut store = PgStore {
            pool,
            notifier,
            memo: Arc::new(ReadMemo::default()),
            runs: Arc::new(RunCache::default()),
            origin,
            quota,
            batcher: None,
        };
        store.batcher = Some(Batcher::start(store.clone(), shutdown));
        Ok(store)
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
}

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
        match &self.batcher {
            Some(batcher) => batcher.append(key, request).await,
            None => self.in_tx(async |tx| self.append_tx(tx, key, &request).await).await,
        }
    }

    async fn head(&self, key: &StreamKey) -> Result<StreamInfo, StoreError> {
        self.in_tx(async |tx| Ok(self.locate(tx, key).await?.map(|row| row.info()))).await
    }

    async fn read(&self, key: &StreamKey, from: ReadFrom, limit: usize) -> Result<ReadBatch, StoreError> {
        let epoch = self.notifier.epoch();
        let batch = self.read_uncached(key, from, limit).await?;
        self.memo.learn(key, &batch.info, epoch);
        Ok(batch)
    }

    /// Live readers all wake on the same notification and ask for the same range:
    /// answered from the appends this process keeps when they reach the notified tail,
    /// otherwise with one database read for all of them.
    async fn read_live(&self, key: &StreamKey, pos: u64, limit: usize) -> Result<ReadBatch, StoreError> {
        if let Some(batch) = self.recall(key, pos, limit) {
            return Ok(batch);
        }
        let Some(entry) = self.memo.entry(key, pos, limit, &self.notifier) else {
            return self.read(key, ReadFrom::At(pos), limit).await;
        };
        Ok(entry.cell.get_or_try_init(|| self.read(key, ReadFrom::At(pos), limit)).await?.clone())
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
