//! Group commit for appends. Appends that arrive while a batch is being written queue
//! up and go together in the next transaction: one statement locks every stream the
//! batch touches, the protocol's rules judge each append in memory in arrival order,
//! then one statement writes the runs, the streams' new state, the producers, the
//! owners' byte counts and the notifications, and one commit (one WAL flush) makes the
//! whole batch durable. Every append is acknowledged after that commit.
//!
//! Why: each append used to be its own transaction ending with an update of its
//! owner's row in `streams.owners`, so one user's appends waited for each other's
//! commit, and the server managed about 1,000 appends/s however many writers there
//! were. A batch takes each owner's row once.
//!
//! A batch that meets something unusual (an expired stream to remove, an owner over
//! quota, a database error before the commit) is written the ordinary way, one
//! transaction per append, which has the exact answers for those cases.
//!
//! Writers answered by one batch send their next appends together, a little later: a
//! batch starts with the first append and waits a moment (`GATHER`) for as many as the
//! last batches held. Without that wait, 16 writers alternated between a batch of one
//! and one of fifteen, each paying a whole commit.

use std::collections::HashMap;

use chrono::Utc;
use sqlx::{Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::{PgStore, Row, COLUMNS};
use crate::store::notify::Version;
use crate::store::rules::{self, AppendPlan, AppendTarget, ProducerState};
use crate::store::{Append, Appended, ProducerTag, Slice, StoreError, StreamKey};

/// At most this many appends share a transaction.
const MAX_BATCH: usize = 256;
/// Appends waiting for a batch; more wait for room (back-pressure on the requests).
const QUEUE: usize = 4096;
/// How long a batch waits for the appends it expects. Less than a commit takes: a
/// batch that waited for its writers' next appends saves the commit they would cost.
const GATHER: std::time::Duration = std::time::Duration::from_micros(500);

/// An append waiting for its batch.
pub(super) struct Pending {
    key: StreamKey,
    request: Append,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// Where appends queue for the batch writer.
#[derive(Clone)]
pub(super) struct Batcher(mpsc::Sender<Pending>);

impl Batcher {
    /// Starts the batch writer on `store`, until `shutdown`; appends still queued then
    /// are refused as if the database had closed.
    pub(super) fn start(store: PgStore, shutdown: CancellationToken) -> Batcher {
        let (sender, queue) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, queue, shutdown));
        Batcher(sender)
    }

    /// Queues the append and waits for its batch to commit.
    pub(super) async fn append(&self, key: &StreamKey, request: Append) -> Result<Appended, StoreError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Database(sqlx::Error::PoolClosed);
        self.0.send(Pending { key: key.clone(), request, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_batches(store: PgStore, mut queue: mpsc::Receiver<Pending>, shutdown: CancellationToken) {
    // The appends of the last two batches: writers answered by a batch usually append
    // again right away, so the next batch waits (up to GATHER) until that many are in.
    let mut expected = [1, 1];
    let mut known = Known::default();
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = queue.recv() => match next {
                Some(pending) => pending,
                None => return,
            },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + GATHER;
        let wanted = expected[0].max(expected[1]).min(MAX_BATCH);
        while batch.len() < MAX_BATCH {
            let next = match queue.try_recv() {
                Ok(pending) => Some(pending),
                Err(_) if batch.len() >= wanted => None,
                Err(_) => tokio::time::timeout_at(deadline, queue.recv()).await.ok().flatten(),
            };
            let Some(pending) = next else { break };
            batch.push(pending);
        }
        expected = [expected[1], batch.len()];
        store.write_batch(batch, &mut known).await;
    }
}

/// Why a batch was not committed as one.
enum Unbatched {
    /// Nothing was committed: write each append on its own.
    OneByOne,
    /// The commit itself failed: whether it happened is unknown, so nothing may be
    /// written again; every append gets this error.
    Commit(String),
}

impl From<sqlx::Error> for Unbatched {
    fn from(error: sqlx::Error) -> Self {
        tracing::warn!(%error, "a batch of appends failed before its commit; writing them one by one");
        Unbatched::OneByOne
    }
}

/// A stream of the batch, as its appends so far left it.
#[derive(Clone)]
struct Locked {
    row: Row,
    owner: String,
    /// Its tail and closure before the batch: the batch's write checks them.
    was: (i64, bool),
    added: u64,
    changed: bool,
}

impl Locked {
    fn new(row: Row, owner: String) -> Locked {
        Locked { was: (row.tail, row.closed), row, owner, added: 0, changed: false }
    }
}

type Answers = Vec<Option<Result<Appended, StoreError>>>;

/// What the batch writer remembers of the streams it wrote: each as its last batch
/// left it, and the producers that wrote to them. A batch whose streams and producers
/// are all remembered, and whose appends would all be written, is judged against this
/// and written with one statement, without a transaction or locks (`try_known`): one
/// round trip and the commit, instead of four. The statement checks that each stream's
/// tail, closure and deletion are still as remembered, and fails whole if another
/// process changed them; the batch then takes the locking path.
#[derive(Default)]
struct Known {
    streams: HashMap<(String, String), Locked>,
    producers: HashMap<(i64, String), ProducerState>,
}

/// The SQLSTATE of `Writes::apply` refusing a batch: division by zero.
const REFUSED: &str = "22012";

/// Streams remembered at most; past this, `Known` starts over.
const KNOWN_STREAMS: usize = 4096;

impl Known {
    /// The batch's streams and producers as remembered, if all are.
    fn recall(&self, batch: &[Pending]) -> Option<(Streams, Producers)> {
        let (mut streams, mut producers) = (HashMap::new(), HashMap::new());
        for p in batch {
            let key = (p.key.owner.clone(), p.key.path.clone());
            let stream = self.streams.get(&key)?;
            if let Some(tag) = &p.request.producer {
                let producer = (stream.row.id, tag.id.clone());
                producers.insert(producer.clone(), *self.producers.get(&producer)?);
            }
            streams.entry(key).or_insert_with(|| Locked::new(stream.row.clone(), stream.owner.clone()));
        }
        Some((streams, producers))
    }

    fn learn(&mut self, streams: Streams, producers: Producers) {
        if self.streams.len() + streams.len() > KNOWN_STREAMS || self.producers.len() + producers.len() > KNOWN_STREAMS
        {
            *self = Known::default();
        }
        self.streams.extend(streams);
        self.producers.extend(producers);
    }

    fn forget(&mut self, batch: &[Pending]) {
        for p in batch {
            self.streams.remove(&(p.key.owner.clone(), p.key.path.clone()));
        }
    }
}

type Streams = HashMap<(String, String), Locked>;
type Producers = HashMap<(i64, String), ProducerState>;

#[derive(sqlx::FromRow)]
struct LockedRow {
    owner: String,
    path: String,
    #[sqlx(flatten)]
    row: Row,
}

impl PgStore {
    async fn write_batch(&self, batch: Vec<Pending>, known: &mut Known) {
        let started = std::time::Instant::now();
        let outcome = match self.try_known(&batch, known).await {
            Some(outcome) => outcome,
            None => self.try_batch(&batch, known).await,
        };
        match outcome {
            Ok(answers) => {
                tracing::debug!(
                    appends = batch.len(),
                    us = started.elapsed().as_micros() as u64,
                    "a batch of appends committed"
                );
                let mut alone = Vec::new();
                for (pending, answer) in batch.into_iter().zip(answers) {
                    match answer {
                        Some(answer) => drop(pending.reply.send(answer)),
                        None => alone.push(pending),
                    }
                }
                self.write_one_by_one(alone).await;
            }
            Err(Unbatched::Commit(error)) => {
                tracing::warn!(%error, appends = batch.len(), "committing a batch of appends failed");
                known.forget(&batch);
                // It may have been committed, and its notification is left to this
                // process to pass on: everyone looks again.
                self.notifier.wake_all();
                for pending in batch {
                    let error = sqlx::Error::Protocol(format!("commit failed: {error}"));
                    let _ = pending.reply.send(Err(StoreError::Database(error)));
                }
            }
            Err(Unbatched::OneByOne) => {
                known.forget(&batch);
                self.write_one_by_one(batch).await;
            }
        }
    }

    async fn write_one_by_one(&self, batch: Vec<Pending>) {
        for pending in batch {
            let answer = self.in_tx(async |tx| self.append_tx(tx, &pending.key, &pending.request).await).await;
            let _ = pending.reply.send(answer);
        }
    }

    /// Writes the batch as `known` has it, with one statement; `None` when it cannot
    /// (something not remembered, an append that would not be written, another process
    /// wrote meanwhile, a database error): nothing was written then.
    async fn try_known(&self, batch: &[Pending], known: &mut Known) -> Option<Result<Answers, Unbatched>> {
        let (mut streams, mut producers) = known.recall(batch)?;
        let (answers, writes) = judge_all(batch, &mut streams, &mut producers);
        if !answers.iter().all(|a| matches!(a, Some(Ok(Appended::Written { .. })))) {
            return None;
        }
        let runs = writes.runs.clone();
        match writes.apply(&self.pool, &streams, self.quota.bytes, self.origin).await {
            Ok(()) => {
                self.committed(&runs, &streams);
                known.learn(streams, producers);
                Some(Ok(answers))
            }
            // Refused by the database (or never sent): rolled back as a whole.
            Err(sqlx::Error::Database(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => {
                known.forget(batch);
                None
            }
            Err(e) => Some(Err(Unbatched::Commit(e.to_string()))),
        }
    }

    /// Writes the batch in one transaction that locks its streams; `None` for an
    /// append to leave to the one-transaction path (its stream expired), after this
    /// commit.
    async fn try_batch(&self, batch: &[Pending], known: &mut Known) -> Result<Answers, Unbatched> {
        let mut tx = self.pool.begin().await?;
        let mut streams = lock_streams(&mut tx, batch).await?;
        let mut producers = load_producers(&mut tx, batch, &streams).await?;
        let (answers, writes) = judge_all(batch, &mut streams, &mut producers);
        let runs = writes.runs.clone();
        writes.apply(&mut *tx, &streams, self.quota.bytes, self.origin).await.map_err(|e| match e {
            // Over quota: which append crossed the line is for the one-by-one path.
            sqlx::Error::Database(e) if e.code().as_deref() == Some(REFUSED) => Unbatched::OneByOne,
            e => e.into(),
        })?;
        tx.commit().await.map_err(|e| Unbatched::Commit(e.to_string()))?;
        self.committed(&runs, &streams);
        known.learn(streams, producers);
        Ok(answers)
    }

    /// Keeps a committed batch's appends for this process's readers, then wakes them:
    /// the batch's notification says it came from here, so it is not passed on again,
    /// and a woken reader finds the appends kept (see `recall`).
    fn committed(&self, runs: &[(i64, i64, bytes::Bytes)], streams: &Streams) {
        let mut by_stream: HashMap<i64, Vec<Slice>> = HashMap::new();
        for (stream, start, data) in runs {
            by_stream.entry(*stream).or_default().push(Slice { start: *start as u64, data: data.clone() });
        }
        for (stream, appends) in by_stream {
            self.runs.put(stream, &appends);
        }
        for Locked { row, .. } in streams.values().filter(|s| s.changed) {
            let version = Version { tail: row.tail as u64, closed: row.closed, gone: false };
            self.notifier.publish(row.id as u64, version);
        }
    }
}

/// Judges each append in arrival order against its stream as the batch left it.
fn judge_all(batch: &[Pending], streams: &mut Streams, producers: &mut Producers) -> (Answers, Writes) {
    let mut writes = Writes::default();
    let answers = batch
        .iter()
        .map(|p| {
            let locked = streams.get_mut(&(p.key.owner.clone(), p.key.path.clone()));
            judge(locked, producers, &p.request, &mut writes)
        })
        .collect();
    (answers, writes)
}

/// Locks every stream of the batch, in id order (so batches of other processes cannot
/// deadlock with this one), keyed by (owner, path).
async fn lock_streams(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[Pending],
) -> Result<HashMap<(String, String), Locked>, sqlx::Error> {
    let owners: Vec<&str> = batch.iter().map(|p| p.key.owner.as_str()).collect();
    let paths: Vec<&str> = batch.iter().map(|p| p.key.path.as_str()).collect();
    let sql = format!(
        "SELECT owner, path, {COLUMNS} FROM streams.streams \
         WHERE (owner, path) IN (SELECT * FROM UNNEST($1::text[], $2::text[])) ORDER BY id FOR UPDATE"
    );
    let rows: Vec<LockedRow> = sqlx::query_as(&sql).bind(owners).bind(paths).fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(|r| ((r.owner.clone(), r.path), Locked::new(r.row, r.owner))).collect())
}

/// The producers the batch names, by (stream id, producer id).
async fn load_producers(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[Pending],
    streams: &HashMap<(String, String), Locked>,
) -> Result<HashMap<(i64, String), ProducerState>, sqlx::Error> {
    let (ids, names): (Vec<i64>, Vec<&str>) = batch
        .iter()
        .filter_map(|p| {
            let tag = p.request.producer.as_ref()?;
            let locked = streams.get(&(p.key.owner.clone(), p.key.path.clone()))?;
            Some((locked.row.id, tag.id.as_str()))
        })
        .unzip();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT stream_id, producer_id, epoch, last_seq FROM streams.producers \
         WHERE (stream_id, producer_id) IN (SELECT * FROM UNNEST($1::int8[], $2::text[]))",
    )
    .bind(ids)
    .bind(names)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, epoch, seq)| ((id, name), ProducerState { epoch: epoch as u64, last_seq: seq as u64 }))
        .collect())
}

