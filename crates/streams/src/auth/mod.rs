//! The session middleware: every request under `/v1` carries `Authorization: Bearer
//! <token>`, and the token must name an unexpired row of `auth.sessions`.
//!
//! Failures are deliberately uniform: whatever was wrong with the credential, the
//! answer is the same 401 body, so nothing is learned by probing. A database that does
//! not answer is a 503, never a 401: a client must not sign its user out because the
//! server's database hiccuped.

mod cache;
mod failures;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use superset_auth_db::{lookup_part, token_digest, AuthDb, Renewal, TokenDigest, ValidSession};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use cache::TokenCache;
use failures::FailedLookups;

use crate::api_error::{ApiError, Wait};
use crate::Config;

/// How long a session lookup may take before the database counts as unavailable.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Tokens longer than this are refused without asking the database.
const MAX_TOKEN_LEN: usize = 512;

/// How often a long-lived response checks that its session still stands.
const RECHECK: Duration = Duration::from_secs(2);

/// The request's bearer value and its session's expiry, available to handlers as an
/// `Extension` so long-lived responses can check their session again. Never shown in
/// logs: its `Debug` leaves the value out.
#[derive(Clone)]
pub struct Bearer {
    value: Arc<str>,
    expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bearer").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// A session a long-lived response depends on, checked again every [`RECHECK`] (mostly
/// a cache hit; the cache drops revoked sessions) or at its expiry if sooner. A
/// database that does not answer is not taken for a revocation. It has no task of its
/// own: its owner sleeps until [`next_check`](Self::next_check) among its other waits.
pub struct SessionWatch {
    auth: Arc<SessionAuth>,
    bearer: Bearer,
    next_check: Instant,
}

impl SessionWatch {
    /// When [`check`](Self::check) is due.
    pub fn next_check(&self) -> Instant {
        self.next_check
    }

    /// Looks the session up again: false once it was revoked or has expired.
    pub async fn check(&mut self) -> bool {
        match self.auth.resolve(&self.bearer.value, None).await {
            Err(Rejection::Unauthorized) => return false,
            Ok(user) if user.expires_at <= Utc::now() => return false,
            Ok(user) => self.bearer.expires_at = user.expires_at,
            // The database is not answering: that says nothing about the session.
            Err(_) => {}
        }
        self.schedule();
        true
    }

    /// Resolves once the session has ended.
    pub async fn ended(&mut self) {
        loop {
            tokio::time::sleep_until(self.next_check).await;
            if !self.check().await {
                return;
            }
        }
    }

    fn schedule(&mut self) {
        let until_expiry = (self.bearer.expires_at - Utc::now()).to_std().unwrap_or_default();
        // Past the expiry known, only an unanswered lookup brings us here again.
        let wait = if until_expiry.is_zero() { RECHECK } else { until_expiry.min(RECHECK) };
        self.next_check = Instant::now() + wait;
    }
}

/// The authenticated caller, available to handlers as an `Extension`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: Arc<str>,
    pub expires_at: DateTime<Utc>,
}

/// Checks bearer tokens against the auth database, through an optional cache.
///
/// Lookups of tokens not known to be valid have a budget of their own: a few at a time
/// and a bounded queue, so a flood of unknown tokens cannot take the connections that
/// streams need (past the queue, a lookup is refused as unavailable). Each client's
/// failed lookups are limited too, but a token known to be valid (cached, or valid when
/// last looked up) never waits on anyone's failures.
pub struct SessionAuth {
    db: AuthDb,
    cache: Option<Arc<TokenCache>>,
    lookups: Semaphore,
    queued: AtomicUsize,
    max_queued: usize,
    failures: FailedLookups,
    trusted_proxies: Vec<ipnet::IpNet>,
    renewal: Renewal,
}

/// Why a request was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    Unauthorized,
    Unavailable,
    /// Too many failed lookups from this client lately; retry after this long.
    TooManyFailures(Duration),
}

