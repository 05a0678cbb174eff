//! Two server processes' worth of servers on one PostgreSQL database: a writer on
//! instance A, SSE and long-poll readers on instance B. B learns of A's appends through
//! LISTEN/NOTIFY; each reader must get every message exactly once, in order.

mod stream_support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use superset_streams::store::{Append, CreateStream, ForkFrom, PgStore, Quota, ReadFrom, Store, StreamKey};
use superset_streams::StorageKind;

/// The stores these tests open directly hold no per-user limit.
const UNLIMITED: Quota = Quota { streams: u64::MAX, bytes: u64::MAX };
use superset_testkit::TestDatabase;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const MESSAGES: usize = 60;

/// Follows a stream over SSE until `count` messages arrived; returns them.
/// `established` is told once the reader has caught up: from then on, what it gets
/// comes through the live path.
async fn sse_reader(
    client: reqwest::Client,
    url: String,
    token: String,
    count: usize,
    established: oneshot::Sender<()>,
) -> Vec<Value> {
    let mut received = Vec::new();
    let mut offset = "-1".to_owned();
    let mut established = Some(established);
    while received.len() < count {
        let response = client.get(format!("{url}?offset={offset}&live=sse")).bearer_auth(&token).send().await.unwrap();
        if response.status() == 429 {
            // A probe of `until_readers_hold_every_slot` held the slot for a moment.
            continue;
        }
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(bytes) = body.next().await {
            buffer.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let kind = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_default().to_owned();
                let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).collect();
                let data: Value = serde_json::from_str(&data.join("\n")).unwrap();
                match kind.as_str() {
                    "data" => received.extend(data.as_array().unwrap().iter().cloned()),
                    "control" => {
                        offset = data["streamNextOffset"].as_str().unwrap().to_owned();
                        if data["upToDate"] == true {
                            if let Some(established) = established.take() {
                                established.send(()).unwrap();
                            }
                        }
                    }
                    other => panic!("unexpected event {other:?}"),
                }
            }
            if received.len() >= count {
                break;
            }
        }
    }
    received
}

/// Long-polls a stream from its start until `count` messages arrived.
async fn long_poll_reader(client: reqwest::Client, url: String, token: String, count: usize) -> Vec<Value> {
    let mut received = Vec::new();
    let mut offset = "-1".to_owned();
    while received.len() < count {
        let response =
            client.get(format!("{url}?offset={offset}&live=long-poll")).bearer_auth(&token).send().await.unwrap();
        let status = response.status();
        if status == 429 {
            // A probe of `until_readers_hold_every_slot` held the slot for a moment.
            continue;
        }
        offset = response.headers()["stream-next-offset"].to_str().unwrap().to_owned();
        if status == 200 {
            let batch: Vec<Value> = response.json().await.unwrap();
            received.extend(batch);
        } else {
            assert_eq!(status, 204);
        }
    }
    received
}