/// Judges one append against its stream as the batch left it, and records the write.
fn judge(
    locked: Option<&mut Locked>,
    producers: &mut HashMap<(i64, String), ProducerState>,
    request: &Append,
    writes: &mut Writes,
) -> Option<Result<Appended, StoreError>> {
    let Some(locked) = locked else { return Some(Err(StoreError::NotFound)) };
    let row = &mut locked.row;
    if row.soft_deleted {
        return Some(Err(StoreError::Gone));
    }
    if row.expired() {
        return None;
    }
    let producer_key = request.producer.as_ref().map(|tag| (row.id, tag.id.clone()));
    let producer = producer_key.as_ref().and_then(|k| producers.get(k).copied());
    let closed_by = row.closed_by();
    let target = AppendTarget {
        content_type: &row.content_type,
        closed: row.closed,
        closed_by: closed_by.as_ref(),
        last_stream_seq: row.last_stream_seq.as_deref(),
    };
    let echo = |p: Option<ProducerState>| p.map(|p| (p.epoch, p.last_seq));
    let (payload, close, next_producer) = match rules::plan_append(&target, producer, request) {
        Ok(AppendPlan::Duplicate { producer }) => {
            return Some(Ok(Appended::Duplicate {
                tail: row.tail as u64,
                closed: row.closed,
                producer: echo(producer),
            }))
        }
        Ok(AppendPlan::Write { payload, close, producer }) => (payload, close, producer),
        Err(rules::AppendError::Closed { .. }) => {
            return Some(Err(rules::AppendError::Closed { tail: row.tail as u64 }.into()))
        }
        Err(e) => return Some(Err(e.into())),
    };
    if let Some(payload) = payload.filter(|p| !p.data.is_empty()) {
        writes.runs.push((row.id, row.tail, payload.data.clone()));
        row.tail += payload.data.len() as i64;
        locked.added += payload.data.len() as u64;
    }
    if let (Some(tag), Some(key), Some(state)) = (&request.producer, producer_key, next_producer) {
        producers.insert(key.clone(), state);
        writes.producers.insert(key, (tag.epoch, tag.seq));
    }
    if close {
        row.closed = true;
        if let Some(ProducerTag { id, epoch, seq }) = &request.producer {
            (row.closed_by_producer, row.closed_by_epoch, row.closed_by_seq) =
                (Some(id.clone()), Some(*epoch as i64), Some(*seq as i64));
        }
    }
    if request.stream_seq.is_some() {
        row.last_stream_seq.clone_from(&request.stream_seq);
    }
    locked.changed = true;
    Some(Ok(Appended::Written { tail: row.tail as u64, closed: row.closed, producer: echo(next_producer) }))
}

