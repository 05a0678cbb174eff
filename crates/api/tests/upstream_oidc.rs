//! Upstream sign-in against a real OpenID Connect provider (npm `oidc-provider`,
//! started by the test; run `npm ci` in tests/oidc first): discovery, code exchange
//! with PKCE, ID-token validation with nonce and audience, userinfo; users and
//! accounts upserted by (provider, account id); `state` checked on the return leg; and
//! an unverified claim to someone's address never reaching their account.

mod support;

use superset_api::{Config, Secret};
use superset_testkit::{Backend, TestDatabase};
use support::oidc::{self, OidcProvider};
use support::*;

const REDIRECT: &str = "http://127.0.0.1:43999/callback";

fn use_provider(provider: &OidcProvider) -> impl FnOnce(&mut Config) + '_ {
    |c| {
        c.dev_login = false;
        c.oidc_issuer = Some(provider.issuer.clone());
        c.oidc_client_id = Some(oidc::CLIENT_ID.to_owned());
        c.oidc_client_secret = Some(Secret::new(oidc::CLIENT_SECRET));
    }
}

fn is_api_callback(api: &Running) -> impl Fn(&url::Url) -> bool + '_ {
    move |url| url.port() == Some(api.addr.port()) && url.path() == "/signin/oidc/callback"
}

/// The whole sign-in in a browser that follows redirects, ending on the desktop's
/// loopback listener: returns the code, after checking the way there.
async fn sign_in(api: &Running, desktop_listener: &mut Loopback, pkce: &Pkce) -> String {
    let browser = browser();
    let html =
        open_sign_in_page(&browser, &authorize_url(api, &desktop_listener.redirect_uri, &pkce.challenge, "desk", &[]))
            .await;
    assert!(!html.contains("Development sign-in"), "dev sign-in is off unless asked for");
    let landing = choose_provider(&browser, api, &html, "oidc").await;
    assert_eq!(landing.status(), 200, "{}", landing.text().await.unwrap());
    let received = desktop_listener.try_received().expect("the desktop received the redirect");
    assert_eq!(received["state"], "desk");
    received["code"].clone()
}

#[tokio::test]
async fn sign_in_through_the_provider_creates_user_account_and_session() {
    let provider = OidcProvider::start(None).await;
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, use_provider(&provider)).await;
        let mut listener = Loopback::start().await;
        let pkce = Pkce::new();
        let code = sign_in(&api, &mut listener, &pkce).await;
        let token = exchange(&api, &code, &listener.redirect_uri, &pkce.verifier).await;
        assert_eq!(token.status(), 200, "{backend:?}");
        let token: serde_json::Value = token.json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let me: serde_json::Value = api_me(&api, &token).await.json().await.unwrap();
        assert_eq!(me["user"]["email"], oidc::ACCOUNT_EMAIL, "{backend:?}");
        assert_eq!(me["user"]["name"], oidc::ACCOUNT_NAME);
        let user_id = me["user"]["id"].as_str().unwrap().to_owned();

        let account_owner = text(
            &db,
            "SELECT CAST(user_id AS text) FROM {auth}accounts WHERE provider_id = 'oidc' AND account_id = $1",
            &[oidc::ACCOUNT_ID],
        )
        .await;
        assert_eq!(account_owner.as_deref(), Some(user_id.as_str()), "{backend:?}");
        let verified =
            count(&db, "SELECT count(*) FROM {auth}users WHERE email = $1 AND email_verified", &[oidc::ACCOUNT_EMAIL]);
        assert_eq!(verified.await, 1, "{backend:?}: the provider vouched for the email");
        let sessions = "SELECT count(*) FROM {auth}sessions WHERE CAST(user_id AS text) = $1";
        assert_eq!(count(&db, sessions, &[&user_id]).await, 1);

        // Signing in again finds the same account and user.
        let pkce = Pkce::new();
        let code = sign_in(&api, &mut listener, &pkce).await;
        assert_eq!(exchange(&api, &code, &listener.redirect_uri, &pkce.verifier).await.status(), 200);
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 1, "{backend:?}");
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}accounts", &[]).await, 1);
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}sessions", &[]).await, 2);
        api.stop().await;
    }
}

