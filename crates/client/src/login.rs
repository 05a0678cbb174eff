//! OAuth 2.0 sign-in for a native app (RFC 8252) against superset-api: authorization
//! code with PKCE (S256) and a random `state`, the redirect received either by a
//! one-shot listener on 127.0.0.1 at a random port or, for an app registered for the
//! `superset:` scheme, as the link `superset://auth/callback` the OS hands to the app;
//! the code is then exchanged for a session token.
//!
//! Two steps, so the caller can show the URL before waiting: [`Login::start`] binds
//! the listener and builds the URL; [`Login::finish`] waits for the browser (at most
//! [`LOGIN_TIMEOUT`], or until cancelled) and returns the token. On the loopback path
//! the browser gets a page saying how it went either way.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, TokenResponse, TokenUrl,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::servers::CLIENT_ID;
use crate::StoredToken;

/// How long a sign-in waits for the browser to come back.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The path of the loopback redirect URI.
const CALLBACK_PATH: &str = "/callback";

/// The app-link redirect URI, which the auth server accepts beside loopback ones.
pub const APP_LINK_CALLBACK: &str = "superset://auth/callback";

/// Where the browser brings the sign-in back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReturnPath {
    /// A one-shot listener on 127.0.0.1 (RFC 8252 §7.3): needs nothing installed.
    #[default]
    Loopback,
    /// [`APP_LINK_CALLBACK`] (RFC 8252 §7.1): the OS starts (or, with a single-instance
    /// app, wakes) the app registered for the scheme, which passes the link to
    /// [`LinkReceiver::receive`].
    AppLink,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("cannot listen for the browser's redirect on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    #[error("{0} is not a usable auth server URL")]
    BadServerUrl(Url),
    #[error("no answer from the browser within {} seconds; run the sign-in again", .0.as_secs())]
    TimedOut(Duration),
    #[error("sign-in cancelled")]
    Cancelled,
    #[error("the sign-in was refused: {0}")]
    Refused(String),
    #[error("the auth server did not issue a token: {0}")]
    Exchange(String),
}

/// A sign-in waiting for the browser.
pub struct Login {
    authorize_url: Url,
    pending: Arc<Pending>,
    result: oneshot::Receiver<Result<StoredToken, LoginError>>,
    stop_listener: CancellationToken,
    /// `None` on the app-link path.
    listener: Option<JoinHandle<()>>,
    timeout: Duration,
}

/// Takes a sign-in's `superset://auth/callback` link when the OS delivers it.
#[derive(Clone)]
pub struct LinkReceiver(Arc<Pending>);

/// What the redirect handler needs; the verifier is taken by the first valid redirect,
/// which makes the listener one-shot.
struct Pending {
    state: CsrfToken,
    verifier: Mutex<Option<PkceCodeVerifier>>,
    done: Mutex<Option<oneshot::Sender<Result<StoredToken, LoginError>>>>,
    token_url: TokenUrl,
    redirect_url: RedirectUrl,
    http: reqwest::Client,
}

impl Login {
    /// Binds the loopback listener and builds the authorization URL for the auth
    /// server at `api` (its base URL).
    pub async fn start(api: &Url) -> Result<Login, LoginError> {
        Self::start_with(api, ReturnPath::Loopback).await
    }

    /// As [`Login::start`], with the browser coming back by `path`.
    pub async fn start_with(api: &Url, path: ReturnPath) -> Result<Login, LoginError> {
        let endpoint = |path: &str| api.join(path).map_err(|_| LoginError::BadServerUrl(api.clone()));
        let auth_url = AuthUrl::from_url(endpoint("oauth/authorize")?);
        let token_url = TokenUrl::from_url(endpoint("oauth/token")?);

        let socket = match path {
            ReturnPath::Loopback => {
                Some(TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.map_err(LoginError::Listen)?)
            }
            ReturnPath::AppLink => None,
        };
        let redirect = match &socket {
            Some(socket) => {
                let port = socket.local_addr().map_err(LoginError::Listen)?.port();
                format!("http://127.0.0.1:{port}{CALLBACK_PATH}")
            }
            None => APP_LINK_CALLBACK.to_owned(),
        };
        let redirect_url = RedirectUrl::from_url(Url::parse(&redirect).expect("a redirect URI parses"));

        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize_url, state) = BasicClient::new(ClientId::new(CLIENT_ID.to_owned()))
            .set_auth_uri(auth_url)
            .set_redirect_uri(redirect_url.clone())
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .url();

