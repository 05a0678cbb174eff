//! The session middleware: every request under `/v1` carries `Authorization: Bearer
//! <token>`, and the token must name an unexpired row of `auth.sessions`.
//!
//! Failures are deliberately uniform: whatever was wrong with the credential, the
//! answer is the same 401 body, so nothing is learned by probing. A database that does
//! not answer is a 503, never a 401: a client must not sign its user out because the
//! server's database hiccuped.

mod cache;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use superset_auth_db::{lookup_part, token_digest, AuthDb};
use tokio_util::sync::CancellationToken;

pub use cache::TokenCache;

/// How long a session lookup may take before the database counts as unavailable.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Tokens longer than this are refused without asking the database.
const MAX_TOKEN_LEN: usize = 512;

/// The authenticated caller, available to handlers as an `Extension`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: Arc<str>,
    pub expires_at: DateTime<Utc>,
}

/// Checks bearer tokens against the auth database, through an optional cache.
pub struct SessionAuth {
    db: AuthDb,
    cache: Option<Arc<TokenCache>>,
}

/// Why a request was not let through.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    Unauthorized,
    Unavailable,
}

impl SessionAuth {
    /// With `cache`, validated tokens are remembered; on PostgreSQL a listener task
    /// (stopped by `shutdown`) drops them as soon as their session changes.
    pub fn new(db: AuthDb, cache: bool, shutdown: CancellationToken) -> Self {
        let cache = cache.then(|| {
            let cache = Arc::new(TokenCache::default());
            if let Some(pool) = db.pg_pool() {
                tokio::spawn(cache::listen(cache.clone(), pool.clone(), shutdown));
            }
            cache
        });
        SessionAuth { db, cache }
    }

    /// The user a bearer value belongs to.
    pub async fn authenticate(&self, bearer: &str) -> Result<AuthUser, Rejection> {
        let token = lookup_part(bearer);
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Unauthorized);
        }
        let digest = token_digest(token);
        if let Some(user) = self.cache.as_ref().and_then(|c| c.get(&digest)) {
            return Ok(user);
        }
        let generation = self.cache.as_ref().map(|c| c.generation());
        let found = tokio::time::timeout(LOOKUP_TIMEOUT, self.db.find_session(token)).await;
        let session = match found {
            Ok(Ok(Some(session))) => session,
            Ok(Ok(None)) => return Err(Rejection::Unauthorized),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "session lookup failed");
                return Err(Rejection::Unavailable);
            }
            Err(_) => {
                tracing::warn!("session lookup timed out");
                return Err(Rejection::Unavailable);
            }
        };
        let user = AuthUser { user_id: session.user_id.into(), expires_at: session.expires_at };
        if let (Some(cache), Some(generation)) = (&self.cache, generation) {
            cache.insert(digest, user.clone(), generation);
        }
        Ok(user)
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme name is
/// case-insensitive (RFC 7235); anything else yields `None`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The middleware guarding `/v1`.
pub async fn require_session(State(auth): State<Arc<SessionAuth>>, mut request: Request, next: Next) -> Response {
    let Some(bearer) = bearer_token(request.headers()) else {
        return Rejection::Unauthorized.into_response();
    };
    match auth.authenticate(bearer).await {
        Ok(user) => {
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        Err(rejection) => rejection.into_response(),
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                Json(serde_json::json!({"error": "Unauthorized"})),
            )
                .into_response(),
            Rejection::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, "2")],
                Json(serde_json::json!({"error": "Service unavailable"})),
            )
                .into_response(),
        }
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
    fn other_schemes_and_empty_tokens_are_refused() {
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        assert_eq!(bearer_token(&headers(b"Basic dXNlcjpwdw==")), None);
        assert_eq!(bearer_token(&headers(b"Bearer")), None);
        assert_eq!(bearer_token(&headers(b"Bearer   ")), None);
        assert_eq!(bearer_token(&headers(b"Bearerabc")), None);
        assert_eq!(bearer_token(&headers(b"Bearer \xff\xfe")), None);
    }
}
