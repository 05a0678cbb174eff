//! Every way the desktop's OAuth requests can be wrong, each answered with the error
//! code RFC 6749 / RFC 7636 prescribe, on PostgreSQL and SQLite.

mod support;

use std::time::Duration;

use superset_testkit::{Backend, TestDatabase};
use support::*;

const REDIRECT: &str = "http://127.0.0.1:43210/callback";

#[tokio::test]
async fn wrong_code_verifier_is_invalid_grant() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        let pkce = Pkce::new();
        let answer = dev_sign_in(&api, REDIRECT, &pkce, "ada@example.com").await;
        let other = Pkce::new();
        let (status, error) = oauth_error(exchange(&api, &answer["code"], REDIRECT, &other.verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{backend:?}");
        // The code was spent by the failed attempt: the right verifier is too late now.
        let (_, error) = oauth_error(exchange(&api, &answer["code"], REDIRECT, &pkce.verifier).await).await;
        assert_eq!(error, "invalid_grant");
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}sessions", &[]).await, 0, "{backend:?}");
        api.stop().await;
    }
}

#[tokio::test]
async fn reused_code_is_invalid_grant_and_revokes_the_session_it_produced() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        let pkce = Pkce::new();
        let answer = dev_sign_in(&api, REDIRECT, &pkce, "ada@example.com").await;
        let first = exchange(&api, &answer["code"], REDIRECT, &pkce.verifier).await;
        assert_eq!(first.status(), 200);
        let first: serde_json::Value = first.json().await.unwrap();
        let token = first["access_token"].as_str().unwrap();
        assert_eq!(api_me(&api, token).await.status(), 200);

        let (status, error) = oauth_error(exchange(&api, &answer["code"], REDIRECT, &pkce.verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{backend:?}");
        assert_eq!(api_me(&api, token).await.status(), 401, "{backend:?}: the first session is revoked");
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}sessions", &[]).await, 0);
        api.stop().await;
    }
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        // Codes that expire the moment they are issued: no waiting in the test.
        let api = start_api(&db, |c| c.code_ttl = Duration::ZERO).await;
        let pkce = Pkce::new();
        let answer = dev_sign_in(&api, REDIRECT, &pkce, "ada@example.com").await;
        let (status, error) = oauth_error(exchange(&api, &answer["code"], REDIRECT, &pkce.verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{backend:?}");
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}sessions", &[]).await, 0);
        api.stop().await;
    }
}

#[tokio::test]
async fn redirect_uri_differing_from_the_authorization_request_is_invalid_grant() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        let pkce = Pkce::new();
        let answer = dev_sign_in(&api, REDIRECT, &pkce, "ada@example.com").await;
        let elsewhere = "http://127.0.0.1:43211/callback";
        let (status, error) = oauth_error(exchange(&api, &answer["code"], elsewhere, &pkce.verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{backend:?}");
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}sessions", &[]).await, 0);
        api.stop().await;
    }
}

#[tokio::test]
async fn unknown_code_is_invalid_grant() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        let pkce = Pkce::new();
        let (status, error) = oauth_error(exchange(&api, "no-such-code", REDIRECT, &pkce.verifier).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_grant"), "{backend:?}");
        api.stop().await;
    }
}

#[tokio::test]
async fn redirect_uri_not_loopback_is_refused_on_a_page_without_redirecting() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        for uri in [
            "https://evil.example/callback",
            "http://localhost:43210/callback",
            "http://192.168.1.10:43210/callback",
            "superset://evil/callback",
        ] {
            let response = stepping_browser()
                .get(authorize_url(&api, uri, &Pkce::new().challenge, "s", &[]))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{backend:?} {uri}");
            assert!(response.headers().get("location").is_none(), "{uri}: never redirect to an unchecked URI");
            assert!(response.headers().get("set-cookie").is_none(), "{uri}: no sign-in starts");
            let html = response.text().await.unwrap();
            assert!(html.contains(r#"<code class="error-code">invalid_request</code>"#), "{uri}: {html}");
        }
        api.stop().await;
    }
}

#[tokio::test]
async fn missing_pkce_is_invalid_request_sent_back_to_the_client() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        for removed in [&[("code_challenge", None), ("code_challenge_method", None)][..], &[("code_challenge", None)]] {
            let url = authorize_url(&api, REDIRECT, "unused", "st", removed);
            let response = stepping_browser().get(url).send().await.unwrap();
            assert_eq!(response.status(), 303, "{backend:?}");
            let (target, query) = location_query(&response);
            assert_eq!(target, REDIRECT);
            assert_eq!(query["error"], "invalid_request");
            assert_eq!(query["state"], "st");
            assert!(!query.contains_key("code"));
        }
        api.stop().await;
    }
}

#[tokio::test]
async fn plain_pkce_is_invalid_request_sent_back_to_the_client() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        let pkce = Pkce::new();
        // Explicitly plain, and implicitly (no method means plain, RFC 7636 §4.3).
        for method in [Some("plain"), None] {
            let url = authorize_url(&api, REDIRECT, &pkce.verifier, "st", &[("code_challenge_method", method)]);
            let response = stepping_browser().get(url).send().await.unwrap();
            assert_eq!(response.status(), 303, "{backend:?} {method:?}");
            let (_, query) = location_query(&response);
            assert_eq!(query["error"], "invalid_request", "{method:?}");
            assert!(query["error_description"].contains("S256"));
        }
        api.stop().await;
    }
}

