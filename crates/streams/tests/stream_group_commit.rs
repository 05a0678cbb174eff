//! Group commit on PostgreSQL: appends that arrive together share one transaction, and
//! each still gets exactly the answer it would get alone: every acknowledged append is
//! stored once, in order; a producer's retry is a duplicate; an append after a close
//! or past the owner's quota is refused, and only that one.

use std::collections::HashMap;
use std::sync::Arc;

use superset_streams::store::{
    Append, AppendError, CreateError, CreateStream, ForkFrom, Payload, PgStore, ProducerTag, Quota, ReadFrom, Store,
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
        for slice in batch.slices() {
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
    // Rows a transaction inserts carry its id: fewer ids than appends means shared
    // commits; fewer rows than appends, appends to one stream sharing a row.
    let (rows, appends, transactions): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) + coalesce(sum(cardinality(bounds)), 0), count(DISTINCT xmin::text) \
         FROM streams.runs",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!("{appends} appends in {rows} rows and {transactions} transactions");
    assert_eq!(appends, (WRITERS as u64 * EACH) as i64);
    assert!(transactions < appends, "{appends} appends in {transactions} transactions: none shared a commit");
    assert!(rows < appends, "{appends} appends in {rows} rows: none shared a row");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_sharing_a_row_keep_their_own_offsets() {
    let database = TestDatabase::postgres().await;
    let (store, pool, stop) = open(&database, UNLIMITED).await;
    let key = StreamKey::new("owner", "chat");
    store.create(&key, CreateStream::new("application/json")).await.unwrap();
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM streams.streams WHERE path = 'chat' FOR UPDATE").execute(&mut *holder).await.unwrap();
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let store = store.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            // Two messages per append, so an append's inside is not one of its ends.
            let body = format!(r#"[{{"w":{writer},"m":0}},{{"w":{writer},"m":1}}]"#);
            let append = Append {
                content_type: Some("application/json".into()),
                payload: Some(Payload::frame("application/json", body.as_bytes(), false)),
                close: false,
                stream_seq: None,
                producer: None,
            };
            match store.append(&key, append).await.unwrap() {
                Appended::Written { tail, .. } => tail,
                other => panic!("{other:?}"),
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.commit().await.unwrap();
    let mut tails = vec![0];
    for task in tasks {
        tails.push(task.await.unwrap());
    }
    tails.sort_unstable();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM streams.runs").fetch_one(&pool).await.unwrap();
    assert!(rows < 16, "the appends share rows ({rows} rows)");

    // Read with the smallest budget, each read gives out one whole append and ends
    // where the next starts: the offsets a reader sees are exactly the appends' ends.
    let mut seen = vec![0];
    let mut at = 0;
    while at < *tails.last().unwrap() {
        let batch = store.read(&key, ReadFrom::At(at), 1).await.unwrap();
        let slices: Vec<_> = batch.slices().collect();
        assert_eq!(slices.len(), 1);
        assert_eq!(slices[0].data.iter().filter(|&&b| b == b'{').count(), 2, "one append, both messages");
        at = batch.next;
        seen.push(at);
    }
    assert_eq!(seen, tails);
    for pair in tails.windows(2) {
        let inside = pair[0] + 1;
        assert!(matches!(store.read(&key, ReadFrom::At(inside), 1 << 20).await, Err(StoreError::OffsetNotBoundary(_))));
    }
    // A fork from inside a shared row takes its messages from the append that starts there.
    let fork = |offset, sub_offset| CreateStream {
        fork: Some(ForkFrom { path: "chat".into(), offset: Some(offset), sub_offset }),
        ..CreateStream::new("application/json")
    };
    let (at, next) = (tails[5], tails[6]);
    let forked = StreamKey::new("owner", "fork");
    store.create(&forked, fork(at, 1)).await.unwrap();
    let batch = store.read(&forked, ReadFrom::At(at), 1 << 20).await.unwrap();
    assert_eq!(batch.slices().map(|s| s.data.iter().filter(|&&b| b == b'{').count()).sum::<usize>(), 1);
    let too_far = store.create(&StreamKey::new("owner", "fork2"), fork(at, 3)).await;
    assert!(
        matches!(too_far, Err(StoreError::Create(CreateError::SubOffsetTooFar { available: 2, .. }))),
        "{too_far:?}"
    );
    let inside = store.create(&StreamKey::new("owner", "fork3"), fork(next - 1, 0)).await;
    assert!(matches!(inside, Err(StoreError::Create(CreateError::ForkOffsetNotBoundary(_)))), "{inside:?}");
    stop.cancel();
}

/// Each process remembers the streams its batches wrote and writes the next batch
/// without locking them, checking they did not change: two processes taking turns on
/// one stream must each notice the other's appends, producers and close.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_taking_turns_on_one_stream_see_each_others_writes() {
    let database = TestDatabase::postgres().await;
    let (a, pool, stop_a) = open(&database, UNLIMITED).await;
    let (b, _, stop_b) = open(&database, UNLIMITED).await;
    let key = StreamKey::new("owner", "shared");
    a.create(&key, CreateStream::new("text/plain")).await.unwrap();
    let mut expected = String::new();
    for seq in 0..40 {
        let (store, writer) = if seq % 2 == 0 { (&a, 0) } else { (&b, 1) };
        let body = record(writer, seq);
        let appended = store.append(&key, text(&body, tag(9, seq))).await.unwrap();
        expected.push_str(&body);
        assert!(
            matches!(appended, Appended::Written { tail, .. } if tail == expected.len() as u64),
            "append {seq}: {appended:?}"
        );
    }
    // A retry of the last append through the other process is a duplicate.
    let again = a.append(&key, text(&record(1, 39), tag(9, 39))).await.unwrap();
    assert!(matches!(again, Appended::Duplicate { .. }), "{again:?}");
    assert_eq!(read_all(&a, &key).await, expected);

    let close = Append { payload: None, close: true, ..text("", None) };
    b.append(&key, close).await.unwrap();
    let late = a.append(&key, text(&record(0, 99), None)).await;
    assert!(matches!(late, Err(StoreError::Append(AppendError::Closed { .. }))), "{late:?}");
    let owner_bytes: i64 =
        sqlx::query_scalar("SELECT bytes FROM streams.owners WHERE owner = 'owner'").fetch_one(&pool).await.unwrap();
    assert_eq!(owner_bytes as usize, expected.len());
    stop_a.cancel();
    stop_b.cancel();
}
