//! The session manager: the one place the client talks to the servers from, once
//! signed in. Every request and every live subscription carries
//! `Authorization: Bearer <token>`, the token read through the token store each time
//! (so a sign-in or sign-out elsewhere is seen at once).
//!
//! How answers are treated:
//! - 401 with the `WWW-Authenticate: Bearer` challenge our servers send: the server
//!   that checked the token says it is dead (revoked or expired). It is removed from
//!   disk and an [`AuthEvent::Required`] goes out, but only if it is still the stored
//!   token: a late 401 for an old token never signs out a newer sign-in. A 401 without
//!   that challenge came from something in between (a proxy, a captive portal) and
//!   counts as "unavailable".
//! - 503 (and 502, 504, 429), a timeout or a network failure: the server or its
//!   database is having trouble. Retried with capped, jittered exponential backoff,
//!   behind one circuit breaker per client that obeys `Retry-After` (see
//!   [`crate::backoff`]); the user stays signed in whatever happens.
//! - The stored `expires_at` never signs anyone out either: once it has passed on this
//!   machine's clock, or after the machine slept ([`crate::wake`]), the next request
//!   first asks the auth server about the session ([`SessionManager::validate`], one
//!   call shared by all who ask at once), which also brings the stored expiry up to
//!   date with the server's renewals.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};
use url::Url;

use crate::backoff::{Backoff, Breaker, RetryPolicy};
use crate::outage::{transport_detail, Outage};
use crate::servers::{ServerUrls, CLIENT_ID};
use crate::subscription::Subscription;
use crate::wake::{Clock, SystemClock, WakeDetector};
use crate::{StoredToken, TokenStore, TokenStoreError};

/// How long one ordinary request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Sign-out does not wait longer than this for the server to revoke the session.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Error bodies are quoted in errors up to this many characters.
const MAX_QUOTED_BODY: usize = 500;

/// Changes of the signed-in state, for the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthEvent {
    /// Signed in, or signed out by the user.
    Changed { signed_in: bool, expires_at: Option<DateTime<Utc>> },
    /// The server refused the stored token and it was removed: the user must sign in
    /// again. `expired`: the token's expiry had passed on this machine's clock, so it
    /// ran out; otherwise it was ended early (signed out from another device, revoked).
    Required { expired: bool },
}

/// A failed call. Its text (`Display`) is for people: what happened and what to do, in
/// plain words, never a URL, a status line or a token; [`ClientError::detail`] is the
/// technical account, for a "Details" disclosure and the log.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("You're not signed in. Sign in to continue.")]
    SignedOut,
    #[error(
        "Your session ended: this device was signed out from another device or the session was revoked. \
         Sign in again."
    )]
    AuthRequired,
    /// The server cannot be used now (after the client's retries); `reason` is the
    /// technical account of the last try.
    #[error("{outage} You're still signed in; try again in a moment.")]
    Unavailable { outage: Outage, reason: String },
    #[error("{}", status_words(*status, body))]
    Status { method: Method, path: String, status: StatusCode, body: String },
    /// A request that may have reached the server failed before its answer, and was
    /// not sent again (it could be applied twice).
    #[error("The connection dropped while sending, so it may or may not have gone through. Check, then try again.")]
    Network { method: Method, path: String, reason: String },
    #[error("The server sent an answer this app doesn't understand (it may be a different version). Try again later.")]
    BadAnswer(String),
    #[error("This app built a request the server can't take (an invalid content type). Please report it.")]
    BadContentType(String),
    #[error("That message is no longer in this chat. Reload the chat and try again.")]
    NoSuchMessage(String),
    #[error("Can't use the sign-in kept on this computer. Sign in again.")]
    TokenStore(#[from] TokenStoreError),
}

impl ClientError {
    /// The technical account of the failure: the call, the status, the server's words,
    /// the transport's error. Never the token, nor a URL's query (a stream's offsets).
    pub fn detail(&self) -> Option<String> {
        match self {
            ClientError::SignedOut => None,
            ClientError::AuthRequired => {
                Some("the server refused the session token (401 with a Bearer challenge)".into())
            }
            ClientError::Unavailable { reason, .. } => Some(reason.clone()),
            ClientError::Status { method, path, status, body } if body.is_empty() => {
                Some(format!("{method} {path}: the server answered {status}"))
            }
            ClientError::Status { method, path, status, body } => {
                Some(format!("{method} {path}: the server answered {status}: {body}"))
            }
            ClientError::Network { method, path, reason } => Some(format!("{method} {path}: {reason}")),
            ClientError::BadAnswer(what) => Some(format!("{what}: the answer is not what the protocol says")),
            ClientError::BadContentType(value) => Some(format!("{value:?} is not a valid content type")),
            ClientError::NoSuchMessage(id) => Some(format!("message {id} is not in the chat as read now")),
            ClientError::TokenStore(e) => Some(e.to_string()),
        }
    }
}