/// What a batch writes, besides each changed stream's new state.
#[derive(Default)]
struct Writes {
    /// (stream id, start, data): one run per append, in arrival order.
    runs: Vec<(i64, i64, bytes::Bytes)>,
    /// The last (epoch, seq) of each producer that wrote.
    producers: HashMap<(i64, String), (u64, u64)>,
}

/// A row of `streams.runs`: appends to one stream, one after the other.
struct StoredRow {
    stream: i64,
    start: i64,
    data: Vec<u8>,
    /// Where each append after the first starts, relative to `start`.
    bounds: Vec<i32>,
}

/// A row holds the batch's appends to one stream up to this size; an append larger
/// than this is a row of its own.
const MAX_ROW: usize = 256 * 1024;

/// The runs as rows: each stream's appends in as few rows as `MAX_ROW` allows.
fn stored_rows(runs: &[(i64, i64, bytes::Bytes)]) -> Vec<StoredRow> {
    let mut rows: Vec<StoredRow> = Vec::new();
    let mut open: HashMap<i64, usize> = HashMap::new();
    for (stream, start, data) in runs {
        match open.get(stream).map(|&i| &mut rows[i]) {
            Some(row) if row.data.len() + data.len() <= MAX_ROW => {
                row.bounds.push(row.data.len() as i32);
                row.data.extend_from_slice(data);
            }
            _ => {
                open.insert(*stream, rows.len());
                rows.push(StoredRow { stream: *stream, start: *start, data: data.to_vec(), bounds: Vec::new() });
            }
        }
    }
    rows
}

