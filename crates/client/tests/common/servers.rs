//! The real servers on loopback, port 0: superset-api with the dev sign-in form and
//! superset-streams, sharing one auth database, as `superset dev` runs them.

use std::net::SocketAddr;

use superset_edge::Running;
use superset_testkit::TestDatabase;
use url::Url;

pub struct Stack {
    pub db: TestDatabase,
    pub api: Url,
    pub streams: Url,
    pub streams_addr: SocketAddr,
    /// Dropping the stack stops them.
    _servers: [Running; 2],
    _data: tempfile::TempDir,
}

impl Stack {
    /// Both servers on a fresh SQLite database.
    pub async fn start() -> Stack {
        Self::on(TestDatabase::sqlite()).await
    }

    pub async fn on(db: TestDatabase) -> Stack {
        Self::with(db, Options::default()).await
    }

    pub async fn with(db: TestDatabase, options: Options) -> Stack {
        let data = tempfile::tempdir().unwrap();

        let mut api = superset_api::Config::new(db.database_url());
        api.port = 0;
        api.dev_login = true;
        let api = superset_api::Server::spawn(api).await.expect("start superset-api");
        let api_url = Url::parse(&api.url("/")).unwrap();

        let streams_db = options.streams_db_url.map_or_else(|| db.database_url(), |u| u.parse().unwrap());
        let mut streams = superset_streams::Config::new(streams_db);
        streams.port = 0;
        streams.auth_cache = !options.no_auth_cache;
        streams.data_dir = data.path().join("streams");
        let streams = superset_streams::Server::spawn(streams).await.expect("start superset-streams");
        let streams_url = Url::parse(&streams.url("/")).unwrap();

        Stack {
            db,
            api: api_url,
            streams: streams_url,
            streams_addr: streams.addr,
            _servers: [api, streams],
            _data: data,
        }
    }

    /// A new user with a fresh session token, made directly in the auth database.
    pub async fn user(&self, email: &str) -> String {
        let db = superset_auth_db::AuthDb::connect(&self.db.database_url()).await.unwrap();
        superset_testkit::user_with_session(&db, email).await.1
    }

    /// Revokes `token` at the auth server, as signing out on another device would.
    pub async fn revoke(&self, token: &str) {
        let response = reqwest::Client::new()
            .post(self.api.join("oauth/revoke").unwrap())
            .form(&[("token", token), ("client_id", "superset-desktop")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "revocation");
    }
}

#[derive(Default)]
pub struct Options {
    /// The streams server reaches the database here (say, through a proxy that can
    /// cut it off) instead of directly.
    pub streams_db_url: Option<String>,
    /// Every request checks the database: a revoked token or a database outage shows
    /// on the very next request instead of after the cache's second.
    pub no_auth_cache: bool,
}

/// Plays the person at the browser: opens `authorize_url`, fills in the dev form with
/// `email` (sending back the page's anti-CSRF token), follows the redirect to the
/// loopback listener. Returns that last page's
/// status and HTML.
pub async fn sign_in_with_dev_form(authorize_url: &Url, email: &str) -> (u16, String) {
    let (browser, location) = dev_form_redirect(authorize_url, email).await;
    follow(&browser, &location).await
}

/// The browser up to the auth server's redirect back to the app: the redirect's URL.
pub async fn dev_form_redirect(authorize_url: &Url, email: &str) -> (reqwest::Client, String) {
    let browser =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.get(authorize_url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "the sign-in page");
    let html = page.text().await.unwrap();
    let action = form_action(&html).expect("the sign-in page has the dev form");
    let token = csrf_token(&html).expect("the sign-in page's forms carry an anti-CSRF token");
    let name = email.split('@').next().unwrap();
    let form = [("csrf_token", token.as_str()), ("name", name), ("email", email)];
    let answer = browser.post(action).form(&form).send().await.unwrap();
    assert!(answer.status().is_redirection(), "the dev form answers with a redirect, got {}", answer.status());
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    (browser, location)
}

/// What the browser shows at `url`.
pub async fn follow(browser: &reqwest::Client, url: &str) -> (u16, String) {
    let response = browser.get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of the page's hidden `csrf_token` input, which every form must send back.
fn csrf_token(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker)? + marker.len();
    Some(html[at..at + html[at..].find('"')?].to_owned())
}

fn form_action(html: &str) -> Option<String> {
    let start = html.find("<form")?;
    let rest = &html[start..];
    let at = rest.find("action=\"")? + "action=\"".len();
    let end = rest[at..].find('"')?;
    Some(rest[at..at + end].replace("&amp;", "&"))
}
