//! Sliding expiry and the devices queries, on both drivers against real databases.

use std::time::Duration;

use chrono::Utc;
use superset_auth_db::{AuthDb, NewSession, NewUser, Renewal};
use superset_testkit::{Backend, TestDatabase};

fn person(email: &str) -> NewUser {
    NewUser { name: "P".into(), email: email.into(), email_verified: true, image: None }
}

async fn connect(backend: Backend) -> (TestDatabase, AuthDb) {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.expect("connect and migrate");
    (db, auth)
}

const QUICK: Renewal = Renewal { expires_in: Duration::from_secs(10), update_age: Duration::from_millis(800) };

#[tokio::test]
async fn renewal_moves_expiry_once_per_update_age() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let user = auth.upsert_user(&person("ada@example.com")).await.unwrap();
        let session =
            auth.create_session(&NewSession { ttl: QUICK.expires_in, ..NewSession::for_user(&user.id) }).await.unwrap();
        let found = auth.find_session(&session.token).await.unwrap().expect("found");
        assert!(!QUICK.is_due(found.renewed_at), "{backend:?}: a fresh session is not due");
        assert_eq!(auth.renew_session(&session.token, &QUICK).await.unwrap(), None, "{backend:?}: not due yet");

        tokio::time::sleep(Duration::from_millis(900)).await;
        let found = auth.find_session(&session.token).await.unwrap().expect("found");
        assert!(QUICK.is_due(found.renewed_at), "{backend:?}");
        // Many requests (on many instances) find it due at once: one write wins.
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (auth, token) = (auth.clone(), session.token.clone());
            attempts.spawn(async move { auth.renew_session(&token, &QUICK).await.expect("renewal query") });
        }
        let renewed: Vec<_> = attempts.join_all().await.into_iter().flatten().collect();
        assert_eq!(renewed.len(), 1, "{backend:?}: exactly one renewal, got {renewed:?}");
        let new_expiry = renewed[0];
        let expected = Utc::now() + chrono::Duration::seconds(10);
        assert!((new_expiry - expected).num_milliseconds().abs() < 1000, "{backend:?}: {new_expiry} vs {expected}");
        assert!(new_expiry > session.expires_at, "{backend:?}");
        let found = auth.find_session(&session.token).await.unwrap().expect("found");
        assert_eq!(found.expires_at.timestamp_millis(), new_expiry.timestamp_millis(), "{backend:?}");
        assert!((Utc::now() - found.renewed_at).num_milliseconds() < 1000, "{backend:?}: updated_at moved");
        assert_eq!(auth.renew_session(&session.token, &QUICK).await.unwrap(), None, "{backend:?}: once per updateAge");
    }
}

#[tokio::test]
async fn an_unused_session_still_expires() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let user = auth.upsert_user(&person("ada@example.com")).await.unwrap();
        let renewal = Renewal { expires_in: Duration::from_secs(10), update_age: Duration::from_millis(100) };
        let session = auth
            .create_session(&NewSession { ttl: Duration::from_millis(400), ..NewSession::for_user(&user.id) })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            auth.renew_session(&session.token, &renewal).await.unwrap(),
            None,
            "{backend:?}: expired stays expired"
        );
        assert_eq!(auth.find_session(&session.token).await.unwrap(), None, "{backend:?}");
        assert!(auth.list_devices(&user.id).await.unwrap().is_empty(), "{backend:?}: not listed");
    }
}

