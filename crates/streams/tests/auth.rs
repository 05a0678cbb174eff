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
    ambiguous_authorization_is_401,
    hostile_tokens_are_plain_401s,
    signed_better_auth_form_is_accepted,
    revoked_session_is_refused_on_the_next_request,
    revoked_session_is_refused_with_the_cache_on,
    expired_session_is_refused,
    probes_need_no_token,
    cors_preflight_is_answered_without_a_token,
    unknown_paths_are_refused_without_a_session,
    failed_lookups_are_limited_per_client,
    an_unknown_token_flood_leaves_valid_users_served,
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

/// Authorization fields that two HTTP components could read differently, sent as raw
/// bytes (a client library would tidy them): each is a 401 even when the real token is
/// in it, and the plain field still works.
async fn ambiguous_authorization_is_401(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    let t = f.token.as_str();
    let cases: Vec<Vec<u8>> = vec![
        format!("Authorization: Bearer {t}\r\nAuthorization: Bearer {t}").into(),
        format!("Authorization: Bearer {t}, Bearer {t}").into(),
        format!("Authorization: Bearer {t},{t}").into(),
        format!("Authorization: Bearer\t{t}").into(),
        format!("Authorization: Bearer \t{t}").into(),
        format!("Authorization: Bearer {t} x").into(),
        format!("Authorization: Bearer {t}\x01").into(),
        [format!("Authorization: Bearer {t}").as_bytes(), b"\xff"].concat(),
        format!("Authorization: Bearer \"{t}\"").into(),
        format!("Authorization: Bearer ={t}").into(),
        format!("Authorization: Bearer token={t}").into(),
        format!("Authorization: Bearer {t};x=1").into(),
    ];
    for field in cases {
        let status = raw_status(&server, &field).await;
        // hyper itself refuses a control character with 400, before any handler runs.
        let expected = if field.contains(&1) { "400" } else { "401" };
        assert_eq!(status, expected, "for {:?}", String::from_utf8_lossy(&field));
    }
    for field in [format!("Authorization: Bearer {t}"), format!("authorization: bearer   {t} ")] {
        assert_eq!(raw_status(&server, field.as_bytes()).await, "200", "{field}");
    }
    server.stop().await;
}