/// A whole sign-in through the provider, then the token exchange: the session token.
async fn sign_in_for_token(api: &Running) -> String {
    let mut listener = Loopback::start().await;
    let pkce = Pkce::new();
    let code = sign_in(api, &mut listener, &pkce).await;
    let token = exchange(api, &code, &listener.redirect_uri, &pkce.verifier).await;
    assert_eq!(token.status(), 200);
    let token: serde_json::Value = token.json().await.unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// Pre-account takeover: Eve registers the victim's address at a provider that does
/// not verify it and signs in first; then the victim signs in with the address
/// verified. Both sessions must name different users, and Eve's must not read the
/// victim's chats, then or after she signs in again.
#[tokio::test]
async fn an_unverified_claim_to_an_address_never_reaches_its_verified_owner() {
    let provider = OidcProvider::start(None).await;
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, use_provider(&provider)).await;
        let data = tempfile::tempdir().unwrap();
        let streams = start_streams(&db, data.path()).await;
        let me = |token: String| {
            let api = &api;
            async move { api_me(api, &token).await.json::<serde_json::Value>().await.unwrap()["user"].clone() }
        };

        provider.next_login(oidc::UNVERIFIED_ACCOUNT_ID).await;
        let eve = sign_in_for_token(&api).await;
        let eve_user = me(eve.clone()).await;
        assert_eq!(eve_user["email"], oidc::ACCOUNT_EMAIL, "{backend:?}: stored lowercased");

        provider.next_login(oidc::ACCOUNT_ID).await;
        let victim = sign_in_for_token(&api).await;
        let victim_user = me(victim.clone()).await;
        assert_ne!(victim_user["id"], eve_user["id"], "{backend:?}: two people, two users");
        assert_eq!(victim_user["email"], oidc::ACCOUNT_EMAIL);
        let verified_holder = "SELECT CAST(id AS text) FROM {auth}users WHERE email = $1 AND email_verified";
        let holder = text(&db, verified_holder, &[oidc::ACCOUNT_EMAIL]).await;
        assert_eq!(holder.as_deref(), victim_user["id"].as_str(), "{backend:?}: the address is the victim's");

        // The victim chats; Eve's session cannot see it.
        let chat = "6f1c2d9e-0b7a-4c1e-9a55-3f7e0d2b8c41";
        let http = desktop();
        let created = http.put(streams.url(&format!("/v1/sessions/{chat}"))).bearer_auth(&victim).send().await.unwrap();
        assert!(created.status().is_success(), "{backend:?}: {}", created.status());
        let message = serde_json::json!({"content": "my secret plans"});
        let posted = http
            .post(streams.url(&format!("/v1/sessions/{chat}/messages")))
            .bearer_auth(&victim)
            .json(&message)
            .send()
            .await
            .unwrap();
        assert!(posted.status().is_success(), "{backend:?}: {}", posted.status());
        let eve_again = {
            provider.next_login(oidc::UNVERIFIED_ACCOUNT_ID).await;
            sign_in_for_token(&api).await
        };
        assert_eq!(me(eve_again.clone()).await["id"], eve_user["id"], "{backend:?}: Eve keeps her own user");
        for token in [&eve, &eve_again] {
            for path in [format!("/v1/sessions/{chat}"), format!("/v1/stream/sessions/{chat}?offset=-1")] {
                let read = http.get(streams.url(&path)).bearer_auth(token).send().await.unwrap();
                assert_eq!(read.status(), 404, "{backend:?}: Eve read {path}");
            }
            let list: serde_json::Value =
                http.get(streams.url("/v1/sessions")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            assert_eq!(list["sessions"], serde_json::json!([]), "{backend:?}");
        }
        let own = http.get(streams.url(&format!("/v1/stream/sessions/{chat}?offset=-1"))).bearer_auth(&victim);
        assert!(own.send().await.unwrap().text().await.unwrap().contains("my secret plans"), "{backend:?}");
        streams.stop().await;
        api.stop().await;
    }
}

