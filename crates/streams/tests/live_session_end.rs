//! Long-lived reads end with their session: an SSE response or a pending long-poll
//! ends within seconds of the session being revoked (row deleted) or expiring (its
//! `expires_at` moved into the past), on both setups: the file store with SQLite auth
//! (no notifications: periodic recheck) and PostgreSQL for both.

mod stream_support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use stream_support::Running;
use superset_auth_db::AuthDb;
use superset_streams::StorageKind;

/// Far below the 60 s an SSE response otherwise runs and the 30 s of a long-poll.
const ENDS_WITHIN: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Ending {
    Revoked,
    Expired,
}

async fn end_session(db: &AuthDb, token: &str, ending: Ending) {
    let changed = match (ending, db) {
        (Ending::Revoked, _) => u64::from(db.delete_session(token).await.unwrap()),
        (Ending::Expired, AuthDb::Postgres(_)) => sqlx::query(
            "UPDATE auth.sessions SET expires_at = (now() AT TIME ZONE 'utc') - interval '1 minute' WHERE token = $1",
        )
        .bind(token)
        .execute(db.pg_pool().unwrap())
        .await
        .unwrap()
        .rows_affected(),
        (Ending::Expired, AuthDb::Sqlite(_)) => sqlx::query("UPDATE sessions SET expires_at = ?1 WHERE token = ?2")
            .bind(chrono::Utc::now().timestamp_millis() - 60_000)
            .bind(token)
            .execute(db.sqlite_pool().unwrap())
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(changed, 1);
}

/// A user of its own for each case, with a stream to read.
async fn reader(server: &Running, name: &str) -> (String, String) {
    let (_, token) = server.other_user(&format!("{name}@example.com")).await;
    let url = server.stream(name);
    let put = server.client.put(&url).bearer_auth(&token).header("content-type", "text/plain").body("hello");
    assert_eq!(put.send().await.unwrap().status(), 201);
    (token, url)
}

async fn sse_ends(server: &Running, ending: Ending) {
    let (token, url) = reader(server, &format!("sse-{ending:?}").to_lowercase()).await;
    let response = server.client.get(format!("{url}?offset=-1&live=sse")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    // The data and the first control event arrive; then the response waits for more.
    assert!(body.next().await.unwrap().is_ok());
    end_session(&server.db, &token, ending).await;
    let ended = Instant::now();
    let drained = tokio::time::timeout(ENDS_WITHIN, async { while let Some(Ok(_)) = body.next().await {} });
    drained.await.unwrap_or_else(|_| panic!("SSE still open {ENDS_WITHIN:?} after the session was {ending:?}"));
    println!("SSE ended {:?} after the session was {ending:?}", ended.elapsed());
    let again = server.client.get(format!("{url}?offset=-1&live=sse")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(again.status(), 401);
}

async fn long_poll_ends(server: &Running, ending: Ending) {
    let (token, url) = reader(server, &format!("poll-{ending:?}").to_lowercase()).await;
    let poll = server.client.get(format!("{url}?offset=now&live=long-poll")).bearer_auth(&token).send();
    let poll = tokio::spawn(poll);
    tokio::time::sleep(Duration::from_millis(300)).await;
    end_session(&server.db, &token, ending).await;
    let ended = Instant::now();
    let answer = tokio::time::timeout(ENDS_WITHIN, poll)
        .await
        .unwrap_or_else(|_| panic!("long-poll still pending {ENDS_WITHIN:?} after the session was {ending:?}"));
    println!("long-poll ended {:?} after the session was {ending:?}", ended.elapsed());
    let answer = answer.unwrap().unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["www-authenticate"], "Bearer");
}

async fn live_reads_end_with_their_session(storage: StorageKind) {
    let server = stream_support::start(storage, |_| {}).await;
    for ending in [Ending::Revoked, Ending::Expired] {
        sse_ends(&server, ending).await;
        long_poll_ends(&server, ending).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_with_sqlite_auth() {
    live_reads_end_with_their_session(StorageKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    live_reads_end_with_their_session(StorageKind::Postgres).await;
}