impl SessionAuth {
    /// With `config.auth_cache`, validated tokens are remembered; on PostgreSQL a
    /// listener task (stopped by `shutdown`) drops them as soon as their session changes.
    pub fn new(db: AuthDb, config: &Config, shutdown: CancellationToken) -> Self {
        let cache = config.auth_cache.then(|| {
            let cache = Arc::new(TokenCache::default());
            if let Some(pool) = db.pg_pool() {
                let check_every = Duration::from_millis(config.auth_notify_check_ms);
                tokio::spawn(cache::listen(cache.clone(), pool.clone(), check_every, shutdown));
            }
            cache
        });
        SessionAuth {
            db,
            cache,
            lookups: Semaphore::new(config.auth_max_lookups.max(1)),
            queued: AtomicUsize::new(0),
            max_queued: config.auth_max_queued_lookups,
            failures: FailedLookups::per_minute(config.auth_failures_per_minute),
            trusted_proxies: config.trusted_proxies.clone(),
            renewal: Renewal { expires_in: config.session_ttl, update_age: config.session_update_age },
        }
    }

    /// The user a bearer value belongs to, presented by `client`.
    pub async fn authenticate(&self, bearer: &str, client: IpAddr) -> Result<AuthUser, Rejection> {
        self.resolve(bearer, Some(client)).await
    }

    /// [`authenticate`](Self::authenticate); with a `client`, its failed lookups are
    /// limited and counted.
    async fn resolve(&self, bearer: &str, client: Option<IpAddr>) -> Result<AuthUser, Rejection> {
        let token = lookup_part(bearer);
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Unauthorized);
        }
        let digest = token_digest(token);
        if let Some(user) = self.cache.as_ref().and_then(|c| c.get(&digest)) {
            return Ok(user);
        }
        let known_valid = self.failures.known_valid(&digest);
        if let (false, Some(client)) = (known_valid, client) {
            self.failures.check(client).map_err(Rejection::TooManyFailures)?;
        }
        let generation = self.cache.as_ref().map(|c| c.generation());
        let Some(session) = self.lookup(token, known_valid).await? else {
            self.failures.failed(client, &digest);
            return Err(Rejection::Unauthorized);
        };
        self.failures.succeeded(digest);
        if self.renewal.is_due(session.renewed_at) {
            self.renew_later(token, digest);
        }
        let user = AuthUser { user_id: session.user_id.into(), expires_at: session.expires_at };
        if let (Some(cache), Some(generation)) = (&self.cache, generation) {
            cache.insert(digest, user.clone(), generation);
        }
        Ok(user)
    }

    /// Renews the session off the request path (sliding expiry): only looked-up rows
    /// that say they are due get here, so a cache hit never does, and the conditional
    /// write makes one renewal per session per `update_age` across all instances. The
    /// cached entry is dropped afterwards so the next request reads the new expiry (on
    /// PostgreSQL the trigger's notification does so on every server too).
    fn renew_later(&self, token: &str, digest: TokenDigest) {
        let (db, cache, renewal, token) = (self.db.clone(), self.cache.clone(), self.renewal, token.to_owned());
        tokio::spawn(async move {
            match tokio::time::timeout(LOOKUP_TIMEOUT, db.renew_session(&token, &renewal)).await {
                Ok(Ok(Some(_))) => {
                    if let Some(cache) = cache {
                        cache.remove(&digest);
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "session renewal failed"),
                Err(_) => tracing::warn!("session renewal timed out"),
            }
        });
    }

    /// A token cancelled when `parent` is, or when the session behind `bearer` is
    /// revoked or expires, so a long-lived response ends with its session (see
    /// [`SessionWatch`]). Cancel the token when the response is done.
    pub fn until_session_ends(self: &Arc<Self>, bearer: &Bearer, parent: &CancellationToken) -> CancellationToken {
        let live = parent.child_token();
        let (mut session, watched) = (self.watch(bearer), live.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = session.ended() => watched.cancel(),
                () = watched.cancelled() => {}
            }
        });
        live
    }

    /// Watches the session behind `bearer` from within a long-lived response.
    pub fn watch(self: &Arc<Self>, bearer: &Bearer) -> SessionWatch {
        let mut watch = SessionWatch { auth: self.clone(), bearer: bearer.clone(), next_check: Instant::now() };
        watch.schedule();
        watch
    }

    /// One session lookup; within the lookup budget unless the token was valid when last
    /// looked up (its owner does not queue behind a flood of unknown tokens).
    async fn lookup(&self, token: &str, known_valid: bool) -> Result<Option<ValidSession>, Rejection> {
        let _permit = if known_valid {
            None
        } else {
            let Some(_waiting) = Waiting::join(&self.queued, self.max_queued) else {
                tracing::debug!("session lookups are queued to the limit; refusing more");
                return Err(Rejection::Unavailable);
            };
            match tokio::time::timeout(LOOKUP_TIMEOUT, self.lookups.acquire()).await {
                Ok(Ok(permit)) => Some(permit),
                _ => {
                    tracing::warn!("no session lookup could start in time");
                    return Err(Rejection::Unavailable);
                }
            }
        };
        match tokio::time::timeout(LOOKUP_TIMEOUT, self.db.find_session(token)).await {
            Ok(Ok(session)) => Ok(session),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "session lookup failed");
                Err(Rejection::Unavailable)
            }
            Err(_) => {
                tracing::warn!("session lookup timed out");
                Err(Rejection::Unavailable)
            }
        }
    }

    /// The address a request comes from, looking through trusted proxies.
    fn client(&self, request: &Request) -> IpAddr {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip());
        superset_edge::address::client_address(peer, request.headers(), &self.trusted_proxies)
    }
}

