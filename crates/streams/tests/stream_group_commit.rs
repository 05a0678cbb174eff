//! Group commit on PostgreSQL: appends that arrive together share one transaction, and
//! each still gets exactly the answer it would get alone: every acknowledged append is
//! stored once, in order; a producer's retry is a duplicate; an append after a close
//! or past the owner's quota is refused, and only that one.

use std::collections::HashMap;
use std::sync::Arc;

use superset_streams::store::{
    Append, AppendError, CreateStream, Payload, PgStore, ProducerTag, Quota, ReadFrom, Store,
};
use superset_streams::store::{Appended, StoreError, StreamKey};
use superset_testkit::TestDatabase;
use tokio_util::sync::CancellationToken;

const UNLIMITED: Quota = Quota { streams: u64::MAX, bytes: u64::MAX };

/// An 8-byte text record naming its writer and sequence number.
fn record(writer: usize, seq: u64) -> String {
    format!("w{writer:02}s{seq:03};")
}

fn text(body: &str, producer: Option<ProducerTag>) -> Append {
    Append {
        content_type: Some("text/plain".into()),
        payload: Some(Payload::frame("text/plain", body.as_bytes(), false)),
        close: false,
        stream_seq: None,
        producer,
    }
}

fn tag(writer: usize, seq: u64) -> Option<ProducerTag> {
    Some(ProducerTag { id: format!("writer-{writer}"), epoch: 0, seq })
}

async fn open(database: &TestDatabase, quota: Quota) -> (Arc<PgStore>, sqlx::PgPool, CancellationToken) {
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    let stop = CancellationToken::new();
    let store = PgStore::open(pool.clone(), stop.clone(), quota).await.unwrap();
    (Arc::new(store), pool, stop)
}

async fn read_all(store: &PgStore, key: &StreamKey) -> String {
    let (mut out, mut at) = (String::new(), 0);
    loop {
        let batch = store.read(key, ReadFrom::At(at), 1 << 20).await.unwrap();
        for slice in &batch.slices {
            out.push_str(std::str::from_utf8(&slice.data).unwrap());
        }
        if batch.up_to_date() {
            return out;
        }
        at = batch.next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_transactions_and_each_is_stored_once_in_order() {
    let database = TestDatabase::postgres().await;
    let (store, pool, stop) = open(&database, UNLIMITED).await;
    let keys: Vec<StreamKey> = (0..4).map(|i| StreamKey::new("owner", format!("s{i}"))).collect();
    for key in &keys {
        store.create(key, CreateStream::new("text/plain")).await.unwrap();
    }
    const WRITERS: usize = 32;
    const EACH: u64 = 25;
    // Holding a stream's row makes the first batch wait, so the writers' first appends
    // surely queue up behind it, however the machine schedules them.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM streams.streams WHERE path = 's0' FOR UPDATE").execute(&mut *holder).await.unwrap();
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let (store, key) = (store.clone(), keys[writer % keys.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut tails = Vec::new();
            for seq in 0..EACH {
                let appended = store.append(&key, text(&record(writer, seq), tag(writer, seq))).await.unwrap();
                let Appended::Written { tail, .. } = appended else { panic!("{appended:?} for a new seq") };
                tails.push(tail);
                if seq % 10 == 0 {
                    // A retry whose answer was lost: a duplicate, stored once.
                    let again = store.append(&key, text(&record(writer, seq), tag(writer, seq))).await.unwrap();
                    assert!(matches!(again, Appended::Duplicate { producer: Some((0, s)), .. } if s == seq));
                }
            }
            tails
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.commit().await.unwrap();
    for task in tasks {
        let tails = task.await.unwrap();
        assert!(tails.windows(2).all(|w| w[0] < w[1]), "each writer's tails grow");
    }

    let mut stored = 0;
    for (i, key) in keys.iter().enumerate() {
        let data = read_all(&store, key).await;
        let records: Vec<&str> = data.split_terminator(';').collect();
        let mut next: HashMap<usize, u64> = HashMap::new();
        for r in &records {
            let (writer, seq) = (r[1..3].parse::<usize>().unwrap(), r[4..7].parse::<u64>().unwrap());
            assert_eq!(writer % keys.len(), i, "a record in its writer's stream");
            let expected = next.entry(writer).or_default();
            assert_eq!(seq, *expected, "writer {writer}'s records once each, in order");
            *expected += 1;
        }
        assert!(next.values().all(|&n| n == EACH));
        stored += data.len() as i64;
    }
    let owner_bytes: i64 =
        sqlx::query_scalar("SELECT bytes FROM streams.owners WHERE owner = 'owner'").fetch_one(&pool).await.unwrap();
    assert_eq!(owner_bytes, stored, "the owner's count is what is stored");
    // Rows a transaction inserts carry its id: fewer ids than runs means shared commits.
    let (runs, transactions): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT xmin::text) FROM streams.runs").fetch_one(&pool).await.unwrap();
    println!("{runs} appends in {transactions} transactions");
    assert_eq!(runs, (WRITERS as u64 * EACH) as i64);
    assert!(transactions < runs, "{runs} appends in {transactions} transactions: none shared a commit");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_refuses_exactly_the_appends_past_a_close_or_the_quota() {
    let database = TestDatabase::postgres().await;
    // Room for 20 records of 8 bytes: the 30 for the stream that stays open alone overflow it.
    let (store, pool, stop) = open(&database, Quota { streams: 10, bytes: 160 }).await;
    let (full, closing) = (StreamKey::new("owner", "full"), StreamKey::new("owner", "closing"));
    store.create(&full, CreateStream::new("text/plain")).await.unwrap();
    store.create(&closing, CreateStream::new("text/plain")).await.unwrap();

    let mut tasks = Vec::new();
    for writer in 0..60 {
        let store = store.clone();
        let key = if writer % 2 == 0 { full.clone() } else { closing.clone() };
        tasks.push(tokio::spawn(async move {
            let mut append = text(&record(writer, 0), None);
            if writer == 31 {
                // A close without data, which no quota refuses.
                (append.payload, append.close) = (None, true);
            }
            (writer, store.append(&key, append).await)
        }));
    }
    let (mut written, mut quota, mut closed) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (_, Ok(Appended::Written { .. })) => written += 1,
            (_, Err(StoreError::Quota(_))) => quota += 1,
            (w, Err(StoreError::Append(AppendError::Closed { .. }))) => {
                assert_eq!(w % 2, 1, "only appends to the closed stream are refused as closed");
                closed += 1;
            }
            (w, other) => panic!("writer {w}: {other:?}"),
        }
    }
    let stored = read_all(&store, &full).await.len() + read_all(&store, &closing).await.len();
    assert_eq!(stored, (written - 1) * 8, "every acknowledged append is stored (the close has no data), nothing else");
    assert!(stored <= 160, "the quota holds");
    assert_eq!(written + quota + closed, 60);
    assert!(quota >= 10, "30 records do not fit in 20");
    let owner_bytes: i64 =
        sqlx::query_scalar("SELECT bytes FROM streams.owners WHERE owner = 'owner'").fetch_one(&pool).await.unwrap();
    assert_eq!(owner_bytes as usize, stored);
    // The closing stream ends with its closer's record; nothing was written after it.
    let after_close = store.append(&closing, text("late;", None)).await;
    assert!(matches!(after_close, Err(StoreError::Append(AppendError::Closed { .. }))));
    stop.cancel();
}
