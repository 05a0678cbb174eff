//! The session middleware against real databases: every way a request can be refused,
//! and the one way it is let through.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use superset_auth_db::AuthDb;
use superset_testkit::{user_with_session, Backend, TcpProxy, TestDatabase};
use support::TestServer;

/// Runs an async test body once per database backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
    };
}

on_both_backends!(
    valid_token_reaches_the_handler_with_its_user,
    every_bad_credential_gets_the_same_401,
    hostile_tokens_are_plain_401s,
    signed_better_auth_form_is_accepted,
    revoked_session_is_refused_on_the_next_request,
    revoked_session_is_refused_with_the_cache_on,
    expired_session_is_refused,
    probes_need_no_token,
    cors_preflight_is_answered_without_a_token,
);

struct Fixture {
    db: TestDatabase,
    auth: AuthDb,
    user_id: String,
    token: String,
}

async fn fixture(backend: Backend) -> Fixture {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.expect("connect");
    let (user_id, token) = user_with_session(&auth, "ada@example.com").await;
    Fixture { db, auth, user_id, token }
}

async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"error": "Unauthorized"}));
}

async fn valid_token_reaches_the_handler_with_its_user(backend: Backend) {
    let f = fixture(backend).await;
    let (other_id, other_token) = user_with_session(&f.auth, "grace@example.com").await;
    for cache in [false, true] {
        let server = TestServer::start(f.db.url(), cache).await;
        for _ in 0..2 {
            let response = server.me(&f.token).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.json::<Value>().await.unwrap(), json!({"userId": f.user_id}));
        }
        let response = server.get("/v1/me", Some(&format!("bearer {other_token}"))).await;
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"userId": other_id}));
        server.stop().await;
    }
}

async fn every_bad_credential_gets_the_same_401(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    let basic = format!("Basic {}", f.token);
    let cases: [Option<&str>; 6] = [
        None,
        Some(&basic),
        Some("Bearer"),
        Some("Bearer "),
        Some("Bearer 9q3Xb3ZrUuY0Cw6m3d5m1nq2Z2fJ3rR0yqk2PpPqVvA"),
        Some("Token abc"),
    ];
    for authorization in cases {
        assert_unauthorized(server.get("/v1/me", authorization).await).await;
    }
    // Unknown routes under /v1 are refused before they are routed.
    assert_unauthorized(server.get("/v1/nothing-here", None).await).await;
    server.stop().await;
}

async fn hostile_tokens_are_plain_401s(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), false).await;
    let garbage: String = (0..10 * 1024).map(|i| (b'!' + (i % 90) as u8) as char).collect();
    for token in ["' OR '1'='1", "x'; DROP TABLE auth.sessions; --", "%00\\", garbage.as_str()] {
        assert_unauthorized(server.me(token).await).await;
    }
    // The table survived and the real token still works.
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    server.stop().await;
}

async fn signed_better_auth_form_is_accepted(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), false).await;
    let signed = format!("{}.dGhpcyBpcyBhbiBITUFDIHNpZ25hdHVyZQ==", f.token);
    let response = server.me(&signed).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"userId": f.user_id}));
    // The part before the dot must itself be a valid token.
    assert_unauthorized(server.me("not-a-session.c2lnbmF0dXJl").await).await;
    server.stop().await;
}

async fn revoked_session_is_refused_on_the_next_request(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), false).await;
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    assert!(f.auth.delete_session(&f.token).await.unwrap());
    assert_unauthorized(server.me(&f.token).await).await;
    server.stop().await;
}