/// better-auth's own layout (`timestamptz`) and ours (`timestamp`, UTC), with the
/// connection nine hours away from UTC: "due" and the new expiry are right in both.
#[tokio::test]
async fn renewal_is_right_in_both_layouts_and_any_time_zone() {
    for zoned in [false, true] {
        let db = TestDatabase::postgres().await;
        let auth = AuthDb::connect(&db.database_url()).await.unwrap();
        if zoned {
            for column in ["expires_at", "created_at", "updated_at"] {
                let alter = format!(
                    "ALTER TABLE auth.sessions ALTER COLUMN {column} TYPE timestamptz USING {column} AT TIME ZONE 'utc'"
                );
                sqlx::query(&alter).execute(auth.pg_pool().unwrap()).await.unwrap();
            }
        }
        let url = format!("{}?options=-c%20TimeZone%3DAsia%2FTokyo", db.url());
        let auth = AuthDb::connect(&url.parse().unwrap()).await.unwrap();
        let user = auth.upsert_user(&person("ada@example.com")).await.unwrap();
        let session = auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
        let renewal = Renewal { expires_in: Duration::from_secs(30 * 86_400), update_age: Duration::from_secs(3600) };
        let found = auth.find_session(&session.token).await.unwrap().expect("found");
        assert!((Utc::now() - found.renewed_at).num_seconds().abs() < 5, "zoned={zoned}: {found:?}");
        assert_eq!(auth.renew_session(&session.token, &renewal).await.unwrap(), None, "zoned={zoned}: not due");

        let now = if zoned { "now()" } else { "(now() AT TIME ZONE 'utc')" };
        let backdate = format!(
            "UPDATE auth.sessions SET updated_at = {now} - interval '2 hours', expires_at = {now} + interval '1 hour'"
        );
        sqlx::query(&backdate).execute(auth.pg_pool().unwrap()).await.unwrap();
        let found = auth.find_session(&session.token).await.unwrap().expect("found");
        let age = Utc::now() - found.renewed_at;
        assert!((age - chrono::Duration::hours(2)).num_seconds().abs() < 5, "zoned={zoned}: age {age}");
        let renewed = auth.renew_session(&session.token, &renewal).await.unwrap().expect("due, renewed");
        let expected = Utc::now() + chrono::Duration::days(30);
        assert!((renewed - expected).num_seconds().abs() < 5, "zoned={zoned}: {renewed} vs {expected}");
        let found = auth.find_session(&session.token).await.unwrap().expect("found");
        assert_eq!(found.expires_at.timestamp_millis(), renewed.timestamp_millis(), "zoned={zoned}");
        assert!((Utc::now() - found.renewed_at).num_seconds().abs() < 5, "zoned={zoned}: {found:?}");
    }
}

#[tokio::test]
async fn devices_are_listed_and_revoked_per_user() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let ada = auth.upsert_user(&person("ada@example.com")).await.unwrap();
        let grace = auth.upsert_user(&person("grace@example.com")).await.unwrap();
        let session = |user: &str, agent: &str| NewSession {
            user_agent: Some(agent.into()),
            ip_address: Some("127.0.0.1".into()),
            ..NewSession::for_user(user)
        };
        let laptop = auth.create_session(&session(&ada.id, "superset-cli/1.0 (linux; laptop)")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let desktop = auth.create_session(&session(&ada.id, "superset-desktop/1.0 (macos; mac)")).await.unwrap();
        let theirs = auth.create_session(&session(&grace.id, "curl")).await.unwrap();

        let listed = auth.list_devices(&ada.id).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|d| d.session_id.as_str()).collect();
        assert_eq!(ids, [desktop.id.as_str(), laptop.id.as_str()], "{backend:?}: newest use first");
        assert_eq!(listed[1].user_agent.as_deref(), Some("superset-cli/1.0 (linux; laptop)"));
        assert_eq!(listed[1].ip_address.as_deref(), Some("127.0.0.1"));
        // Using the laptop (a renewal) puts it first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let often = Renewal { expires_in: Duration::from_secs(600), update_age: Duration::from_millis(1) };
        assert!(auth.renew_session(&laptop.token, &often).await.unwrap().is_some());
        let listed = auth.list_devices(&ada.id).await.unwrap();
        assert_eq!(listed[0].session_id, laptop.id, "{backend:?}");
        assert!(listed[0].last_used_at > listed[0].created_at, "{backend:?}");

        assert!(!auth.delete_user_session(&ada.id, &theirs.id).await.unwrap(), "{backend:?}: not hers");
        assert!(!auth.delete_user_session(&ada.id, "not-a-session-id").await.unwrap(), "{backend:?}");
        assert!(auth.find_session(&theirs.token).await.unwrap().is_some());
        assert!(auth.delete_user_session(&ada.id, &desktop.id).await.unwrap(), "{backend:?}");
        assert_eq!(auth.find_session(&desktop.token).await.unwrap(), None);

        let phone = auth.create_session(&session(&ada.id, "phone")).await.unwrap();
        assert_eq!(auth.delete_other_sessions(&ada.id, &laptop.id).await.unwrap(), 1, "{backend:?}");
        assert_eq!(auth.find_session(&phone.token).await.unwrap(), None);
        let left: Vec<String> = auth.list_devices(&ada.id).await.unwrap().into_iter().map(|d| d.session_id).collect();
        assert_eq!(left, std::slice::from_ref(&laptop.id), "{backend:?}");
        assert!(auth.find_session(&theirs.token).await.unwrap().is_some(), "{backend:?}: others' sessions stay");
    }
}
