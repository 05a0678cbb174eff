//! The session queries on both drivers, against real databases.

use std::time::Duration;

use superset_auth_db::{AuthDb, NewSession, NewUser};
use superset_testkit::{Backend, TestDatabase};

fn ada() -> NewUser {
    NewUser { name: "Ada".into(), email: "ada@example.com".into(), email_verified: false, image: None }
}

async fn connect(backend: Backend) -> (TestDatabase, AuthDb) {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.expect("connect and migrate");
    (db, auth)
}

#[tokio::test]
async fn sessions_round_trip_on_both_drivers() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let user = auth.upsert_user(&ada()).await.unwrap();
        let session = auth
            .create_session(&NewSession {
                ip_address: Some("127.0.0.1".into()),
                user_agent: Some("test".into()),
                ..NewSession::for_user(&user.id)
            })
            .await
            .unwrap();
        let found = auth.find_session(&session.token).await.unwrap().expect("{backend:?}: session found");
        assert_eq!(found.user_id, user.id);
        let ttl = found.expires_at - chrono::Utc::now();
        assert!(ttl > chrono::Duration::days(29) && ttl <= chrono::Duration::days(30), "{backend:?}: {ttl}");
        assert_eq!(auth.find_session("unknown").await.unwrap(), None);
        assert!(auth.delete_session(&session.token).await.unwrap());
        assert!(!auth.delete_session(&session.token).await.unwrap());
        assert_eq!(auth.find_session(&session.token).await.unwrap(), None, "{backend:?}");
    }
}

#[tokio::test]
async fn short_sessions_expire() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let user = auth.upsert_user(&ada()).await.unwrap();
        let session = auth
            .create_session(&NewSession { ttl: Duration::from_millis(300), ..NewSession::for_user(&user.id) })
            .await
            .unwrap();
        assert!(auth.find_session(&session.token).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(auth.find_session(&session.token).await.unwrap(), None, "{backend:?}");
    }
}

#[tokio::test]
async fn upsert_keeps_one_user_per_email() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let first = auth.upsert_user(&ada()).await.unwrap();
        let again = auth
            .upsert_user(&NewUser { name: "Ada L.".into(), email_verified: true, image: Some("a.png".into()), ..ada() })
            .await
            .unwrap();
        assert_eq!(again.id, first.id, "{backend:?}");
        assert_eq!(
            (again.name.as_str(), again.email_verified, again.image.as_deref()),
            ("Ada L.", true, Some("a.png"))
        );
        // A later unverified sign-in neither clears the image nor un-verifies the email.
        let third = auth.upsert_user(&ada()).await.unwrap();
        assert_eq!((third.email_verified, third.image.as_deref()), (true, Some("a.png")), "{backend:?}");
    }
}

#[tokio::test]
async fn migrations_are_idempotent_and_tokens_unique() {
    for backend in Backend::ALL {
        let (db, auth) = connect(backend).await;
        let again = AuthDb::connect(&db.database_url()).await.expect("second start migrates nothing");
        let user = again.upsert_user(&ada()).await.unwrap();
        let a = auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
        let b = auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
        assert_ne!(a.token, b.token);
        assert!(auth.find_session(&a.token).await.unwrap().is_some());
        assert!(auth.find_session(&b.token).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn deleting_a_user_deletes_their_sessions() {
    let (_db, auth) = connect(Backend::Postgres).await;
    let user = auth.upsert_user(&ada()).await.unwrap();
    let session = auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
    sqlx::query("DELETE FROM auth.users WHERE id = $1::uuid")
        .bind(&user.id)
        .execute(auth.pg_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(auth.find_session(&session.token).await.unwrap(), None);
}

/// Managed PostgreSQL services want TLS: `sslmode=require` in the URL is honoured. Where
/// the local server has TLS off (a stock Docker image), what is checked instead is that
/// such a URL is refused with an error that says so, not silently served in the clear.
#[tokio::test]
async fn postgres_over_tls_when_the_url_asks_for_it() {
    let db = TestDatabase::postgres().await;
    let plain = AuthDb::connect(&db.database_url()).await.unwrap();
    let server_tls: String = sqlx::query_scalar("SHOW ssl").fetch_one(plain.pg_pool().unwrap()).await.unwrap();
    let separator = if db.url().contains('?') { '&' } else { '?' };
    let url = format!("{}{separator}sslmode=require", db.url());
    let result = AuthDb::connect(&url.parse().unwrap()).await;
    if server_tls != "on" {
        eprintln!("NOTE: this PostgreSQL runs with ssl = off: checking only that sslmode=require is refused");
        let Err(error) = result else { panic!("sslmode=require must not fall back to a clear-text connection") };
        assert!(error.to_string().to_lowercase().contains("tls"), "{error}");
        return;
    }
    let auth = result.expect("connect over TLS");
    let pool = auth.pg_pool().unwrap();
    let tls: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetch_one(pool).await.unwrap();
    assert!(tls, "the connection is encrypted");
    let user = auth.upsert_user(&ada()).await.unwrap();
    let session = auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
    assert!(auth.find_session(&session.token).await.unwrap().is_some());
}

/// The SQLite file holds every session's token: it, and the write-ahead log and shared
/// memory SQLite keeps beside it, are readable by their owner alone.
#[tokio::test]
async fn a_new_sqlite_database_is_readable_by_its_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth").join("auth.db");
    let auth = AuthDb::connect(&format!("sqlite:{}", path.display()).parse().unwrap()).await.unwrap();
    let user = auth.upsert_user(&ada()).await.unwrap();
    auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
}
