//! OAuth sign-in against a real superset-api (dev sign-in form on), with an HTTP client
//! playing the browser; the token it yields then works on a real streams server.

mod common;

use std::time::Duration;

use common::servers::{dev_form_redirect, follow, sign_in_with_dev_form, Stack};
use superset_client::{Login, LoginError, ReturnPath, TokenStore};
use tokio_util::sync::CancellationToken;
use url::Url;

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The browser's redirect to the loopback listener, with its query replaced.
fn redirect_with(login: &Login, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&query(login.authorize_url(), "redirect_uri").unwrap()).unwrap();
    url.query_pairs_mut().clear().extend_pairs(params);
    url.to_string()
}

#[tokio::test]
async fn the_authorization_url_asks_for_pkce_s256_state_and_a_loopback_redirect() {
    let stack = Stack::start().await;
    let login = Login::start(&stack.api).await.unwrap();
    let url = login.authorize_url();
    assert_eq!(url.as_str().split('?').next().unwrap(), stack.api.join("oauth/authorize").unwrap().as_str());
    assert_eq!(query(url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(url, "client_id").as_deref(), Some("superset-desktop"));
    assert_eq!(query(url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(url, "code_challenge").map(|c| c.len()), Some(43), "base64url SHA-256");
    assert!(query(url, "state").is_some_and(|s| s.len() >= 16));
    let redirect = Url::parse(&query(url, "redirect_uri").unwrap()).unwrap();
    assert_eq!(redirect.host_str(), Some("127.0.0.1"));
    assert_ne!(redirect.port(), Some(0));

    let other = Login::start(&stack.api).await.unwrap();
    assert_ne!(query(other.authorize_url(), "state"), query(url, "state"), "state is random");
    assert_ne!(query(other.authorize_url(), "code_challenge"), query(url, "code_challenge"));
}

#[tokio::test]
async fn signing_in_with_the_dev_form_yields_a_token_the_streams_server_accepts() {
    let stack = Stack::start().await;
    let login = Login::start(&stack.api).await.unwrap();
    let url = login.authorize_url().clone();
    let browser = tokio::spawn(async move { sign_in_with_dev_form(&url, "ada@example.test").await });
    let token = login.finish(&CancellationToken::new()).await.expect("signed in");
    let (status, page) = browser.await.unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("Signed in to Superset"), "{page}");

    let days = (token.expires_at.expect("the server says when it expires") - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "expires in {days} days");

    let home = tempfile::tempdir().unwrap();
    let store = TokenStore::new(home.path());
    store.save(&token).unwrap();
    let stored = store.load().unwrap();

    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(stack.api.join("api/me").unwrap())
        .bearer_auth(stored.secret())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "ada@example.test");
    let streams = http.get(stack.streams.join("v1/me").unwrap()).bearer_auth(stored.secret()).send().await.unwrap();
    assert_eq!(streams.status(), 200, "the streams server accepts the token");
    let without = http.get(stack.streams.join("v1/me").unwrap()).send().await.unwrap();
    assert_eq!(without.status(), 401);
}

#[tokio::test]
async fn a_redirect_with_the_wrong_state_is_refused_and_the_real_one_still_counts() {
    let stack = Stack::start().await;
    let login = Login::start(&stack.api).await.unwrap();
    let forged = redirect_with(&login, &[("code", "stolen"), ("state", "not-the-state")]);
    let (status, page) = follow(&reqwest::Client::new(), &forged).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired"), "{page}");

    let url = login.authorize_url().clone();
    let browser = tokio::spawn(async move { sign_in_with_dev_form(&url, "bo@example.test").await });
    login.finish(&CancellationToken::new()).await.expect("the genuine redirect still signs in");
    assert_eq!(browser.await.unwrap().0, 200);
}

