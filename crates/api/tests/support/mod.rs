//! What the auth-server tests share: the auth server and the streams server on port 0,
//! a browser (an HTTP client with a cookie jar), the desktop's loopback listener, PKCE
//! pairs, and direct looks into the database.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::Query;
use axum::routing::get;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use superset_api::{Config, Server};
use superset_testkit::{Backend, TestDatabase};
use tokio::sync::mpsc;

pub const CLIENT_ID: &str = "superset-desktop";

/// A server running on its own task until stopped (or dropped, which stops it without
/// waiting).
pub struct Running {
    pub addr: SocketAddr,
    server: superset_edge::Running,
}

impl Running {
    fn new(server: superset_edge::Running) -> Self {
        Running { addr: server.addr, server }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("server stopped cleanly");
    }
}

/// The auth server on `db` with the dev sign-in on, adjusted by `configure`.
pub async fn start_api(db: &TestDatabase, configure: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config::new(db.database_url());
    config.port = 0;
    config.dev_login = true;
    configure(&mut config);
    Running::new(Server::spawn(config).await.expect("auth server starts"))
}

/// The real streams server on the same database, its data in `data`.
pub async fn start_streams(db: &TestDatabase, data: &std::path::Path) -> Running {
    let mut config = superset_streams::Config::new(db.database_url());
    config.port = 0;
    config.data_dir = data.to_owned();
    Running::new(superset_streams::Server::spawn(config).await.expect("streams server starts"))
}

/// A browser: keeps cookies, follows redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().expect("client")
}

/// A browser that stops at every redirect, so a test can read where it would go.
pub fn stepping_browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A plain HTTP client, as the desktop's token and API calls use.
pub fn desktop() -> reqwest::Client {
    reqwest::Client::builder().user_agent("superset-desktop-test/1.0").build().expect("client")
}

/// The desktop's one-shot loopback listener: receives the redirect carrying the code.
pub struct Loopback {
    pub redirect_uri: String,
    received: mpsc::Receiver<HashMap<String, String>>,
}

impl Loopback {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback listener");
        let addr = listener.local_addr().unwrap();
        let (tx, received) = mpsc::channel(4);
        let app = axum::Router::new().route(
            "/callback",
            get(move |Query(query): Query<HashMap<String, String>>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(query).await;
                    "Signed in. You can close this tab."
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Loopback { redirect_uri: format!("http://{addr}/callback"), received }
    }

    /// The query of the redirect that arrived, if one did.
    pub fn try_received(&mut self) -> Option<HashMap<String, String>> {
        self.received.try_recv().ok()
    }
}

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce { verifier, challenge }
    }
}