/// What an HTTP refusal means to a person. The server's own reason (`{"error": WHY}`)
/// is quoted for a request it found wrong, since it says what to change.
fn status_words(status: StatusCode, body: &str) -> String {
    let why = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .filter(|why| why.len() <= 200 && !why.contains("://"));
    match status {
        StatusCode::NOT_FOUND => "Not found: it may have been deleted, here or on another device.".into(),
        StatusCode::FORBIDDEN => "The server doesn't allow this account to do that.".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "That is too large for the server. Try something shorter.".into(),
        status if status.is_server_error() => {
            format!("The server ran into a problem (error {}). Try again later.", status.as_u16())
        }
        _ => match why {
            Some(why) => format!("The server refused the request: {why}."),
            None => format!("The server refused the request (error {}).", status.as_u16()),
        },
    }
}

/// Who the stored token belongs to, from the auth server's `/api/me`.
#[derive(Clone, Debug, Deserialize)]
pub struct Me {
    pub user: MeUser,
    pub session: MeSession,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MeUser {
    pub id: String,
    pub name: String,
    pub email: String,
    pub image: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MeSession {
    #[serde(rename = "expiresAt")]
    pub expires_at: DateTime<Utc>,
}

/// What sign-out did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignOut {
    /// There was a token to sign out.
    pub was_signed_in: bool,
    /// The auth server confirmed the session is revoked. False when it could not be
    /// reached: the token is removed from this machine all the same.
    pub revoked_on_server: bool,
}

/// One read of a stream (catch-up, not live).
#[derive(Clone, Debug)]
pub struct StreamRead {
    pub data: Bytes,
    pub next_offset: String,
    pub up_to_date: bool,
    pub closed: bool,
}

/// Whether a request may be sent again after a failure in which it may have reached
/// the server: appends may not (they would be written twice).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replay {
    Safe,
    OnlyIfNotSent,
}

/// A request, kept whole so it can be sent again.
struct Call {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Bytes>,
    replay: Replay,
}

#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

struct Inner {
    urls: ServerUrls,
    store: Arc<TokenStore>,
    http: reqwest::Client,
    events: broadcast::Sender<AuthEvent>,
    retry: RetryPolicy,
    /// Serializes "is the refused token still the stored one? then remove it".
    refusal: tokio::sync::Mutex<()>,
    breaker: Breaker,
    wake: WakeDetector,
    /// Told when the machine woke: live subscriptions reconnect at once.
    woken: Notify,
    /// The next request first validates the session.
    stale: AtomicBool,
    /// The single flight of [`SessionManager::validate`]: held while one is in the
    /// air, then the last result with the count of validations done by then.
    validation: tokio::sync::Mutex<Option<(u64, Result<Me, Failure>)>>,
    validations: AtomicU64,
    /// The last outage seen, for the words of a wait the circuit breaker imposes.
    last_outage: std::sync::Mutex<Outage>,
}

/// A validation's failure, as handed to the callers that waited for it.
#[derive(Clone)]
enum Failure {
    SignedOut,
    AuthRequired,
    Other(Outage, String),
}

impl SessionManager {
    pub fn new(urls: ServerUrls, store: TokenStore, retry: RetryPolicy) -> Self {
        Self::with_clock(urls, store, retry, Arc::new(SystemClock))
    }

    /// As [`SessionManager::new`], telling time (and sleeps) by `clock`.
    pub fn with_clock(urls: ServerUrls, store: TokenStore, retry: RetryPolicy, clock: Arc<dyn Clock>) -> Self {
        let (events, _) = broadcast::channel(16);
        SessionManager {
            inner: Arc::new(Inner {
                urls,
                store: Arc::new(store),
                http: crate::http::client(),
                events,
                retry,
                refusal: tokio::sync::Mutex::new(()),
                breaker: Breaker::new(retry),
                wake: WakeDetector::new(clock),
                woken: Notify::new(),
                stale: AtomicBool::new(false),
                validation: tokio::sync::Mutex::new(None),
                validations: AtomicU64::new(0),
                last_outage: std::sync::Mutex::new(Outage::Unreachable),
            }),
        }
    }