/// A place in the queue of lookups waiting for the budget; leaving (or giving up,
/// when the request is dropped) frees it.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(queued: &'a AtomicUsize, max: usize) -> Option<Self> {
        let admitted = queued.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1));
        admitted.ok().map(|_| Waiting(queued))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The token of the request's one `Authorization: Bearer <token>` field.
///
/// Strict by design (RFC 9110 §11.4, §5.3, §5.5): a field that is not a list, so exactly
/// one of it; the scheme (case-insensitive), one or more spaces, and one token68. Any
/// other shape (a second field, a comma-joined list, tabs, control characters,
/// obs-text, parameters) is something two HTTP components could read differently, so it
/// yields `None` rather than a guess.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut fields = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (fields.next(), fields.next()) else {
        return None;
    };
    // Surrounding whitespace is not part of a field value (RFC 9110 §5.5).
    let value = value.to_str().ok()?.trim_matches([' ', '\t']);
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && is_token68(token)).then_some(token)
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_token68(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// The session check guarding every path but the probes: on success the request
/// carries the caller's [`AuthUser`] and [`Bearer`].
pub async fn require_session(auth: &SessionAuth, request: &mut Request) -> Result<AuthUser, Rejection> {
    let bearer = bearer_token(request.headers()).ok_or(Rejection::Unauthorized)?;
    let user = auth.authenticate(bearer, auth.client(request)).await?;
    let bearer = Bearer { value: bearer.into(), expires_at: user.expires_at };
    request.extensions_mut().insert(bearer);
    request.extensions_mut().insert(user.clone());
    Ok(user)
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Unauthorized => {
                ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").with("www-authenticate", "Bearer")
            }
            Rejection::Unavailable => ApiError::unavailable("Service unavailable"),
            Rejection::TooManyFailures(retry_after) => {
                ApiError::too_many("Too many failed authentications", "auth_failures", Wait::For(retry_after))
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&headers(b"Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers(b"bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers(b"BEARER  abc ")), Some("abc"));
    }

    #[test]
    fn token68_with_signature_and_padding_passes() {
        assert_eq!(bearer_token(&headers(b"Bearer a-b_c.d~e+f/g==")), Some("a-b_c.d~e+f/g=="));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused() {
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        assert_eq!(bearer_token(&headers(b"Basic dXNlcjpwdw==")), None);
        assert_eq!(bearer_token(&headers(b"Bearer")), None);
        assert_eq!(bearer_token(&headers(b"Bearer   ")), None);
        assert_eq!(bearer_token(&headers(b"Bearerabc")), None);
        assert_eq!(bearer_token(&headers(b"Bearer \xff\xfe")), None);
    }

    /// Values a proxy and this server could split, join or trim differently.
    #[test]
    fn anything_ambiguous_is_refused() {
        let ambiguous: &[&[u8]] = &[
            b"Bearer abc, Bearer def",
            b"Bearer abc,def",
            b"Bearer abc def",
            b"Bearer\tabc",
            b"Bearer \tabc",
            b"Bearer abc\tdef",
            b"Bearer ab\x80c",
            b"Bearer ab\"c\"",
            b"Bearer =abc",
            b"Bearer ab=c",
            b"Bearer abc;x=1",
            b"Bearer realm=x",
            b"Bearer %61bc",
            b" Bearer, abc",
        ];
        for value in ambiguous {
            assert_eq!(bearer_token(&headers(value)), None, "{:?}", String::from_utf8_lossy(value));
        }
        let mut twice = headers(b"Bearer abc");
        twice.append(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer_token(&twice), None);
    }
}