#[tokio::test]
async fn unknown_client_is_invalid_client_at_both_endpoints() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        let pkce = Pkce::new();
        let url = authorize_url(&api, REDIRECT, &pkce.challenge, "st", &[("client_id", Some("someone-else"))]);
        let response = stepping_browser().get(url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{backend:?}");
        assert!(response.headers().get("location").is_none(), "an unknown client's redirect is not trusted");
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"<code class="error-code">invalid_client</code>"#), "{html}");

        let answer = dev_sign_in(&api, REDIRECT, &pkce, "ada@example.com").await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", answer["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", "someone-else"),
            ("code_verifier", pkce.verifier.as_str()),
        ];
        let (status, error) = oauth_error(token_request(&api, &form).await).await;
        assert_eq!((status, error.as_str()), (401, "invalid_client"), "{backend:?}");
        // Refused before the code was looked at: the desktop can still use it.
        assert_eq!(exchange(&api, &answer["code"], REDIRECT, &pkce.verifier).await.status(), 200);
        api.stop().await;
    }
}

#[tokio::test]
async fn malformed_token_requests_get_their_rfc_error() {
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |_| {}).await;
    let verifier = Pkce::new().verifier;
    let full = |grant: &'static str| {
        vec![
            ("grant_type", grant),
            ("code", "c"),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT_ID),
            ("code_verifier", verifier.as_str()),
        ]
    };
    let (_, error) = oauth_error(token_request(&api, &full("refresh_token")).await).await;
    assert_eq!(error, "unsupported_grant_type");
    for missing in ["grant_type", "code", "redirect_uri", "client_id", "code_verifier"] {
        let form: Vec<_> = full("authorization_code").into_iter().filter(|(n, _)| *n != missing).collect();
        let (status, error) = oauth_error(token_request(&api, &form).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_request"), "without {missing}");
    }
    let mut short = full("authorization_code");
    short[4] = ("code_verifier", "too-short");
    assert_eq!(oauth_error(token_request(&api, &short).await).await.1, "invalid_request");
    let mut repeated = full("authorization_code");
    repeated.push(("code", "again"));
    assert_eq!(oauth_error(token_request(&api, &repeated).await).await.1, "invalid_request");
    let json = desktop().post(api.url("/oauth/token")).json(&serde_json::json!({"grant_type": "authorization_code"}));
    assert_eq!(oauth_error(json.send().await.unwrap()).await.1, "invalid_request");
    api.stop().await;
}

#[tokio::test]
async fn token_requests_are_rate_limited_per_address() {
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |c| c.token_rate_limit = 3).await;
    let pkce = Pkce::new();
    for _ in 0..3 {
        let (_, error) = oauth_error(exchange(&api, "guess", REDIRECT, &pkce.verifier).await).await;
        assert_eq!(error, "invalid_grant");
    }
    let limited = exchange(&api, "guess", REDIRECT, &pkce.verifier).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(oauth_error(limited).await.1, "temporarily_unavailable");
    api.stop().await;
}

/// Behind a trusted proxy each client behind it has a limit of its own; a client that
/// is not the proxy cannot choose its address with the header.
#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_is_per_forwarded_client() {
    let db = TestDatabase::sqlite();
    let guess = |api: &Running, forwarded_for: &'static str| {
        let form = [("grant_type", "authorization_code"), ("code", "guess"), ("redirect_uri", REDIRECT)];
        let request = desktop().post(api.url("/oauth/token")).header("x-forwarded-for", forwarded_for);
        async move { request.form(&form).send().await.unwrap().status() }
    };
    let behind_proxy = start_api(&db, |c| {
        c.token_rate_limit = 2;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for _ in 0..2 {
        assert_eq!(guess(&behind_proxy, "198.51.100.1").await, 400);
    }
    assert_eq!(guess(&behind_proxy, "198.51.100.1").await, 429, "the first client used its limit");
    assert_eq!(guess(&behind_proxy, "198.51.100.2").await, 400, "another client behind the proxy did not");
    behind_proxy.stop().await;

    let direct = start_api(&db, |c| c.token_rate_limit = 2).await;
    for forwarded_for in ["198.51.100.1", "198.51.100.2"] {
        assert_eq!(guess(&direct, forwarded_for).await, 400);
    }
    assert_eq!(guess(&direct, "198.51.100.3").await, 429, "the header is ignored from an untrusted peer");
    direct.stop().await;
}

#[tokio::test]
async fn dev_form_refuses_a_malformed_identity_and_keeps_the_sign_in() {
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |_| {}).await;
    let browser = stepping_browser();
    let pkce = Pkce::new();
    let page = open_sign_in_page(&browser, &authorize_url(&api, REDIRECT, &pkce.challenge, "s", &[])).await;
    let refused = submit_dev_form(&browser, &api, &page, "Ada", "not an email").await;
    assert_eq!(refused.status(), 400);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Enter an email address"), "{html}");
    assert!(html.contains(r#"value="Ada""#), "what was typed is kept");
    assert_eq!(csrf_token(&html), csrf_token(&page), "the form shown again still belongs to the sign-in");
    assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 0);
    let accepted = submit_dev_form(&browser, &api, &html, "Ada", "ada@example.com").await;
    assert_eq!(accepted.status(), 303);
    api.stop().await;
}

#[tokio::test]
async fn a_sign_in_needs_the_browser_that_started_it() {
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |_| {}).await;
    let html =
        open_sign_in_page(&stepping_browser(), &authorize_url(&api, REDIRECT, &Pkce::new().challenge, "s", &[])).await;
    // Another browser (no cookie) posting the form, token and all, gets nowhere.
    let response = submit_dev_form(&stepping_browser(), &api, &html, "Eve", "eve@example.com").await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 0);
    api.stop().await;
}