/// `/oauth/authorize?...` with the desktop's usual parameters, `overrides` replacing
/// or (with `None`) removing some.
pub fn authorize_url(
    api: &Running,
    redirect_uri: &str,
    challenge: &str,
    state: &str,
    overrides: &[(&str, Option<&str>)],
) -> String {
    let mut params = vec![
        ("response_type", Some("code")),
        ("client_id", Some(CLIENT_ID)),
        ("redirect_uri", Some(redirect_uri)),
        ("code_challenge", Some(challenge)),
        ("code_challenge_method", Some("S256")),
        ("state", Some(state)),
    ];
    for (name, value) in overrides {
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1 = *value,
            None => params.push((name, *value)),
        }
    }
    let mut url = url::Url::parse(&api.url("/oauth/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params.into_iter().filter_map(|(n, v)| Some((n, v?))));
    url.to_string()
}

/// The query parameters of a redirect response's `Location`.
pub fn location_query(response: &reqwest::Response) -> (String, HashMap<String, String>) {
    let location = response.headers().get("location").expect("a Location header").to_str().unwrap();
    let url = url::Url::parse(location).expect("Location is a URL");
    let query = url.query_pairs().into_owned().collect();
    let mut base = url.clone();
    base.set_query(None);
    (base.to_string(), query)
}

/// The anti-CSRF token of a sign-in page: every form on it carries the same one.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker).unwrap_or_else(|| panic!("no anti-CSRF token on the page: {html}")) + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The person's click on "Continue with ..." on the sign-in page `html`: the POST its
/// form sends.
pub async fn choose_provider(
    browser: &reqwest::Client,
    api: &Running,
    html: &str,
    provider: &str,
) -> reqwest::Response {
    let action = api.url(&format!("/signin/{provider}"));
    assert!(html.contains(&format!("action=\"{action}\"")), "no {provider} button on the page: {html}");
    browser.post(action).form(&[("csrf_token", csrf_token(html))]).send().await.unwrap()
}

/// The dev form on the sign-in page `html`, filled in and sent.
pub async fn submit_dev_form(
    browser: &reqwest::Client,
    api: &Running,
    html: &str,
    name: &str,
    email: &str,
) -> reqwest::Response {
    let token = csrf_token(html);
    let form = [("csrf_token", token.as_str()), ("name", name), ("email", email)];
    browser.post(api.url("/signin/dev")).form(&form).send().await.unwrap()
}

/// Opens the sign-in page for this authorization request in `browser`: its HTML.
pub async fn open_sign_in_page(browser: &reqwest::Client, url: &str) -> String {
    let page = browser.get(url).send().await.unwrap();
    let status = page.status();
    let html = page.text().await.unwrap();
    assert_eq!(status, 200, "{html}");
    html
}

/// Authorize and sign in through the dev form, stopping at the redirect to the
/// desktop: returns its parameters (`code`, `state`).
pub async fn dev_sign_in(api: &Running, redirect_uri: &str, pkce: &Pkce, email: &str) -> HashMap<String, String> {
    let browser = stepping_browser();
    let html = open_sign_in_page(&browser, &authorize_url(api, redirect_uri, &pkce.challenge, "st4te", &[])).await;
    let answer = submit_dev_form(&browser, api, &html, "Test Person", email).await;
    assert_eq!(answer.status(), 303);
    let (target, query) = location_query(&answer);
    assert_eq!(target, redirect_uri);
    assert_eq!(query.get("state").map(String::as_str), Some("st4te"));
    query
}

/// `POST /oauth/token` with these form fields.
pub async fn token_request(api: &Running, form: &[(&str, &str)]) -> reqwest::Response {
    desktop().post(api.url("/oauth/token")).form(form).send().await.expect("token request")
}

/// The desktop's token request for `code`.
pub async fn exchange(api: &Running, code: &str, redirect_uri: &str, verifier: &str) -> reqwest::Response {
    token_request(
        api,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", CLIENT_ID),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// The `error` of an RFC 6749 §5.2 JSON answer.
pub async fn oauth_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert_eq!(response.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    let body: serde_json::Value = response.json().await.expect("a JSON error body");
    assert!(body["error_description"].is_string(), "{body}");
    (status, body["error"].as_str().expect("an error code").to_owned())
}

/// `GET /api/me` with a bearer token.
pub async fn api_me(api: &Running, token: &str) -> reqwest::Response {
    desktop().get(api.url("/api/me")).bearer_auth(token).send().await.unwrap()
}

/// Runs a query returning one count, on either driver (the schema is `auth` on
/// PostgreSQL, bare tables on SQLite: `{auth}` in `sql` stands for the prefix).
pub async fn count(db: &TestDatabase, sql: &str, binds: &[&str]) -> i64 {
    match db.backend() {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            let sql = sql.replace("{auth}", "auth.");
            let mut query = sqlx::query_scalar(&sql);
            for b in binds {
                query = query.bind(*b);
            }
            let n: i64 = query.fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            let sql = sql.replace("{auth}", "").replace("$1", "?1").replace("$2", "?2");
            let mut query = sqlx::query_scalar(&sql);
            for b in binds {
                query = query.bind(*b);
            }
            let n: i64 = query.fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}

/// One text column of one row, on either driver (see [`count`]).
pub async fn text(db: &TestDatabase, sql: &str, binds: &[&str]) -> Option<String> {
    match db.backend() {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            let sql = sql.replace("{auth}", "auth.");
            let mut query = sqlx::query_scalar(&sql);
            for b in binds {
                query = query.bind(*b);
            }
            let v: Option<Option<String>> = query.fetch_optional(&pool).await.unwrap();
            pool.close().await;
            v.flatten()
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            let sql = sql.replace("{auth}", "").replace("$1", "?1").replace("$2", "?2");
            let mut query = sqlx::query_scalar(&sql);
            for b in binds {
                query = query.bind(*b);
            }
            let v: Option<Option<String>> = query.fetch_optional(&pool).await.unwrap();
            pool.close().await;
            v.flatten()
        }
    }
}

pub mod oidc;

/// Where a redirect response sends the browser.
pub fn redirect_target(response: &reqwest::Response) -> String {
    assert!(response.status().is_redirection(), "{} is not a redirect", response.status());
    let location = response.headers()["location"].to_str().unwrap();
    response.url().join(location).unwrap().to_string()
}

/// Walks a browser from `url` through redirects until the next one would go to a URL
/// for which `stop` is true; returns that URL (or panics on a non-redirect answer).
pub async fn follow_until(browser: &reqwest::Client, url: &str, stop: impl Fn(&url::Url) -> bool) -> url::Url {
    let mut url = url::Url::parse(url).unwrap();
    for _ in 0..20 {
        let response = browser.get(url.clone()).send().await.unwrap();
        let status = response.status();
        assert!(status.is_redirection(), "{url} answered {status}: {}", response.text().await.unwrap());
        let location = response.headers()["location"].to_str().unwrap();
        url = url.join(location).unwrap();
        if stop(&url) {
            return url;
        }
    }
    panic!("more than 20 redirects");
}