/// Waits until the live reads of `token`'s user on the instance at `base` hold every
/// slot that instance allows them (`max_readers`): a live read of a stream that does
/// not exist is then refused for want of a slot (429), not answered 404. A reader takes
/// its slot just before it subscribes to the stream. The probe holds a slot for a
/// moment only; a reader refused meanwhile asks again.
async fn until_readers_hold_every_slot(client: &reqwest::Client, base: &str, token: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let probe = client.get(format!("{base}/v1/stream/no-such-stream?offset=-1&live=long-poll")).bearer_auth(token);
        let response = probe.send().await.unwrap();
        match response.status().as_u16() {
            429 => {
                let refusal: Value = response.json().await.unwrap();
                if refusal["limit"] == "readers" {
                    return;
                }
            }
            404 => {}
            other => panic!("probe answered {other}"),
        }
        assert!(std::time::Instant::now() < deadline, "the readers never took their slots");
        // Paces the probes, which count against the user's request rate.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_on_one_instance_get_every_append_made_on_another_once_in_order() {
    let a = stream_support::start(StorageKind::Postgres, |c| c.long_poll_timeout_ms = 5_000).await;
    let b = stream_support::serve(a.database.url(), StorageKind::Postgres, a.data.path().join("b"), |c| {
        c.long_poll_timeout_ms = 5_000;
        c.user_limits.max_readers = 2;
    })
    .await;
    let b_addr = b.addr;
    let b_url = format!("http://{b_addr}/v1/stream/chat/shared");

    let created =
        a.request(reqwest::Method::PUT, "chat/shared").header("content-type", "application/json").send().await.unwrap();
    assert_eq!(created.status(), 201);

    // Both readers subscribe to the empty stream before anything is written, so every
    // message reaches them through B's notifications.
    let (established, sse_caught_up) = oneshot::channel();
    let sse = tokio::spawn(sse_reader(a.client.clone(), b_url.clone(), a.token.clone(), MESSAGES, established));
    sse_caught_up.await.expect("the SSE reader catches up");
    let long_poll = tokio::spawn(long_poll_reader(a.client.clone(), b_url.clone(), a.token.clone(), MESSAGES));
    until_readers_hold_every_slot(&a.client, &format!("http://{b_addr}"), &a.token).await;

    for i in 0..MESSAGES {
        let appended = a
            .request(reqwest::Method::POST, "chat/shared")
            .header("content-type", "application/json")
            .body(json!({ "i": i }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(appended.status(), 204);
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let expected: Vec<Value> = (0..MESSAGES).map(|i| json!({ "i": i })).collect();
    let deadline = Duration::from_secs(30);
    let sse = tokio::time::timeout(deadline, sse).await.expect("SSE reader finishes").unwrap();
    assert_eq!(sse, expected, "SSE on instance B");
    let long_poll = tokio::time::timeout(deadline, long_poll).await.expect("long-poll reader finishes").unwrap();
    assert_eq!(long_poll, expected, "long-poll on instance B");

    b.stop().await.unwrap();
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_one_instance_wakes_for_an_append_on_another() {
    let a = stream_support::start(StorageKind::Postgres, |c| c.long_poll_timeout_ms = 20_000).await;
    let b = stream_support::serve(a.database.url(), StorageKind::Postgres, a.data.path().join("b"), |c| {
        c.long_poll_timeout_ms = 20_000;
        c.user_limits.max_readers = 1;
    })
    .await;
    let b_addr = b.addr;
    let created = a.request(reqwest::Method::PUT, "wake").header("content-type", "text/plain").send().await.unwrap();
    assert_eq!(created.status(), 201);
    let tail = created.headers()["stream-next-offset"].to_str().unwrap().to_owned();

    let url = format!("http://{b_addr}/v1/stream/wake?offset={tail}&live=long-poll");
    let (client, token) = (a.client.clone(), a.token.clone());
    let waiting = tokio::spawn(async move {
        loop {
            let response = client.get(&url).bearer_auth(&token).send().await?;
            // 429: a probe of `until_readers_hold_every_slot` held the slot for a moment.
            if response.status() != 429 {
                return Ok::<_, reqwest::Error>(response);
            }
        }
    });
    until_readers_hold_every_slot(&a.client, &format!("http://{b_addr}"), &a.token).await;
    let started = std::time::Instant::now();
    let appended = a
        .request(reqwest::Method::POST, "wake")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(appended.status(), 204);
    let woken = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("woken well before the timeout")
        .unwrap()
        .unwrap();
    println!("long-poll on B woke {:?} after the append on A returned", started.elapsed());
    assert_eq!(woken.status(), 200);
    assert_eq!(woken.text().await.unwrap(), "hello");

    b.stop().await.unwrap();
    a.stop().await;
}

/// An instance whose notification connection drops may miss other instances' appends
/// made meanwhile: its live readers must be woken to read again, not left waiting for
/// the stream's next append (found by scripts/soak: after a PostgreSQL restart some
/// subscribers stalled until their connection's one-minute reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_readers_are_woken_when_the_notification_connection_drops() {
    let database = TestDatabase::postgres().await;
    let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
    let stop = CancellationToken::new();
    let store = PgStore::open(pool.clone(), stop.clone(), UNLIMITED).await.unwrap();
    let key = StreamKey::new("owner", "woken");
    store.create(&key, CreateStream::new("text/plain")).await.unwrap();

    let listeners = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                     AND query LIKE 'LISTEN %streams_changed%'";
    let mut listening = Vec::new();
    for _ in 0..100 {
        listening = sqlx::query_scalar::<_, i32>(listeners).fetch_all(&pool).await.unwrap();
        if !listening.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listening.len(), 1, "the store listens on one connection");
    let mut watch = store.watch(&key).await.unwrap();
    // The wake-up that follows LISTEN itself must not count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    watch.borrow_and_update();

    sqlx::query("SELECT pg_terminate_backend($1)").bind(listening[0]).execute(&pool).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), watch.changed())
        .await
        .expect("live readers are woken when the notification connection drops")
        .unwrap();
    stop.cancel();
}

/// What another instance appends while this one's notification connection is down
/// reaches this one's live readers once it is back: the reads they share must not
/// answer with the tail known before the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_made_while_the_notification_connection_was_down_is_read_after_it() {
    let database = TestDatabase::postgres().await;
    let stop = CancellationToken::new();
    let here_pool = sqlx::PgPool::connect(&format!("{}?application_name=here", database.url())).await.unwrap();
    let here = PgStore::open(here_pool.clone(), stop.clone(), UNLIMITED).await.unwrap();
    let other =
        PgStore::open(sqlx::PgPool::connect(database.url()).await.unwrap(), stop.clone(), UNLIMITED).await.unwrap();
    let key = StreamKey::new("owner", "gap");
    here.create(&key, CreateStream::new("application/json")).await.unwrap();
    let mut watch = here.watch(&key).await.unwrap();
    let tail = watch.borrow().tail;
    for _ in 0..2 {
        assert!(here.read_live(&key, tail, 1 << 16).await.unwrap().is_empty());
    }

    let listener = "SELECT pid FROM pg_stat_activity WHERE application_name = 'here' \
                    AND query LIKE 'LISTEN %streams_changed%'";
    let pid: i32 = sqlx::query_scalar(listener).fetch_one(&here_pool).await.unwrap();
    watch.borrow_and_update();
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&here_pool).await.unwrap();
    // Woken by the loss itself; the connection is re-made a second later, so this
    // append's notification never reaches `here`.
    tokio::time::timeout(Duration::from_secs(5), watch.changed()).await.expect("woken by the loss").unwrap();
    other.append(&key, Append::json(&json!({"n": 1}))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), watch.changed()).await.expect("woken once back").unwrap();
    let after = here.read_live(&key, tail, 1 << 16).await.unwrap();
    assert!(after.next > tail, "the append made during the gap is read once the connection is back");
    stop.cancel();
}

