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

/// Pre-account takeover: someone claims a victim's address at a provider that does not
/// verify it and signs in first; the victim, verified, signs in later. They must end up
/// as two users, and the claimant's session must not become the victim's.
#[tokio::test]
async fn a_verified_identity_never_joins_a_user_whose_address_was_not_verified() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let eve = auth.link_account(&identity("oidc", "eve", "Eve", "Victim@Corp.example", false)).await.unwrap();
        assert_eq!(eve.email, "victim@corp.example", "{backend:?}: stored lowercased");
        assert!(!eve.email_verified);
        let eve_session = auth.create_session(&NewSession::for_user(&eve.id)).await.unwrap();

        let victim = auth.link_account(&identity("google", "v-1", "Vic", "victim@corp.example", true)).await.unwrap();
        assert_ne!(victim.id, eve.id, "{backend:?}: the verified identity got a user of its own");
        assert_eq!(victim.email, "victim@corp.example");
        assert!(victim.email_verified);

        // Eve's session and account still name her own user, which gave the address up.
        let still_eve = auth.find_session_user(&eve_session.token).await.unwrap().expect("eve's session");
        assert_eq!(still_eve.user.id, eve.id, "{backend:?}");
        assert!(still_eve.user.email.ends_with(".invalid"), "{backend:?}: {}", still_eve.user.email);
        let again = auth.link_account(&identity("oidc", "eve", "Eve", "victim@corp.example", false)).await.unwrap();
        assert_eq!(again.id, eve.id, "{backend:?}: a linked identity keeps its user");
        assert!(!again.email_verified, "{backend:?}: it verifies no address it does not hold");

        // Another unverified claim gets nobody's user; another verified one joins the victim.
        for unverified in ["victim@corp.example", "VICTIM@corp.example"] {
            let claim = auth.link_account(&identity("github", "eve-2", "Eve", unverified, false)).await;
            assert!(matches!(claim, Err(Error::UnverifiedEmailTaken)), "{backend:?}: {claim:?}");
        }
        let github = auth.link_account(&identity("github", "v-2", "Vic", "VICTIM@corp.example", true)).await.unwrap();
        assert_eq!(github.id, victim.id, "{backend:?}");
    }
}

/// A linked identity whose provider now reports another, verified address does not
/// make the user's own (different) address verified.
#[tokio::test]
async fn a_linked_identity_verifies_only_the_address_it_reports() {
    for backend in Backend::ALL {
        let (_db, auth) = connect(backend).await;
        let first = auth.link_account(&identity("oidc", "x", "X", "old@example.com", false)).await.unwrap();
        let moved = auth.link_account(&identity("oidc", "x", "X", "new@example.com", true)).await.unwrap();
        assert_eq!(moved.id, first.id);
        assert!(!moved.email_verified, "{backend:?}: old@ was never verified");
        let same = auth.link_account(&identity("oidc", "x", "X", "OLD@example.com", true)).await.unwrap();
        assert!(same.email_verified, "{backend:?}: old@ verified now");
    }
}

/// The migration that lowercases stored addresses runs over a database holding
/// addresses that differ only in case: it must not fail, lowercases the rest, and
/// leaves each such group as it is.
#[tokio::test]
async fn lowercasing_stored_addresses_survives_case_duplicates() {
    for backend in Backend::ALL {
        let (db, auth) = connect(backend).await;
        for email in ["Mixed@Example.com", "Dup@example.com", "DUP@example.com", "dup2@example.com", "Dup2@Example.com"]
        {
            insert_raw_user(&auth, email).await;
        }
        // Run the migration again as if it were new.
        forget_migration(&auth, "email_case_and_expiry_index").await;
        let auth = AuthDb::connect(&db.database_url()).await.expect("the migration runs over case duplicates");
        let mut emails = stored_emails(&auth).await;
        emails.sort();
        let expected =
            ["DUP@example.com", "Dup2@Example.com", "Dup@example.com", "dup2@example.com", "mixed@example.com"];
        assert_eq!(emails, expected, "{backend:?}");
        // The lowercased address is one address now.
        let joined = auth.link_account(&identity("google", "m", "M", "MIXED@example.com", true)).await.unwrap();
        assert_eq!(joined.email, "mixed@example.com");
        let emails = stored_emails(&auth).await;
        assert_eq!(emails.iter().filter(|e| e.as_str() == "mixed@example.com").count(), 1, "{backend:?}: {emails:?}");
        assert_eq!(emails.iter().filter(|e| e.ends_with(".invalid")).count(), 1, "{backend:?}: {emails:?}");
    }
}

async fn insert_raw_user(auth: &AuthDb, email: &str) {
    let id = uuid::Uuid::new_v4().to_string();
    match (auth.pg_pool(), auth.sqlite_pool()) {
        (Some(pool), _) => {
            sqlx::query("INSERT INTO auth.users (id, name, email) VALUES ($1::uuid, 'x', $2)")
                .bind(id)
                .bind(email)
                .execute(pool)
                .await
                .unwrap();
        }
        (_, Some(pool)) => {
            sqlx::query("INSERT INTO users (id, name, email, created_at, updated_at) VALUES (?1, 'x', ?2, 0, 0)")
                .bind(id)
                .bind(email)
                .execute(pool)
                .await
                .unwrap();
        }
        _ => unreachable!(),
    }
}

async fn stored_emails(auth: &AuthDb) -> Vec<String> {
    match (auth.pg_pool(), auth.sqlite_pool()) {
        (Some(pool), _) => sqlx::query_scalar("SELECT email FROM auth.users").fetch_all(pool).await.unwrap(),
        (_, Some(pool)) => sqlx::query_scalar("SELECT email FROM users").fetch_all(pool).await.unwrap(),
        _ => unreachable!(),
    }
}

async fn forget_migration(auth: &AuthDb, description: &str) {
    let description = description.replace('_', " ");
    let sql = "DELETE FROM _sqlx_migrations WHERE description = $1";
    let forgotten = match (auth.pg_pool(), auth.sqlite_pool()) {
        (Some(pool), _) => sqlx::query(sql).bind(&description).execute(pool).await.unwrap().rows_affected(),
        (_, Some(pool)) => sqlx::query(sql).bind(&description).execute(pool).await.unwrap().rows_affected(),
        _ => unreachable!(),
    };
    assert_eq!(forgotten, 1, "the migration {description:?} was recorded");
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
