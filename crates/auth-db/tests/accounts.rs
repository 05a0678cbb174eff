//! The queries the auth server signs people in with: accounts linked to users by
//! (provider, account id), a session looked up with its user, sessions revoked by id,
//! and short-lived verifications; on both drivers, and on PostgreSQL in both time
//! layouts and a session time zone far from UTC.

use chrono::{Duration, Utc};
use superset_auth_db::{AuthDb, Error, NewAccount, NewSession, NewUser, Verification};
use superset_testkit::{Backend, TestDatabase};

async fn connect(backend: Backend) -> (TestDatabase, AuthDb) {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.expect("connect and migrate");
    (db, auth)
}

fn identity(provider: &str, account: &str, name: &str, email: &str, verified: bool) -> NewAccount {
    NewAccount {
        provider_id: provider.into(),
        account_id: account.into(),
        user: NewUser { name: name.into(), email: email.into(), email_verified: verified, image: None },
    }
}

#[tokio::test]
async fn accounts_are_linked_by_provider_and_account_id() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let first = auth.link_account(&identity("github", "42", "Ada", "ada@example.com", true)).await.unwrap();
        assert!(first.email_verified);

        // The same identity again: the same user, with the name the provider now reports.
        let again = auth.link_account(&identity("github", "42", "Ada L.", "ada@example.com", true)).await.unwrap();
        assert_eq!(again.id, first.id, "{backend:?}");
        assert_eq!(again.name, "Ada L.");

        // Another provider vouching for the same email joins the same user.
        let google = auth.link_account(&identity("google", "g-1", "Ada", "ada@example.com", true)).await.unwrap();
        assert_eq!(google.id, first.id, "{backend:?}");

        // An unverified claim to that email may not.
        let claim = auth.link_account(&identity("oidc", "x-9", "Eve", "ada@example.com", false)).await;
        assert!(matches!(claim, Err(Error::UnverifiedEmailTaken)), "{backend:?}: {claim:?}");

        // An unverified email nobody has is a new user.
        let new = auth.link_account(&identity("oidc", "x-9", "Bob", "bob@example.com", false)).await.unwrap();
        assert_ne!(new.id, first.id);
        assert!(!new.email_verified);
    }
}

#[tokio::test]
async fn a_session_is_found_with_its_user_and_revoked_by_id() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let user =
            auth.link_account(&identity("dev", "ada@example.com", "Ada", "ada@example.com", true)).await.unwrap();
        let session = auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
        let found = auth.find_session_user(&session.token).await.unwrap().expect("found");
        assert_eq!(found.user, user, "{backend:?}");
        assert!((found.expires_at - session.expires_at).num_milliseconds().abs() <= 1, "{backend:?}");
        assert_eq!(auth.find_session_user("unknown").await.unwrap(), None);

        assert!(!auth.delete_session_by_id("not-a-uuid").await.unwrap());
        assert!(!auth.delete_session_by_id(&uuid::Uuid::new_v4().to_string()).await.unwrap());
        assert!(auth.delete_session_by_id(&session.id).await.unwrap(), "{backend:?}");
        assert_eq!(auth.find_session_user(&session.token).await.unwrap(), None);
    }
}

#[tokio::test]
async fn verifications_are_single_use_and_expire() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        verification_round_trip(backend, &auth).await;
    }
}

async fn verification_round_trip(label: impl std::fmt::Debug, auth: &AuthDb) {
    let live = |id: &str, value: &str| Verification {
        identifier: id.into(),
        value: value.into(),
        expires_at: Utc::now() + Duration::hours(1),
    };
    auth.put_verification(&live("a", "first")).await.unwrap();
    auth.put_verification(&live("a", "second")).await.unwrap();
    let found = auth.find_verification("a").await.unwrap().expect("found");
    assert_eq!(found.value, "second", "{label:?}: put replaces");
    assert!((found.expires_at - (Utc::now() + Duration::hours(1))).num_seconds().abs() < 60, "{label:?}: {found:?}");
    assert_eq!(auth.take_verification("a").await.unwrap().map(|v| v.value).as_deref(), Some("second"));
    assert_eq!(auth.take_verification("a").await.unwrap(), None, "{label:?}: taken once");

    let expired = Verification { expires_at: Utc::now() - Duration::hours(1), ..live("b", "old") };
    auth.put_verification(&expired).await.unwrap();
    auth.put_verification(&live("c", "fresh")).await.unwrap();
    assert_eq!(auth.find_verification("b").await.unwrap(), None, "{label:?}: expired is not found");
    assert_eq!(auth.delete_expired_verifications().await.unwrap(), 1, "{label:?}");
    assert_eq!(auth.take_verification("b").await.unwrap(), None);
    assert!(auth.find_verification("c").await.unwrap().is_some(), "{label:?}: the live one stays");

    // take hands back an expired value too, so a caller can say "expired".
    auth.put_verification(&expired).await.unwrap();
    let taken = auth.take_verification("b").await.unwrap().expect("taken");
    assert!(taken.expires_at < Utc::now(), "{label:?}");
}

#[tokio::test]
async fn verification_times_are_right_in_both_layouts_and_any_time_zone() {
    for zoned in [false, true] {
        let db = TestDatabase::postgres().await;
        let auth = AuthDb::connect(&db.database_url()).await.unwrap();
        let pool = auth.pg_pool().unwrap();
        if zoned {
            for table in ["sessions", "verifications"] {
                let alter = format!(
                    "ALTER TABLE auth.{table} ALTER COLUMN expires_at TYPE timestamptz USING expires_at AT TIME ZONE 'utc'"
                );
                sqlx::query(&alter).execute(pool).await.unwrap();
            }
        }
        let url = format!("{}?options=-c%20TimeZone%3DAsia%2FTokyo", db.url());
        let auth = AuthDb::connect(&url.parse().unwrap()).await.unwrap();
        let zone: String = sqlx::query_scalar("SHOW TimeZone").fetch_one(auth.pg_pool().unwrap()).await.unwrap();
        assert_eq!(zone, "Asia/Tokyo", "the test runs nine hours away from UTC");
        verification_round_trip(("zoned", zoned), &auth).await;

        let user = auth.link_account(&identity("dev", "a", "Ada", "ada@example.com", true)).await.unwrap();
        let session = auth.create_session(&NewSession::for_user(&user.id)).await.unwrap();
        let found = auth.find_session_user(&session.token).await.unwrap().expect("found");
        assert!((found.expires_at - session.expires_at).num_milliseconds().abs() <= 1, "zoned={zoned}: {found:?}");
    }
}