#[tokio::test]
async fn provider_answer_with_a_wrong_state_or_issuer_is_refused() {
    let provider = OidcProvider::start(None).await;
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let api = start_api(&db, use_provider(&provider)).await;
        let browser = stepping_browser();
        let pkce = Pkce::new();
        let html = open_sign_in_page(&browser, &authorize_url(&api, REDIRECT, &pkce.challenge, "desk", &[])).await;
        // Through the provider, stopping just before the browser returns to us.
        let chosen = choose_provider(&browser, &api, &html, "oidc").await;
        let genuine = follow_until(&browser, &redirect_target(&chosen), is_api_callback(&api)).await;
        let state = genuine.query_pairs().find(|(k, _)| k == "state").expect("state on the return leg").1.into_owned();

        for forged in [Some("forged-state"), Some(&state[..state.len() - 1]), None] {
            let mut url = genuine.clone();
            let pairs: Vec<(String, String)> = genuine
                .query_pairs()
                .into_owned()
                .filter_map(|(k, v)| if k == "state" { forged.map(|f| (k, f.to_owned())) } else { Some((k, v)) })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
            let refused = browser.get(url).send().await.unwrap();
            assert_eq!(refused.status(), 400, "{backend:?} state {forged:?}");
            assert!(refused.headers().get("location").is_none());
            assert!(refused.text().await.unwrap().contains("state does not match"));
        }
        assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 0, "{backend:?}");

        // The provider names itself (RFC 9207); an answer naming another issuer is refused.
        assert_eq!(
            genuine.query_pairs().find(|(k, _)| k == "iss").map(|(_, v)| v.into_owned()),
            Some(provider.issuer.clone())
        );
        let mut mixed_up = genuine.clone();
        let pairs: Vec<(String, String)> = genuine
            .query_pairs()
            .into_owned()
            .map(|(k, v)| if k == "iss" { (k, "https://attacker.example".to_owned()) } else { (k, v) })
            .collect();
        mixed_up.query_pairs_mut().clear().extend_pairs(pairs);
        let refused = browser.get(mixed_up).send().await.unwrap();
        assert_eq!(refused.status(), 400, "{backend:?}");
        assert!(refused.text().await.unwrap().contains("issuer differs"));

        // The forgeries did not spoil the genuine answer, which still signs in.
        let accepted = browser.get(genuine).send().await.unwrap();
        assert_eq!(accepted.status(), 303, "{backend:?}");
        let (target, query) = location_query(&accepted);
        assert_eq!(target, REDIRECT);
        assert_eq!(query["state"], "desk");
        assert_eq!(exchange(&api, &query["code"], REDIRECT, &pkce.verifier).await.status(), 200);
        api.stop().await;
    }
}

/// Runs the sign-in against a provider issuing tampered ID tokens; returns the
/// response our callback gave the browser.
async fn sign_in_with_tampered_id_token(db: &TestDatabase, provider: &OidcProvider) -> (u16, String, Option<String>) {
    let api = start_api(db, use_provider(provider)).await;
    let mut listener = Loopback::start().await;
    let browser = browser();
    let html =
        open_sign_in_page(&browser, &authorize_url(&api, &listener.redirect_uri, &Pkce::new().challenge, "desk", &[]))
            .await;
    let response = choose_provider(&browser, &api, &html, "oidc").await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let code = listener.try_received().map(|q| q["code"].clone());
    api.stop().await;
    (status, body, code)
}

#[tokio::test]
async fn id_tokens_with_a_wrong_nonce_or_audience_are_refused() {
    for mode in ["nonce", "audience"] {
        let provider = OidcProvider::start(Some(mode)).await;
        for backend in Backend::ALL {
            let db = TestDatabase::new(backend).await;
            let (status, body, code) = sign_in_with_tampered_id_token(&db, &provider).await;
            assert_eq!(status, 400, "{mode} {backend:?}: {body}");
            assert!(body.contains("could not be verified"), "{mode}: {body}");
            assert!(body.contains(r#"<code class="error-code">access_denied</code>"#), "{mode}: {body}");
            assert_eq!(code, None, "{mode} {backend:?}: no code reached the desktop");
            assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 0, "{mode} {backend:?}");
            assert_eq!(count(&db, "SELECT count(*) FROM {auth}accounts", &[]).await, 0);
        }
    }
}

#[tokio::test]
async fn a_re_signed_but_unchanged_id_token_is_accepted() {
    // The control for the test above: the provider's re-signing itself is sound, so
    // what got those tokens refused was the changed nonce or audience.
    let provider = OidcProvider::start(Some("resign")).await;
    let db = TestDatabase::sqlite();
    let (status, body, code) = sign_in_with_tampered_id_token(&db, &provider).await;
    assert_eq!(status, 200, "{body}");
    assert!(code.is_some());
    assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 1);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_502_page_not_a_crash() {
    // A provider that is configured but down: discovery fails when someone picks it.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |c| {
        c.dev_login = false;
        c.oidc_issuer = Some(issuer);
        c.oidc_client_id = Some("id".into());
        c.oidc_client_secret = Some(Secret::new("secret"));
    })
    .await;
    let browser = stepping_browser();
    let html = open_sign_in_page(&browser, &authorize_url(&api, REDIRECT, &Pkce::new().challenge, "s", &[])).await;
    let response = choose_provider(&browser, &api, &html, "oidc").await;
    assert_eq!(response.status(), 502);
    assert!(response.text().await.unwrap().contains("could not be reached"));
    api.stop().await;
}
