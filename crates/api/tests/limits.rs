//! What an anonymous caller can cost the auth server: `/oauth/authorize` (each call
//! stores a sign-in) is rate-limited per client address (IPv6 per /64, through trusted
//! proxies by `X-Forwarded-For`), sign-ins in progress are bounded per address and in
//! total, and expired ones are swept by a background task, not by requests.

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use superset_auth_db::{AuthDb, Verification};
use superset_testkit::{Backend, TestDatabase};
use support::*;

const REDIRECT: &str = "http://127.0.0.1:43210/callback";

const SIGN_IN_ROWS: &str = "SELECT count(*) FROM {auth}verifications WHERE identifier LIKE 'superset:sign-in:%'";

/// A browser behind the test's trusted proxy (loopback), seen as `address`.
fn browser_at(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

fn behind_proxy(c: &mut superset_api::Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

async fn authorize_from(api: &Running, address: &str) -> reqwest::Response {
    browser_at(address).get(authorize_url(api, REDIRECT, &Pkce::new().challenge, "s", &[])).send().await.unwrap()
}

async fn assert_limited(response: reqwest::Response, message: &str) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let html = response.text().await.unwrap();
    assert!(html.contains(message), "{html}");
}

#[tokio::test]
async fn a_flood_from_one_address_is_limited_while_another_still_signs_in() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |c| {
            behind_proxy(c);
            c.authorize_rate_limit = 5;
        })
        .await;
        for _ in 0..5 {
            assert_eq!(authorize_from(&api, "198.51.100.1").await.status(), 200, "{backend:?}");
        }
        assert_limited(authorize_from(&api, "198.51.100.1").await, "Too many sign-ins were started").await;

        // An IPv6 network is one party, whatever host addresses it uses.
        for host in 1..=5 {
            assert_eq!(authorize_from(&api, &format!("2001:db8:7:7::{host}")).await.status(), 200);
        }
        assert_limited(authorize_from(&api, "2001:db8:7:7:ffff::1").await, "Too many sign-ins were started").await;

        // Someone else signs in all the way.
        let browser = browser_at("198.51.100.2");
        let pkce = Pkce::new();
        let html = open_sign_in_page(&browser, &authorize_url(&api, REDIRECT, &pkce.challenge, "s", &[])).await;
        let answer = submit_dev_form(&browser, &api, &html, "Ada", "ada@example.com").await;
        let (_, query) = location_query(&answer);
        assert_eq!(exchange(&api, &query["code"], REDIRECT, &pkce.verifier).await.status(), 200, "{backend:?}");
        api.stop().await;
    }
}

#[tokio::test]
async fn sign_ins_in_progress_stay_bounded_per_address_and_in_total() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |c| {
            behind_proxy(c);
            c.authorize_rate_limit = 1000;
            c.pending_sign_ins_per_address = 3;
            c.pending_sign_ins = 7;
        })
        .await;
        let mut admitted = 0;
        for _ in 0..20 {
            let response = authorize_from(&api, "198.51.100.1").await;
            if response.status() == 200 {
                admitted += 1;
            } else {
                assert_limited(response, "Too many sign-ins are in progress from your network").await;
            }
        }
        assert_eq!(admitted, 3, "{backend:?}");
        assert_eq!(count(&db, SIGN_IN_ROWS, &[]).await, 3, "{backend:?}");

        for n in 0..20 {
            let response = authorize_from(&api, &format!("203.0.113.{n}")).await;
            if response.status() != 200 {
                assert_limited(response, "This server has too many sign-ins in progress").await;
            }
        }
        assert_eq!(count(&db, SIGN_IN_ROWS, &[]).await, 7, "{backend:?}: the total bound holds");
        api.stop().await;
    }
}

#[tokio::test]
async fn expired_sign_ins_are_swept_in_the_background_until_shutdown() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |c| c.sweep_interval = Duration::from_millis(100)).await;
        let auth = AuthDb::connect(&db.database_url()).await.unwrap();
        let row = |id: &str, hours: i64| Verification {
            identifier: id.into(),
            value: "{}".into(),
            expires_at: Utc::now() + chrono::Duration::hours(hours),
        };
        auth.put_verification(&row("superset:sign-in:expired", -1)).await.unwrap();
        auth.put_verification(&row("superset:sign-in:live", 1)).await.unwrap();
        let started = Instant::now();
        while count(&db, SIGN_IN_ROWS, &[]).await > 1 {
            assert!(started.elapsed() < Duration::from_secs(10), "{backend:?}: the expired row was never swept");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(auth.find_verification("superset:sign-in:live").await.unwrap().is_some(), "{backend:?}");

        // Stopped, the server sweeps no more.
        api.stop().await;
        auth.put_verification(&row("superset:sign-in:after", -1)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(count(&db, SIGN_IN_ROWS, &[]).await, 2, "{backend:?}: the sweeper stopped with the server");
    }
}
