//! The desktop's sign-in from end to end, with a real HTTP client playing the browser
//! (cookie jar, following redirects) and the real streams server checking the token:
//! authorize -> dev sign-in -> code on the desktop's loopback listener -> token ->
//! streams `GET /v1/me` -> revoke -> the streams server refuses the token.

mod support;

use std::time::{Duration, Instant};

use superset_testkit::{Backend, TestDatabase};
use support::*;

/// How long a revoked token may still pass the streams server: its cache of validated
/// tokens is invalidated by PostgreSQL NOTIFY, and on SQLite (no notifications) keeps
/// an entry at most 1 s. We poll for up to 1.5 s: the 1 s bound plus scheduling slack.
const REVOCATION_DEADLINE: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn dev_sign_in_issues_a_session_the_streams_server_accepts_until_revoked() {
    for backend in Backend::ALL {
        sign_in_use_and_revoke(backend).await;
    }
}

async fn sign_in_use_and_revoke(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let api = start_api(&db, |_| {}).await;
    let data = tempfile::tempdir().unwrap();
    let streams = start_streams(&db, data.path()).await;
    let mut desktop_listener = Loopback::start().await;
    let pkce = Pkce::new();
    let browser = browser();

    // The desktop opens the browser on the authorization URL: the sign-in page.
    let page = browser
        .get(authorize_url(&api, &desktop_listener.redirect_uri, &pkce.challenge, "desktop-state-1", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in to Superset"), "{backend:?}: {html}");
    assert!(html.contains("Development sign-in"), "{backend:?}: the dev form is labelled");
    // It says which app gets the sign-in, and where.
    let consent = format!(
        "<strong>Superset desktop</strong> will receive your sign-in at <code class=\"redirect\">{}</code>",
        desktop_listener.redirect_uri
    );
    assert!(html.contains(&consent), "{backend:?}: {html}");

    // The person fills in the dev form; the browser follows the redirect to the
    // desktop's loopback listener, which shows its "signed in" page.
    let landing = submit_dev_form(&browser, &api, &html, "Grace Hopper", "Grace@Example.com").await;
    assert_eq!(landing.status(), 200);
    assert_eq!(landing.url().as_str().split('?').next(), Some(desktop_listener.redirect_uri.as_str()));
    assert!(landing.text().await.unwrap().contains("You can close this tab"));
    let received = desktop_listener.try_received().expect("the loopback listener got the redirect");
    assert_eq!(received.get("state").map(String::as_str), Some("desktop-state-1"));
    let code = received.get("code").expect("a code");

    // The desktop exchanges the code.
    let response = exchange(&api, code, &desktop_listener.redirect_uri, &pkce.verifier).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 2_592_000);
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43, "32 random bytes, base64url");

    // The session row records who asked and from where.
    let user_agent = text(&db, "SELECT user_agent FROM {auth}sessions WHERE token = $1", &[&token]).await;
    assert_eq!(user_agent.as_deref(), Some("superset-desktop-test/1.0"));
    let ip = text(&db, "SELECT ip_address FROM {auth}sessions WHERE token = $1", &[&token]).await;
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));

    // /api/me knows the person; the streams server accepts the token as them.
    let me = api_me(&api, &token).await;
    assert_eq!(me.status(), 200);
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "grace@example.com");
    assert_eq!(me["user"]["name"], "Grace Hopper");
    let expires_at = chrono::DateTime::parse_from_rfc3339(me["session"]["expiresAt"].as_str().unwrap()).unwrap();
    let days = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.0).contains(&days), "{backend:?}: session lives 30 days, not {days}");
    let user_id = me["user"]["id"].as_str().unwrap().to_owned();
    let on_streams = desktop().get(streams.url("/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(on_streams.status(), 200, "{backend:?}");
    let on_streams: serde_json::Value = on_streams.json().await.unwrap();
    assert_eq!(on_streams["userId"], user_id.as_str());

    // Sign-out: the desktop revokes the token.
    let revoked = desktop()
        .post(api.url("/oauth/revoke"))
        .form(&[("token", token.as_str()), ("client_id", CLIENT_ID)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(count(&db, "SELECT count(*) FROM {auth}sessions WHERE token = $1", &[&token]).await, 0);
    assert_eq!(api_me(&api, &token).await.status(), 401);
    let started = Instant::now();
    let refused = loop {
        let status = desktop().get(streams.url("/v1/me")).bearer_auth(&token).send().await.unwrap().status();
        if status == 401 || started.elapsed() > REVOCATION_DEADLINE {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refused, 401, "{backend:?}: the streams server still accepts a revoked token");

    // Revoking again (or any unknown token) is still a 200: nothing is revealed.
    let again = desktop().post(api.url("/oauth/revoke")).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(again.status(), 200);

    streams.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn the_same_person_signing_in_twice_is_one_user_with_two_sessions() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, |_| {}).await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let pkce = Pkce::new();
            let redirect = "http://127.0.0.1:45678/callback";
            let answer = dev_sign_in(&api, redirect, &pkce, "ada@example.com").await;
            let token = exchange(&api, &answer["code"], redirect, &pkce.verifier).await;
            let token: serde_json::Value = token.json().await.unwrap();
            let me: serde_json::Value =
                api_me(&api, token["access_token"].as_str().unwrap()).await.json().await.unwrap();
            ids.push(me["user"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(ids[0], ids[1], "{backend:?}");
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 1);
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}accounts WHERE provider_id = 'dev'", &[]).await, 1);
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}sessions", &[]).await, 2);
        api.stop().await;
    }
}

#[tokio::test]
async fn api_me_answers_every_bad_credential_with_the_same_401() {
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |_| {}).await;
    let mut bodies = Vec::new();
    for authorization in
        [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer"), Some("Bearer not-a-session"), Some("Bearer ")]
    {
        let mut request = desktop().get(api.url("/api/me"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| b == r#"{"error":"Unauthorized"}"#), "{bodies:?}");
    api.stop().await;
}

#[tokio::test]
async fn metadata_describes_the_endpoints_and_s256_only() {
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |c| c.public_url = Some("https://auth.example.test/".parse().unwrap())).await;
    let doc: serde_json::Value =
        desktop().get(api.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["issuer"], "https://auth.example.test");
    assert_eq!(doc["authorization_endpoint"], "https://auth.example.test/oauth/authorize");
    assert_eq!(doc["token_endpoint"], "https://auth.example.test/oauth/token");
    assert_eq!(doc["revocation_endpoint"], "https://auth.example.test/oauth/revoke");
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(doc["grant_types_supported"], serde_json::json!(["authorization_code"]));
    assert_eq!(doc["token_endpoint_auth_methods_supported"], serde_json::json!(["none"]));

    // With an https public URL the sign-in cookie is Secure too.
    let page = stepping_browser()
        .get(authorize_url(&api, "http://127.0.0.1:5000/cb", &Pkce::new().challenge, "s", &[]))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Max-Age=600"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    api.stop().await;
}
