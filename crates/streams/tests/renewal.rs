//! Sliding expiry at the streams server: a session in use is renewed when a lookup
//! finds it due, once per update age, off the request path; on both databases, with
//! the token cache off (every request looks up) and on.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use superset_auth_db::{AuthDb, NewSession, NewUser};
use superset_testkit::{Backend, TestDatabase};
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_use_are_renewed_once_per_update_age() {
    for backend in Backend::ALL {
        for cache in [false, true] {
            renewed(backend, cache).await;
        }
    }
}

async fn renewed(backend: Backend, cache: bool) {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.unwrap();
    let user = NewUser { name: "Ada".into(), email: "ada@example.com".into(), email_verified: true, image: None };
    let user = auth.upsert_user(&user).await.unwrap();
    let ttl = Duration::from_secs(20);
    let session = auth.create_session(&NewSession { ttl, ..NewSession::for_user(&user.id) }).await.unwrap();
    let server = TestServer::start_with(db.url(), |c| {
        c.auth_cache = cache;
        c.session_ttl = ttl;
        c.session_update_age = Duration::from_secs(1);
    })
    .await;
    let label = format!("{backend:?}, cache {cache}");
    assert_eq!(server.me(&session.token).await.status(), StatusCode::OK);
    let stored = auth.find_session(&session.token).await.unwrap().unwrap();
    assert_eq!(stored.expires_at.timestamp_millis(), session.expires_at.timestamp_millis(), "{label}: not due");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    // With the cache on, the entry may be served until it lapses (1 s unproven, 30 s
    // when notifications are proven, which an UPDATE's notification cuts short only
    // after a write): keep using the session until a lookup renews it.
    let deadline = Instant::now() + Duration::from_secs(35);
    let renewed = loop {
        assert_eq!(server.me(&session.token).await.status(), StatusCode::OK, "{label}");
        let now = auth.find_session(&session.token).await.unwrap().unwrap();
        if now.expires_at > session.expires_at {
            break now;
        }
        assert!(Instant::now() < deadline, "{label}: never renewed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected = chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap();
    assert!((renewed.expires_at - expected).num_milliseconds().abs() < 2000, "{label}: {renewed:?}");
    // Requests right after it find it renewed: no further write.
    for _ in 0..20 {
        assert_eq!(server.me(&session.token).await.status(), StatusCode::OK, "{label}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = auth.find_session(&session.token).await.unwrap().unwrap();
    assert_eq!(after.renewed_at, renewed.renewed_at, "{label}: one write per update age");
    server.stop().await;
}