    pub fn urls(&self) -> &ServerUrls {
        &self.inner.urls
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    pub(crate) fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// What the last failed call or connection ran into (`Unreachable` before any).
    pub(crate) fn last_outage(&self) -> Outage {
        *self.inner.last_outage.lock().unwrap()
    }

    pub(crate) fn set_last_outage(&self, outage: Outage) {
        *self.inner.last_outage.lock().unwrap() = outage;
    }

    /// True the first time it is asked after the machine woke from sleep; then the
    /// next request re-validates the session, the remembered outage is forgotten and
    /// every live subscription reconnects from its last offset.
    pub(crate) fn check_wake(&self) -> bool {
        if !self.inner.wake.woke() {
            return false;
        }
        tracing::info!("the machine woke from sleep; reconnecting and re-validating the session");
        self.inner.stale.store(true, Ordering::SeqCst);
        self.inner.breaker.forget();
        self.inner.woken.notify_waiters();
        true
    }

    /// For a client that knows it is offline: asks the streams server's `/health`
    /// (no token, outside the circuit breaker, 3 s at most) whether it answers again.
    /// When it does, the breaker's wait is forgotten and every live subscription waiting
    /// to retry reconnects now, as after a wake: the network is back, so nothing should
    /// sit out a back-off sized for a server that was down. True when it answered.
    pub async fn back_online(&self) -> bool {
        let Ok(health) = self.inner.urls.streams.join("health") else { return false };
        let answer = crate::http::client().get(health).timeout(Duration::from_secs(3)).send().await;
        if !answer.is_ok_and(|a| a.status().is_success()) {
            return false;
        }
        self.inner.breaker.forget();
        self.inner.woken.notify_waiters();
        true
    }

    /// Resolves when [`check_wake`](Self::check_wake) next finds a wake.
    pub(crate) async fn woken(&self) {
        self.inner.woken.notified().await
    }

    /// Sign-in state changes from now on.
    pub fn auth_events(&self) -> broadcast::Receiver<AuthEvent> {
        self.inner.events.subscribe()
    }

    /// The stored token, if signed in.
    pub async fn token(&self) -> Option<StoredToken> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.load()).await.unwrap_or(None)
    }

    /// Stores a token from a completed sign-in.
    pub async fn signed_in(&self, token: StoredToken) -> Result<(), ClientError> {
        let store = self.inner.store.clone();
        let expires_at = token.expires_at;
        tokio::task::spawn_blocking(move || store.save(&token)).await.expect("token store task")?;
        let _ = self.inner.events.send(AuthEvent::Changed { signed_in: true, expires_at });
        Ok(())
    }

    /// Revokes the session on the auth server, then removes the token from this
    /// machine, even when the server cannot be reached.
    pub async fn sign_out(&self) -> Result<SignOut, ClientError> {
        let Some(token) = self.token().await else {
            return Ok(SignOut { was_signed_in: false, revoked_on_server: false });
        };
        let revoked_on_server = self.revoke(&token).await;
        drop(token);
        self.clear().await?;
        let _ = self.inner.events.send(AuthEvent::Changed { signed_in: false, expires_at: None });
        Ok(SignOut { was_signed_in: true, revoked_on_server })
    }

    /// Who the stored token belongs to, according to the auth server. See
    /// [`SessionManager::validate`].
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.validate().await
    }

    /// Asks the auth server (`GET /api/me`) about the session, once for all who ask at
    /// the same time: a caller arriving while a validation is in the air gets its
    /// answer. The session's expiry on the server (moved forward by renewals) replaces
    /// the stored one, and the UI hears of it through [`AuthEvent::Changed`].
    pub async fn validate(&self) -> Result<Me, ClientError> {
        let arrived = self.inner.validations.load(Ordering::SeqCst);
        let mut last = self.inner.validation.lock().await;
        if let Some((done, result)) = last.as_ref() {
            if *done > arrived {
                return result.clone().map_err(Failure::into_error);
            }
        }
        let result = self.validate_now().await;
        let done = self.inner.validations.fetch_add(1, Ordering::SeqCst) + 1;
        *last = Some((done, result.as_ref().map(Clone::clone).map_err(Failure::of)));
        result
    }

    async fn validate_now(&self) -> Result<Me, ClientError> {
        let asked_for = self.token().await.ok_or(ClientError::SignedOut)?;
        let url = self.inner.urls.api.join("api/me").expect("a relative path joins");
        let response = self.exchange(Call::new(Method::GET, url)).await?;
        let path = response.url().path().to_owned();
        let me: Me = response.json().await.map_err(|_| ClientError::BadAnswer(format!("GET {path}")))?;
        self.follow_expiry(&asked_for, me.session.expires_at).await?;
        Ok(me)
    }

    /// Stores the server's expiry for `token`, if it is still the stored one.
    async fn follow_expiry(&self, token: &StoredToken, expires_at: DateTime<Utc>) -> Result<(), ClientError> {
        let _one_at_a_time = self.inner.refusal.lock().await;
        let Some(current) = self.token().await else { return Ok(()) };
        if current.secret() != token.secret() || current.expires_at == Some(expires_at) {
            return Ok(());
        }
        let renewed = StoredToken::new(current.secret(), Some(expires_at));
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.save(&renewed)).await.expect("token store task")?;
        let _ = self.inner.events.send(AuthEvent::Changed { signed_in: true, expires_at: Some(expires_at) });
        Ok(())
    }

    /// A call to the auth server at `path` (relative to its base URL), with the token.
    pub(crate) async fn api_call(&self, method: Method, path: &str) -> Result<Response, ClientError> {
        let url = self.inner.urls.api.join(path).expect("a relative path joins");
        let replay = if method == Method::GET { Replay::Safe } else { Replay::OnlyIfNotSent };
        let mut call = Call::new(method, url);
        call.replay = replay;
        self.send(call).await
    }

    /// Creates a stream (or makes sure it exists with this content type).
    pub async fn create_stream(&self, path: &str, content_type: &str) -> Result<String, ClientError> {
        let mut call = Call::new(Method::PUT, self.stream_url(path));
        call.headers.insert(CONTENT_TYPE, header(content_type)?);
        next_offset(&self.send(call).await?)
    }

    /// Appends `body` to a stream; returns the stream's new tail offset. For a JSON
    /// stream, an array body appends each element as one message.
    pub async fn append(&self, path: &str, content_type: &str, body: impl Into<Bytes>) -> Result<String, ClientError> {
        let mut call = Call::new(Method::POST, self.stream_url(path));
        call.headers.insert(CONTENT_TYPE, header(content_type)?);
        call.body = Some(body.into());
        call.replay = Replay::OnlyIfNotSent;
        next_offset(&self.send(call).await?)
    }

    /// Closes a stream: readers see its end.
    pub async fn close_stream(&self, path: &str) -> Result<String, ClientError> {
        let mut call = Call::new(Method::POST, self.stream_url(path));
        call.headers.insert("stream-closed", HeaderValue::from_static("true"));
        next_offset(&self.send(call).await?)
    }

    pub async fn delete_stream(&self, path: &str) -> Result<(), ClientError> {
        self.send(Call::new(Method::DELETE, self.stream_url(path))).await.map(drop)
    }

    /// Reads what the stream holds from `offset` (`-1`: the start).
    pub async fn read(&self, path: &str, offset: &str) -> Result<StreamRead, ClientError> {
        let mut url = self.stream_url(path);
        url.query_pairs_mut().append_pair("offset", offset);
        let response = self.send(Call::new(Method::GET, url)).await?;
        let flag =
            |name: &str| response.headers().get(name).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        let (up_to_date, closed) = (flag("stream-up-to-date"), flag("stream-closed"));
        let next_offset = next_offset(&response)?;
        let data = response.bytes().await.map_err(|e| {
            let (outage, reason) = Outage::of_transport(&e);
            ClientError::Unavailable { outage, reason: format!("GET {}: {reason}", self.stream_url(path).path()) }
        })?;
        Ok(StreamRead { data, next_offset, up_to_date, closed })
    }

    /// Follows a text or JSON stream live from `offset` (`-1`: the start), resuming
    /// after every dropped connection where the last one left off. See
    /// [`Subscription`].
    pub fn subscribe(&self, path: &str, offset: &str) -> Subscription {
        Subscription::start(self.clone(), self.stream_url(path), offset.to_owned())
    }

    /// A JSON call to the streams server at `path` (relative to its base URL).
    /// Bodies are only sent once unless the connection was never made.
    pub(crate) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ClientError> {
        let replay = if method == Method::PUT { Replay::Safe } else { Replay::OnlyIfNotSent };
        self.json_call(method, path, body, replay).await
    }

    /// As [`SessionManager::json`], for a POST the server recognises when repeated (a
    /// chunk carrying its `seq`): sent again whenever the answer was lost.
    pub(crate) async fn post_repeatable<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, ClientError> {
        self.json_call(Method::POST, path, Some(body), Replay::Safe).await
    }

    async fn json_call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        replay: Replay,
    ) -> Result<T, ClientError> {
        let url = self.inner.urls.streams.join(path).expect("a relative path joins");
        let mut call = Call::new(method.clone(), url);
        if let Some(body) = body {
            call.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            call.body = Some(Bytes::from(body.to_string()));
            call.replay = replay;
        }
        let response = self.send(call).await?;
        response.json().await.map_err(|_| ClientError::BadAnswer(format!("{method} /{path}")))
    }

    /// A call to the streams server at `path` whose answer has no body to read.
    pub(crate) async fn call(&self, method: Method, path: &str) -> Result<(), ClientError> {
        let url = self.inner.urls.streams.join(path).expect("a relative path joins");
        self.send(Call::new(method, url)).await.map(drop)
    }

    /// `{streams}/v1/stream/{path}`, each segment of `path` percent-encoded.
    pub fn stream_url(&self, path: &str) -> Url {
        let mut url = self.inner.urls.streams.join("v1/stream").expect("a relative path joins");
        url.path_segments_mut().expect("an http URL has a path").extend(path.split('/').filter(|s| !s.is_empty()));
        url
    }

    /// Sends `call`, first validating the session when it is due (see the module
    /// documentation).
    async fn send(&self, call: Call) -> Result<Response, ClientError> {
        self.check_wake();
        let token = self.token().await.ok_or(ClientError::SignedOut)?;
        let now = DateTime::<Utc>::from(self.inner.wake.wall());
        if token.expires_at.is_some_and(|at| at <= now) {
            self.inner.stale.store(true, Ordering::SeqCst);
        }
        if self.inner.stale.swap(false, Ordering::SeqCst) {
            match self.validate().await {
                Ok(_) => {}
                Err(e @ (ClientError::AuthRequired | ClientError::SignedOut)) => return Err(e),
                Err(e) => {
                    tracing::info!(error = %e, detail = e.detail(), "cannot validate the session now; trying again with the next request");
                    self.inner.stale.store(true, Ordering::SeqCst);
                }
            }
        }
        self.exchange(call).await
    }

    /// Sends `call` with the stored token, retrying while the server is unavailable.
    /// Answers other than 401 and the "unavailable" ones are returned as errors when
    /// they are not successes.
    async fn exchange(&self, call: Call) -> Result<Response, ClientError> {
        let retry = self.inner.retry;
        let mut backoff = Backoff::new(retry);
        let mut tries = 0;
        loop {
            tries += 1;
            if let Err(wait) = self.inner.breaker.admit() {
                if wait > retry.max_delay || tries >= retry.max_attempts {
                    let reason = format!(
                        "{} {}: not tried, the client waits {}s after repeated failures",
                        call.method,
                        call.url.path(),
                        wait.as_secs_f32().ceil()
                    );
                    return Err(ClientError::Unavailable { outage: self.last_outage(), reason });
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let token = self.token().await.ok_or(ClientError::SignedOut)?;
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), call.url.clone())
                .headers(call.headers.clone())
                .bearer_auth(token.secret())
                .timeout(REQUEST_TIMEOUT);
            if let Some(body) = &call.body {
                request = request.body(body.clone());
            }
            let (outage, reason, server_asked) = match request.send().await {
                Ok(response) if is_refusal(response.status(), response.headers()) => {
                    self.inner.breaker.success();
                    self.refused(&token).await;
                    return Err(ClientError::AuthRequired);
                }
                Ok(response) if is_unavailable(response.status()) || response.status() == StatusCode::UNAUTHORIZED => {
                    let reason =
                        format!("{} {}: the server answered {}", call.method, call.url.path(), response.status());
                    (Outage::of_status(response.status()), reason, retry_after(&response))
                }
                Ok(response) => {
                    self.inner.breaker.success();
                    if response.status().is_success() {
                        return Ok(response);
                    }
                    return Err(status_error(&call, response).await);
                }
                Err(e) if e.is_connect() || call.replay == Replay::Safe => {
                    let (outage, reason) = Outage::of_transport(&e);
                    (outage, format!("{} {}: {reason}", call.method, call.url.path()), None)
                }
                Err(e) => {
                    self.inner.breaker.failure(None);
                    return Err(ClientError::Network {
                        method: call.method,
                        path: call.url.path().to_owned(),
                        reason: format!("{} (not retried: it may have been applied)", transport_detail(&e)),
                    });
                }
            };
            self.inner.breaker.failure(server_asked);
            self.set_last_outage(outage);
            if tries >= retry.max_attempts {
                return Err(ClientError::Unavailable { outage, reason });
            }
            let delay = backoff.next_delay(server_asked);
            tracing::info!(%reason, ?delay, "server unavailable; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// The server refused `token`: remove it and tell the UI, unless a newer sign-in
    /// has replaced it meanwhile (or another refusal already did this).
    pub(crate) async fn refused(&self, token: &StoredToken) {
        let _one_at_a_time = self.inner.refusal.lock().await;
        let still_stored = self.token().await.is_some_and(|current| current.secret() == token.secret());
        if !still_stored {
            return;
        }
        let now = DateTime::<Utc>::from(self.inner.wake.wall());
        let expired = token.expires_at.is_some_and(|at| at <= now);
        tracing::warn!(expired, "the server refused the stored session; signing out");
        if let Err(e) = self.clear().await {
            tracing::error!(error = %e, "cannot remove the refused token");
        }
        let _ = self.inner.events.send(AuthEvent::Required { expired });
    }

    async fn clear(&self) -> Result<(), ClientError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.clear()).await.expect("token store task")?;
        Ok(())
    }

    /// RFC 7009 revocation; true when the server confirmed it.
    async fn revoke(&self, token: &StoredToken) -> bool {
        let url = self.inner.urls.api.join("oauth/revoke").expect("a relative path joins");
        let form = [("token", token.secret()), ("token_type_hint", "access_token"), ("client_id", CLIENT_ID)];
        match self.inner.http.post(url).form(&form).timeout(REVOKE_TIMEOUT).send().await {
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::warn!(status = %response.status(), "the auth server did not revoke the session");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the auth server to revoke the session");
                false
            }
        }
    }
}