impl Writes {
    /// Writes the batch with one statement: the runs, the producers, the streams' new
    /// state, the owners' byte counts and the notifications. Each is a data-modifying
    /// CTE, so the batch costs one round trip however much it holds.
    ///
    /// The statement fails whole, with a division by zero (`REFUSED`), when a stream's tail,
    /// closure or deletion is no longer what the batch was judged against, or when an
    /// owner goes over quota (which append crossed the line is for the one-by-one path
    /// to say).
    async fn apply<'e>(
        self,
        executor: impl sqlx::PgExecutor<'e>,
        streams: &HashMap<(String, String), Locked>,
        quota_bytes: u64,
        origin: u64,
    ) -> Result<(), sqlx::Error> {
        let mut changed: Vec<&Locked> = streams.values().filter(|s| s.changed).collect();
        if changed.is_empty() {
            return Ok(());
        }
        // In id order, as the locking path locks them, so that two processes' batches
        // rarely wait for each other crosswise (PostgreSQL would end that after
        // `deadlock_timeout`, and the batch take the locking path).
        changed.sort_unstable_by_key(|s| s.row.id);
        let (producer_keys, producer_states): (Vec<_>, Vec<_>) = self.producers.into_iter().unzip();
        let (producer_ids, producer_names): (Vec<i64>, Vec<String>) = producer_keys.into_iter().unzip();
        let (epochs, seqs): (Vec<i64>, Vec<i64>) =
            producer_states.into_iter().map(|(e, s)| (e as i64, s as i64)).unzip();
        let rows = changed.iter().map(|s| &s.row);
        let (owners, added) = added_by_owner(&changed);
        let stored = stored_rows(&self.runs);
        let bounds = stored.iter().map(|r| {
            let bounds: Vec<String> = r.bounds.iter().map(i32::to_string).collect();
            (!bounds.is_empty()).then(|| format!("{{{}}}", bounds.join(",")))
        });
        let payloads: Vec<String> = changed
            .iter()
            .map(|s| format!("{}:{}:{}:0:{origin}", s.row.id, s.row.tail, u8::from(s.row.closed)))
            .collect();
        sqlx::query(
            "WITH runs AS ( \
                 INSERT INTO streams.runs (stream_id, start_pos, data, bounds) \
                 SELECT id, start_pos, data, bounds::int4[] \
                 FROM UNNEST($1::int8[], $2::int8[], $3::bytea[], $21::text[]) AS u(id, start_pos, data, bounds) \
             ), producers AS ( \
                 INSERT INTO streams.producers (stream_id, producer_id, epoch, last_seq) \
                 SELECT * FROM UNNEST($4::int8[], $5::text[], $6::int8[], $7::int8[]) \
                 ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = EXCLUDED.epoch, last_seq = EXCLUDED.last_seq \
             ), streams AS ( \
                 UPDATE streams.streams s SET tail = u.tail, closed = u.closed, closed_by_producer = u.producer, \
                 closed_by_epoch = u.epoch, closed_by_seq = u.seq, last_stream_seq = u.stream_seq, last_access = $15 \
                 FROM UNNEST($8::int8[], $9::int8[], $10::bool[], $11::text[], $12::int8[], $13::int8[], $14::text[], \
                 $22::int8[], $23::bool[]) AS u(id, tail, closed, producer, epoch, seq, stream_seq, was_tail, was_closed) \
                 WHERE s.id = u.id AND s.tail = u.was_tail AND s.closed = u.was_closed AND NOT s.soft_deleted \
                 RETURNING s.id \
             ), owners AS ( \
                 UPDATE streams.owners o SET bytes = o.bytes + u.added \
                 FROM (SELECT * FROM UNNEST($16::text[], $17::int8[]) AS u(owner, added) ORDER BY owner) u \
                 WHERE o.owner = u.owner RETURNING o.bytes \
             ), notified AS ( \
                 SELECT pg_notify($18, p) FROM UNNEST($19::text[]) AS p \
             ) \
             SELECT 1 / (CASE WHEN (SELECT count(*) FROM streams) = cardinality($8::int8[]) \
                 AND NOT coalesce(bool_or(o.bytes > $20), false) THEN 1 ELSE 0 END) \
             FROM (SELECT count(*) FROM notified) n LEFT JOIN owners o ON true",
        )
        .bind(stored.iter().map(|r| r.stream).collect::<Vec<_>>())
        .bind(stored.iter().map(|r| r.start).collect::<Vec<_>>())
        .bind(stored.iter().map(|r| &r.data[..]).collect::<Vec<_>>())
        .bind(producer_ids)
        .bind(producer_names)
        .bind(epochs)
        .bind(seqs)
        .bind(rows.clone().map(|r| r.id).collect::<Vec<_>>())
        .bind(rows.clone().map(|r| r.tail).collect::<Vec<_>>())
        .bind(rows.clone().map(|r| r.closed).collect::<Vec<_>>())
        .bind(rows.clone().map(|r| r.closed_by_producer.clone()).collect::<Vec<_>>())
        .bind(rows.clone().map(|r| r.closed_by_epoch).collect::<Vec<_>>())
        .bind(rows.clone().map(|r| r.closed_by_seq).collect::<Vec<_>>())
        .bind(rows.map(|r| r.last_stream_seq.clone()).collect::<Vec<_>>())
        .bind(Utc::now())
        .bind(owners)
        .bind(added)
        .bind(super::listen::CHANNEL)
        .bind(payloads)
        .bind(i64::try_from(quota_bytes).unwrap_or(i64::MAX))
        .bind(bounds.collect::<Vec<_>>())
        .bind(changed.iter().map(|s| s.was.0).collect::<Vec<_>>())
        .bind(changed.iter().map(|s| s.was.1).collect::<Vec<_>>())
        .execute(executor)
        .await?;
        Ok(())
    }
}

/// What the batch adds to each owner's bytes, in owner order.
fn added_by_owner<'a>(changed: &[&'a Locked]) -> (Vec<&'a str>, Vec<i64>) {
    let mut added: HashMap<&str, i64> = HashMap::new();
    for s in changed.iter().filter(|s| s.added > 0) {
        *added.entry(s.owner.as_str()).or_default() += s.added as i64;
    }
    let mut added: Vec<(&str, i64)> = added.into_iter().collect();
    added.sort_unstable();
    added.into_iter().unzip()
}