/// The status code of `GET /v1/me` sent with `field` as raw header bytes.
async fn raw_status(server: &TestServer, field: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = [b"GET /v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n", field, b"\r\n\r\n"].concat();
    socket.write_all(&request).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    response.split(' ').nth(1).unwrap_or_default().to_owned()
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

/// With the cache on, a validated token is answered from the cache; its revocation is
/// still refused at once through PostgreSQL's notification, and without a notification
/// channel (SQLite) once the entry's 1 s lifetime is over.
async fn revoked_session_is_refused_with_the_cache_on(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    if backend == Backend::Postgres {
        until_notifications_are_proven(&f, &server).await;
    }
    answered_from_the_cache(&f.auth, &server, &f.token).await;
    assert!(f.auth.delete_session(&f.token).await.unwrap());
    refused_within(&server, &f.token, revocation_limit(backend)).await;
    server.stop().await;
}

/// How soon a revocation takes effect with the cache on.
fn revocation_limit(backend: Backend) -> Duration {
    match backend {
        Backend::Postgres => Duration::from_millis(500),
        Backend::Sqlite => Duration::from_millis(1500),
    }
}

/// Proves `token` is answered from `server`'s cache: once it is let through, its session
/// is expired behind the server's back (no trigger fires) and it is still let through.
/// Without notifications an entry lives 1 s, so the second request must come within
/// that: if it did not (a slow machine), the proof is tried again.
async fn answered_from_the_cache(auth: &AuthDb, server: &TestServer, token: &str) {
    for _ in 0..5 {
        set_expiry(auth, token, chrono::Duration::hours(1), Notify::No).await;
        let cached = Instant::now();
        assert_eq!(server.me(token).await.status(), StatusCode::OK);
        set_expiry(auth, token, chrono::Duration::minutes(-1), Notify::No).await;
        let status = server.me(token).await.status();
        if cached.elapsed() < Duration::from_millis(800) {
            assert_eq!(status, StatusCode::OK, "a cached token is answered from the cache");
            return;
        }
    }
    panic!("never two requests within the cache's shortest lifetime");
}

/// An expired session is refused with the cache on: at once when the expiry is
/// announced (PostgreSQL), within the 1 s lifetime otherwise; a fresh server without
/// a cache refuses it too. And an entry never outlives its session's `expires_at`,
/// though nothing announces that.
async fn expired_session_is_refused(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    if backend == Backend::Postgres {
        until_notifications_are_proven(&f, &server).await;
    }
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    set_expiry(&f.auth, &f.token, chrono::Duration::minutes(-1), Notify::Yes).await;
    refused_within(&server, &f.token, revocation_limit(backend)).await;
    let fresh = TestServer::start(f.db.url(), false).await;
    assert_unauthorized(fresh.me(&f.token).await).await;
    fresh.stop().await;

    let (_, brief) = user_with_session(&f.auth, "brief@example.com").await;
    let lifetime = Duration::from_secs(3);
    set_expiry(&f.auth, &brief, chrono::Duration::from_std(lifetime).unwrap(), Notify::No).await;
    let expires = Instant::now() + lifetime;
    assert_eq!(server.me(&brief).await.status(), StatusCode::OK);
    if backend == Backend::Postgres {
        // Cached for long: past the 1 s fallback, a silent revocation does not reach it.
        delete_silently(&f.auth, &brief).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(Instant::now() < expires, "too slow to prove anything");
        assert_eq!(server.me(&brief).await.status(), StatusCode::OK, "answered from the cache");
    }
    tokio::time::sleep_until((expires + Duration::from_millis(100)).into()).await;
    assert_unauthorized(server.me(&brief).await).await;
    server.stop().await;
}

/// Whether a change to a session fires the trigger that tells servers (PostgreSQL).
#[derive(Clone, Copy, PartialEq)]
enum Notify {
    Yes,
    No,
}

/// Moves `token`'s session expiry to `from_now` from now.
async fn set_expiry(auth: &AuthDb, token: &str, from_now: chrono::Duration, notify: Notify) {
    let changed = match auth {
        AuthDb::Postgres(_) => {
            let mut tx = auth.pg_pool().unwrap().begin().await.unwrap();
            if notify == Notify::No {
                sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.unwrap();
            }
            let changed = sqlx::query(
                "UPDATE auth.sessions SET expires_at = (now() AT TIME ZONE 'utc') + make_interval(secs => $2) \
                 WHERE token = $1",
            )
            .bind(token)
            .bind(from_now.num_milliseconds() as f64 / 1000.0)
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
            tx.commit().await.unwrap();
            changed
        }
        AuthDb::Sqlite(_) => sqlx::query("UPDATE sessions SET expires_at = ?1 WHERE token = ?2")
            .bind(chrono_now_ms() + from_now.num_milliseconds())
            .bind(token)
            .execute(auth.sqlite_pool().unwrap())
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(changed, 1);
}

/// Deletes `token`'s session on PostgreSQL without firing the trigger, as a replica's
/// apply would: the servers are not told.
async fn delete_silently(auth: &AuthDb, token: &str) {
    let mut tx = auth.pg_pool().unwrap().begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.unwrap();
    sqlx::query("DELETE FROM auth.sessions WHERE token = $1").bind(token).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
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
    assert_vary(&response);
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
    assert_vary(&response);
    server.stop().await;
}

/// Caches must know that CORS answers depend on these request headers: named once.
fn assert_vary(response: &reqwest::Response) {
    let vary: Vec<_> = response.headers().get_all("vary").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(vary, ["origin, access-control-request-method, access-control-request-headers"]);
}

/// Paths that lead nowhere, under `/v1` or not, are refused like any other without a
/// session, so an anonymous caller cannot tell which routes exist.
async fn unknown_paths_are_refused_without_a_session(backend: Backend) {
    let f = fixture(backend).await;
    let server = TestServer::start(f.db.url(), true).await;
    for path in ["/v1", "/v1/nothing-here", "/anything", "/v1/stream"] {
        assert_unauthorized(server.get(path, None).await).await;
        let bearer = format!("Bearer {}", f.token);
        assert_eq!(server.get(path, Some(&bearer)).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
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

async fn assert_too_many(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["limit"], "auth_failures");
}

/// `GET /v1/me` with `token`, as if forwarded for `client` by a trusted proxy.
async fn me_for(server: &TestServer, token: &str, client: &str) -> reqwest::Response {
    let request = server.client.get(server.url("/v1/me")).bearer_auth(token).header("x-forwarded-for", client);
    request.send().await.unwrap()
}

/// Past its limit of unknown tokens a client gets 429, never 401, even for a valid token
/// not yet cached; a token already cached is let through, and other clients (behind a
/// trusted proxy, or another /64) are not held back.
async fn failed_lookups_are_limited_per_client(backend: Backend) {
    let f = fixture(backend).await;
    let (_, uncached) = user_with_session(&f.auth, "later@example.com").await;
    let server = TestServer::start_with(f.db.url(), |c| {
        c.auth_failures_per_minute = 5;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let attacker = "2001:db8:bad:1::1";
    assert_eq!(me_for(&server, &f.token, attacker).await.status(), StatusCode::OK);
    for i in 0..5 {
        assert_unauthorized(me_for(&server, &format!("unknown-token-{i}"), attacker).await).await;
    }
    assert_too_many(me_for(&server, "unknown-token-5", attacker).await).await;
    assert_too_many(me_for(&server, &uncached, "2001:db8:bad:1:ffff::9").await).await;
    assert_eq!(me_for(&server, &f.token, attacker).await.status(), StatusCode::OK, "a cached token");
    assert_eq!(me_for(&server, &uncached, "2001:db8:bad:2::1").await.status(), StatusCode::OK, "another /64");
    assert_unauthorized(me_for(&server, "unknown-token-6", "198.51.100.7").await).await;
    server.stop().await;
}

/// Hundreds of unknown tokens at once, from as many clients, while the sessions table
/// is locked (PostgreSQL) so every lookup hangs: the lookups queue within their own
/// budget (past it, 503 at once), and a signed-in user's stream requests, which need
/// the same pool, are served throughout.
async fn an_unknown_token_flood_leaves_valid_users_served(backend: Backend) {
    const FLOOD: usize = 200;
    let f = fixture(backend).await;
    let storage = match backend {
        Backend::Postgres => superset_streams::StorageKind::Postgres,
        Backend::Sqlite => superset_streams::StorageKind::File,
    };
    let server = TestServer::start_with(f.db.url(), |c| {
        c.storage = storage;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    if backend == Backend::Postgres {
        // The signed-in user's token is then cached for long, as it is in production.
        until_notifications_are_proven(&f, &server).await;
    }
    let stream = server.url("/v1/stream/flooded");
    let put = server.client.put(&stream).bearer_auth(&f.token).header("content-type", "text/plain").send().await;
    assert_eq!(put.unwrap().status(), StatusCode::CREATED);

    let lock = match &f.auth {
        AuthDb::Postgres(_) => {
            let mut tx = f.auth.pg_pool().unwrap().begin().await.unwrap();
            sqlx::query("LOCK TABLE auth.sessions IN ACCESS EXCLUSIVE MODE").execute(&mut *tx).await.unwrap();
            Some(tx)
        }
        AuthDb::Sqlite(_) => None,
    };
    let flood: Vec<_> = (0..FLOOD)
        .map(|i| {
            let request = server
                .client
                .get(server.url("/v1/me"))
                .bearer_auth(format!("unknown-{i}"))
                .header("x-forwarded-for", format!("10.9.{}.{}", i / 250, i % 250 + 1));
            tokio::spawn(request.send())
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..5 {
        let started = Instant::now();
        let append =
            server.client.post(&stream).bearer_auth(&f.token).header("content-type", "text/plain").body(format!("{i}"));
        let status = append.send().await.unwrap().status();
        println!("append {i} during the flood: {status} in {:?}", started.elapsed());
        assert!(status.is_success(), "append during the flood: {status}");
        assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    }
    drop(lock);
    for answer in flood {
        let status = answer.await.unwrap().unwrap().status();
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::SERVICE_UNAVAILABLE,
            "an unknown token got {status}"
        );
    }
    assert_unauthorized(server.me("unknown-after").await).await;
    server.stop().await;
}

/// Waits until `server` has proven its notification path, so a validated token is
/// cached for long: without proof the test would pass on the 1 s fallback alone.
async fn until_notifications_are_proven(f: &Fixture, server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let (_, probe) = user_with_session(&f.auth, &format!("probe-{attempt}@example.com")).await;
        assert_eq!(server.me(&probe).await.status(), StatusCode::OK);
        // Revoked behind the server's back: still accepted after the 1 s fallback means
        // the entry was cached for long.
        delete_silently(&f.auth, &probe).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        if server.me(&probe).await.status() == StatusCode::OK {
            return;
        }
        assert!(Instant::now() < deadline, "the notification path was never proven");
    }
}

async fn triggers(auth: &AuthDb) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'auth.sessions'::regclass \
         AND tgname IN ('sessions_changed', 'sessions_truncated')",
    )
    .fetch_one(auth.pg_pool().unwrap())
    .await
    .unwrap()
}

/// Polls until `token` is refused, within `limit` of now.
async fn refused_within(server: &TestServer, token: &str, limit: Duration) {
    let revoked = Instant::now();
    loop {
        let status = server.me(token).await.status();
        if status == StatusCode::UNAUTHORIZED {
            println!("refused {:?} after revocation", revoked.elapsed());
            return;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(revoked.elapsed() < limit, "revoked token still accepted after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The auth schema's tooling drops the trigger after the server started: the next
/// check notices, puts it back, and a session revoked meanwhile is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_trigger_is_noticed_and_repaired() {
    let f = fixture(Backend::Postgres).await;
    let server = TestServer::start_with(f.db.url(), |c| c.auth_notify_check_ms = 1_000).await;
    until_notifications_are_proven(&f, &server).await;
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    sqlx::query("DROP TRIGGER sessions_changed ON auth.sessions").execute(f.auth.pg_pool().unwrap()).await.unwrap();
    assert_eq!(triggers(&f.auth).await, 1);
    assert!(f.auth.delete_session(&f.token).await.unwrap());
    refused_within(&server, &f.token, Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while triggers(&f.auth).await != 2 {
        assert!(Instant::now() < deadline, "the trigger was not re-installed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Repaired, it announces revocations again.
    let (_, again) = user_with_session(&f.auth, "again@example.com").await;
    assert_eq!(server.me(&again).await.status(), StatusCode::OK);
    assert!(f.auth.delete_session(&again).await.unwrap());
    refused_within(&server, &again, Duration::from_secs(5)).await;
    server.stop().await;
}

/// The LISTEN connection goes half-open (open on both ends, nothing arrives): the
/// probe does not come back, the server reconnects, and a revocation still takes
/// effect within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_listener_is_replaced() {
    let f = fixture(Backend::Postgres).await;
    let proxy = TcpProxy::start(f.db.server_addr()).await;
    let server = TestServer::start_with(&f.db.url_via(proxy.addr()), |c| c.auth_notify_check_ms = 1_000).await;
    until_notifications_are_proven(&f, &server).await;
    assert_eq!(server.me(&f.token).await.status(), StatusCode::OK);
    proxy.stall_live_sending(b"LISTEN");
    assert!(f.auth.delete_session(&f.token).await.unwrap());
    refused_within(&server, &f.token, Duration::from_secs(8)).await;
    server.stop().await;
}