/// The messages of `key` from `at` on, and where they end.
async fn messages(store: &PgStore, key: &StreamKey, at: u64) -> (Vec<Value>, u64) {
    let batch = store.read(key, ReadFrom::At(at), 1 << 20).await.unwrap();
    assert!(batch.up_to_date());
    let parts: Vec<String> = batch.slices().map(|s| String::from_utf8(s.data.to_vec()).unwrap()).collect();
    (serde_json::from_str(&format!("[{}]", parts.join(","))).unwrap(), batch.next)
}

/// Each process keeps the appends it read and wrote, and hears of changes a moment after
/// they are made; what another process appends, deletes and creates again, or forks, is
/// still read as it is now (a session's writer relies on that to find its tail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_see_what_another_instance_changed_whatever_this_one_keeps() {
    let database = TestDatabase::postgres().await;
    let stop = CancellationToken::new();
    let open = || async {
        PgStore::open(sqlx::PgPool::connect(database.url()).await.unwrap(), stop.clone(), UNLIMITED).await.unwrap()
    };
    let (here, other) = (open().await, open().await);
    let key = StreamKey::new("owner", "kept");
    here.create(&key, CreateStream::new("application/json")).await.unwrap();
    let _live = here.watch(&key).await.unwrap();
    for n in 0..3 {
        here.append(&key, Append::json(&json!({"n": n}))).await.unwrap();
    }
    let (first, tail) = messages(&here, &key, 0).await;
    assert_eq!(first, [json!({"n": 0}), json!({"n": 1}), json!({"n": 2})]);

    other.append(&key, Append::json(&json!({"n": 3}))).await.unwrap();
    let (all, _) = messages(&here, &key, 0).await;
    assert_eq!(all.len(), 4, "the kept appends, then the other instance's");
    assert_eq!(all[3], json!({"n": 3}));
    assert_eq!(messages(&here, &key, tail).await.0, [json!({"n": 3})]);
    assert!(matches!(
        here.read(&key, ReadFrom::At(tail - 1), 1 << 20).await,
        Err(superset_streams::store::StoreError::OffsetNotBoundary(_))
    ));

    let fork = StreamKey::new("owner", "kept-fork");
    let from_tail = CreateStream {
        fork: Some(ForkFrom { path: "kept".into(), offset: Some(tail), sub_offset: 0 }),
        ..CreateStream::new("application/json")
    };
    other.create(&fork, from_tail).await.unwrap();
    other.append(&fork, Append::json(&json!({"fork": true}))).await.unwrap();
    let (forked, _) = messages(&here, &fork, 0).await;
    assert_eq!(forked, [json!({"n": 0}), json!({"n": 1}), json!({"n": 2}), json!({"fork": true})]);

    other.delete(&fork).await.unwrap();
    other.delete(&key).await.unwrap();
    other.create(&key, CreateStream::new("application/json")).await.unwrap();
    other.append(&key, Append::json(&json!({"again": 0}))).await.unwrap();
    assert_eq!(messages(&here, &key, 0).await.0, [json!({"again": 0})], "created again: nothing kept is read");
    stop.cancel();
}