        let (done, result) = oneshot::channel();
        let pending = Arc::new(Pending {
            state,
            verifier: Mutex::new(Some(verifier)),
            done: Mutex::new(Some(done)),
            token_url,
            redirect_url,
            http: crate::http::client(),
        });
        let stop_listener = CancellationToken::new();
        let listener = socket.map(|socket| {
            let router = Router::new().route(CALLBACK_PATH, get(callback)).with_state(pending.clone());
            let serve = axum::serve(socket, router).with_graceful_shutdown(stop_listener.clone().cancelled_owned());
            tokio::spawn(async move {
                if let Err(e) = serve.await {
                    tracing::warn!(error = %e, "the sign-in listener stopped");
                }
            })
        });
        Ok(Login { authorize_url, pending, result, stop_listener, listener, timeout: LOGIN_TIMEOUT })
    }

    /// What to hand the `superset://auth/callback` link to (app-link path).
    pub fn link_receiver(&self) -> LinkReceiver {
        LinkReceiver(self.pending.clone())
    }

    /// The URL to open in the browser.
    pub fn authorize_url(&self) -> &Url {
        &self.authorize_url
    }

    /// Waits this long instead of [`LOGIN_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Waits for the browser's redirect and exchanges its code for a token. The token
    /// is returned, not stored: the caller decides where it goes.
    pub async fn finish(self, cancel: &CancellationToken) -> Result<StoredToken, LoginError> {
        let outcome = tokio::select! {
            result = self.result => result.unwrap_or(Err(LoginError::Cancelled)),
            () = tokio::time::sleep(self.timeout) => Err(LoginError::TimedOut(self.timeout)),
            () = cancel.cancelled() => Err(LoginError::Cancelled),
        };
        // Let the browser's page go out, then stop listening.
        self.stop_listener.cancel();
        if let Some(listener) = self.listener {
            let _ = tokio::time::timeout(Duration::from_secs(5), listener).await;
        }
        outcome
    }
}

/// Opens `url` in the system browser; false when there is none (a headless box), in
/// which case the caller has printed the URL for the user to open elsewhere.
pub fn open_in_browser(url: &Url) -> bool {
    match open::that_detached(url.as_str()) {
        Ok(()) => true,
        Err(e) => {
            tracing::info!(error = %e, "cannot open a browser; open the sign-in URL yourself");
            false
        }
    }
}

impl LinkReceiver {
    /// Completes the sign-in with the link the OS delivered. False when the link is not
    /// this sign-in's (another URL, a stale `state`) or it already finished; the
    /// sign-in then keeps waiting.
    pub async fn receive(&self, link: &Url) -> bool {
        if link.as_str().split(['?', '#']).next() != Some(APP_LINK_CALLBACK) {
            return false;
        }
        let params: HashMap<String, String> = link.query_pairs().into_owned().collect();
        matches!(self.0.complete(&params).await, Completion::Done(_))
    }
}

/// What became of a redirect.
enum Completion {
    /// Its `state` is not this sign-in's.
    NotOurs,
    AlreadyHandled,
    /// The sign-in ended; the error, if it failed.
    Done(Option<String>),
}

impl Pending {
    async fn complete(&self, params: &HashMap<String, String>) -> Completion {
        if params.get("state").map(String::as_str) != Some(self.state.secret().as_str()) {
            return Completion::NotOurs;
        }
        let Some(verifier) = self.verifier.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Completion::AlreadyHandled;
        };
        let result = match (params.get("code"), params.get("error")) {
            (_, Some(error)) => Err(LoginError::Refused(describe_refusal(error, params.get("error_description")))),
            (Some(code), None) => exchange(self, code, verifier).await,
            (None, None) => Err(LoginError::Refused("the redirect carried neither a code nor an error".into())),
        };
        let failure = result.as_ref().err().map(ToString::to_string);
        if let Some(done) = self.done.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = done.send(result);
        }
        Completion::Done(failure)
    }
}

async fn callback(State(pending): State<Arc<Pending>>, Query(params): Query<HashMap<String, String>>) -> Response {
    match pending.complete(&params).await {
        // Not the sign-in we started (a stale tab, or someone else): refuse it and keep
        // waiting for the real one.
        Completion::NotOurs => page(
            StatusCode::BAD_REQUEST,
            "This sign-in link has expired",
            "It does not belong to the sign-in Superset is waiting for. Start the sign-in again from Superset.",
        ),
        Completion::AlreadyHandled => {
            page(StatusCode::CONFLICT, "Already handled", "This sign-in has already finished. You can close this tab.")
        }
        Completion::Done(None) => {
            page(StatusCode::OK, "Signed in to Superset", "You can close this tab and go back to Superset.")
        }
        Completion::Done(Some(e)) => page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            &format!("{e}. Close this tab and try again from Superset."),
        ),
    }
}

fn describe_refusal(error: &str, description: Option<&String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!("{error}: {d}"),
        _ => error.to_owned(),
    }
}

async fn exchange(pending: &Pending, code: &str, verifier: PkceCodeVerifier) -> Result<StoredToken, LoginError> {
    let response = BasicClient::new(ClientId::new(CLIENT_ID.to_owned()))
        .set_token_uri(pending.token_url.clone())
        .set_redirect_uri(pending.redirect_url.clone())
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(verifier)
        .request_async(&pending.http)
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => {
                LoginError::Exchange(describe_refusal(r.error().as_ref(), r.error_description()))
            }
            other => LoginError::Exchange(other.to_string()),
        })?;
    let expires_at =
        response.expires_in().and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| chrono::Utc::now() + d);
    Ok(StoredToken::new(response.access_token().secret().clone(), expires_at))
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let (title, message) = (escape(title), escape(message));
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;height:90vh;\
         margin:0;color:#222}}main{{max-width:32rem;text-align:center}}</style></head>\
         <body><main><h1>{title}</h1><p>{message}</p></main></body></html>"
    );
    (status, [("cache-control", "no-store")], Html(body)).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