/// With the cache on, PostgreSQL's notification drops the entry at once; without a
/// notification channel (SQLite) an entry lives at most 1 s.
async fn revoked_session_is_refused_with_the_cache_on(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    // Let the PostgreSQL listener attach, so the entry below is cached for long.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    assert!(f.auth.delete_session(&f.token).await.unwrap());
    let revoked = Instant::now();
    let limit = match backend {
        Backend::Postgres => Duration::from_millis(500),
        Backend::Sqlite => Duration::from_millis(1500),
    };
    loop {
        let status = server.me(&f.token).await.status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(revoked.elapsed() < limit, "revoked token still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

async fn expired_session_is_refused(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    expire(&f.auth, &f.token).await;
    // The cache entry is dropped by the UPDATE's notification (PostgreSQL) or its
    // 1 s lifetime; a fresh server has no cache at all.
    let fresh = TestServer::start(f.db.url(), false).await;
    assert_unauthorized(fresh.me(&f.token).await).await;
    fresh.stop().await;
    server.stop().await;
}

async fn expire(auth: &AuthDb, token: &str) {
    let changed = match auth {
        AuthDb::Postgres(_) => sqlx::query(
            "UPDATE auth.sessions SET expires_at = (now() AT TIME ZONE 'utc') - interval '1 minute' WHERE token = $1",
        )
        .bind(token)
        .execute(auth.pg_pool().unwrap())
        .await
        .unwrap()
        .rows_affected(),
        AuthDb::Sqlite(_) => sqlx::query("UPDATE sessions SET expires_at = ?1 WHERE token = ?2")
            .bind(chrono_now_ms() - 60_000)
            .bind(token)
            .execute(auth.sqlite_pool().unwrap())
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(changed, 1);
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn probes_need_no_token(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    for path in ["/health", "/health/live", "/health/ready"] {
        assert_eq!(server.get(path, None).await.status(), StatusCode::OK, "{path}");
    }
    server.stop().await;
}

async fn cors_preflight_is_answered_without_a_token(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start_with(f.db.url(), |c| c.cors_origins = vec!["http://app.example".into()]).await;
    let response = server
        .client
        .request(reqwest::Method::OPTIONS, server.url("/v1/stream/chat"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "preflight got {}", response.status());
    assert_eq!(response.headers()["access-control-allow-origin"], "http://app.example");
    // The real request still needs the token, and exposes the protocol's headers.
    let response = server
        .client
        .get(server.url("/v1/me"))
        .header("origin", "http://app.example")
        .header("authorization", format!("Bearer {}", f.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let exposed = response.headers()["access-control-expose-headers"].to_str().unwrap().to_owned();
    assert!(exposed.contains("stream-next-offset"), "{exposed}");
    server.stop().await;
}

/// A database that goes away is a 503 with Retry-After, never a 401 (which would sign
/// the user out), and the server recovers when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_or_hung_database_is_503_then_recovers() {
    let f = fixture(Backend::Postgres).await;
    let proxy = TcpProxy::start(f.db.server_addr()).await;
    let server = TestServer::start(&f.db.url_via(proxy.addr()), false).await;
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);

    for outage in [TcpProxy::cut as fn(&TcpProxy), TcpProxy::stall] {
        outage(&proxy);
        let response = server.me(&f.token).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"error": "Service unavailable"}));
        assert_eq!(server.get("/health", None).await.status(), StatusCode::OK);
        assert_eq!(server.get("/health/ready", None).await.status(), StatusCode::SERVICE_UNAVAILABLE);

        proxy.restore();
        let back = Instant::now();
        while server.me(&f.token).await.status() != StatusCode::OK {
            assert!(back.elapsed() < Duration::from_secs(15), "server did not recover");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(server.get("/health/ready", None).await.status(), StatusCode::OK);
    }
    server.stop().await;
}

/// Expiry is checked right whatever the session's `TimeZone`, for both column layouts
/// found in the wild: `timestamp` holding UTC wall-clock time and `timestamptz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_right_in_any_time_zone_and_layout() {
    for zoned in [false, true] {
        let f = fixture(Backend::Postgres).await;
        let pool = f.auth.pg_pool().unwrap();
        if zoned {
            sqlx::query(
                "ALTER TABLE auth.sessions ALTER COLUMN expires_at TYPE timestamptz USING expires_at AT TIME ZONE 'utc'",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        // Expired 1 hour ago, and valid for 1 more hour: both well inside any UTC offset.
        let (_, expired) = user_with_session(&f.auth, "old@example.com").await;
        let column = if zoned { "now() - interval '1 hour'" } else { "(now() AT TIME ZONE 'utc') - interval '1 hour'" };
        sqlx::query(&format!("UPDATE auth.sessions SET expires_at = {column} WHERE token = $1"))
            .bind(&expired)
            .execute(pool)
            .await
            .unwrap();
        let valid = f.token.clone();
        let update = if zoned { "now() + interval '1 hour'" } else { "(now() AT TIME ZONE 'utc') + interval '1 hour'" };
        sqlx::query(&format!("UPDATE auth.sessions SET expires_at = {update} WHERE token = $1"))
            .bind(&valid)
            .execute(pool)
            .await
            .unwrap();

        for zone in ["America/Los_Angeles", "Asia/Tokyo"] {
            let database = f.db.url().rsplit('/').next().unwrap().to_owned();
            sqlx::query(&format!("ALTER DATABASE {database} SET timezone TO '{zone}'")).execute(pool).await.unwrap();
            let url = format!("{}?options=-c%20TimeZone%3D{}", f.db.url(), zone.replace('/', "%2F"));
            let server = TestServer::start(&url, false).await;
            // Prove the server's own sessions run in that zone, so the test is not vacuous.
            let probe = AuthDb::connect(&url.parse().unwrap()).await.unwrap();
            let shown: String = sqlx::query_scalar("SHOW TimeZone").fetch_one(probe.pg_pool().unwrap()).await.unwrap();
            assert_eq!(shown, zone);

            assert_unauthorized(server.me(&expired).await).await;
            assert_eq!(server.me(&valid).await.status(), StatusCode::OK, "zoned={zoned} zone={zone}");
            server.stop().await;
        }
    }
}