impl Call {
    fn new(method: Method, url: Url) -> Self {
        Call { method, url, headers: HeaderMap::new(), body: None, replay: Replay::Safe }
    }
}

/// A 401 from the server that checked the token: it carries the Bearer challenge
/// (RFC 6750), which a proxy or captive portal in between does not.
pub(crate) fn is_refusal(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::UNAUTHORIZED
        && headers.get_all(WWW_AUTHENTICATE).iter().any(|v| {
            v.to_str().is_ok_and(|v| v.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer")))
        })
}

impl Failure {
    fn of(e: &ClientError) -> Failure {
        match e {
            ClientError::SignedOut => Failure::SignedOut,
            ClientError::AuthRequired => Failure::AuthRequired,
            ClientError::Unavailable { outage, reason } => Failure::Other(*outage, reason.clone()),
            other => Failure::Other(Outage::Unavailable, other.detail().unwrap_or_else(|| other.to_string())),
        }
    }

    fn into_error(self) -> ClientError {
        match self {
            Failure::SignedOut => ClientError::SignedOut,
            Failure::AuthRequired => ClientError::AuthRequired,
            Failure::Other(outage, reason) => ClientError::Unavailable { outage, reason },
        }
    }
}

/// Answers that mean "not now", never "not you".
pub fn is_unavailable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::BAD_GATEWAY
            | StatusCode::GATEWAY_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS
    )
}

/// `Retry-After` in seconds (the HTTP-date form is not used by our servers).
pub(crate) fn retry_after(response: &Response) -> Option<Duration> {
    let seconds = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

fn next_offset(response: &Response) -> Result<String, ClientError> {
    response
        .headers()
        .get("stream-next-offset")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| ClientError::BadAnswer(format!("{} (no Stream-Next-Offset)", response.url().path())))
}

fn header(value: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(value).map_err(|_| ClientError::BadContentType(value.to_owned()))
}

async fn status_error(call: &Call, response: Response) -> ClientError {
    let status = response.status();
    let mut body = response.text().await.unwrap_or_default();
    if body.len() > MAX_QUOTED_BODY {
        let cut = (0..=MAX_QUOTED_BODY).rev().find(|&i| body.is_char_boundary(i)).unwrap_or(0);
        body.truncate(cut);
        body.push('…');
    }
    ClientError::Status { method: call.method.clone(), path: call.url.path().to_owned(), status, body }
}