#[tokio::test]
async fn a_refusal_reaches_the_caller_and_the_browser() {
    let stack = Stack::start().await;
    let login = Login::start(&stack.api).await.unwrap();
    let state = query(login.authorize_url(), "state").unwrap();
    let refused = redirect_with(&login, &[("error", "access_denied"), ("state", &state)]);
    let browser = tokio::spawn(async move { follow(&reqwest::Client::new(), &refused).await });
    let err = login.finish(&CancellationToken::new()).await.unwrap_err();
    assert!(matches!(&err, LoginError::Refused(e) if e.contains("access_denied")), "{err:?}");
    let (status, page) = browser.await.unwrap();
    assert_eq!(status, 400);
    assert!(page.contains("Sign-in failed") && page.contains("access_denied"), "{page}");
}

#[tokio::test]
async fn a_code_the_server_does_not_know_fails_the_exchange() {
    let stack = Stack::start().await;
    let login = Login::start(&stack.api).await.unwrap();
    let state = query(login.authorize_url(), "state").unwrap();
    let bad = redirect_with(&login, &[("code", "made-up"), ("state", &state)]);
    let browser = tokio::spawn(async move { follow(&reqwest::Client::new(), &bad).await });
    let err = login.finish(&CancellationToken::new()).await.unwrap_err();
    assert!(matches!(&err, LoginError::Exchange(e) if e.contains("invalid_grant")), "{err:?}");
    assert!(browser.await.unwrap().1.contains("Sign-in failed"));
}

#[tokio::test]
async fn it_times_out_and_stops_listening() {
    let stack = Stack::start().await;
    let login = Login::start(&stack.api).await.unwrap().with_timeout(Duration::from_millis(300));
    let redirect = Url::parse(&query(login.authorize_url(), "redirect_uri").unwrap()).unwrap();
    let err = login.finish(&CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, LoginError::TimedOut(_)), "{err:?}");
    let addr = format!("127.0.0.1:{}", redirect.port().unwrap());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn it_can_be_cancelled() {
    let stack = Stack::start().await;
    let login = Login::start(&stack.api).await.unwrap();
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        canceller.cancel();
    });
    let err = login.finish(&cancel).await.unwrap_err();
    assert!(matches!(err, LoginError::Cancelled), "{err:?}");
}

/// The app-link path: the auth server sends the browser to `superset://auth/callback`,
/// which the OS hands to the app; links that are not this sign-in's are ignored.
#[tokio::test]
async fn the_app_link_return_path_signs_in_and_ignores_foreign_links() {
    let stack = Stack::start().await;
    let login = Login::start_with(&stack.api, ReturnPath::AppLink).await.unwrap();
    assert_eq!(query(login.authorize_url(), "redirect_uri").as_deref(), Some("superset://auth/callback"));
    let receiver = login.link_receiver();

    let (_, link) = dev_form_redirect(login.authorize_url(), "link@example.test").await;
    let link = Url::parse(&link).unwrap();
    assert_eq!((link.scheme(), link.host_str(), link.path()), ("superset", Some("auth"), "/callback"));
    let mut stale = link.clone();
    stale.query_pairs_mut().clear().extend_pairs([("code", "x"), ("state", "not-this-sign-in")]);
    assert!(!receiver.receive(&stale).await, "another sign-in's link");
    let elsewhere =
        Url::parse(&link.as_str().replace("superset://auth/callback", "superset://other/callback")).unwrap();
    assert!(!receiver.receive(&elsewhere).await, "not the callback link");

    assert!(receiver.receive(&link).await);
    assert!(!receiver.receive(&link).await, "a link is taken once");
    let token = login.finish(&CancellationToken::new()).await.expect("signed in through the app link");
    let me = reqwest::Client::new().get(stack.api.join("api/me").unwrap()).bearer_auth(token.secret()).send().await;
    let me: serde_json::Value = me.unwrap().error_for_status().unwrap().json().await.unwrap();
    assert_eq!(me["user"]["email"], "link@example.test");
}
