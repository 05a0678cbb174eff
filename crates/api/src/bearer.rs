//! What the Bearer endpoints (`/api/me`, `/api/sessions`) share: the caller's session,
//! found from `Authorization: Bearer` and renewed when due (better-auth's sliding
//! expiry: one conditional write per session per `API_SESSION_UPDATE_AGE`), and the
//! uniform answers: whatever is wrong with a credential, the same 401 body.

use std::future::Future;
use std::time::Duration;

use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::json;
use superset_auth_db::{lookup_part, Renewal, ValidSession};

use crate::server::AppState;

/// How long a query may take before the database counts as unavailable.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Tokens longer than this are refused without asking the database.
const MAX_TOKEN_LEN: usize = 512;

/// Why a Bearer request is not answered.
#[derive(Debug)]
pub enum Refusal {
    Unauthorized,
    Unavailable,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
                Json(json!({"error": "Unauthorized"})),
            )
                .into_response(),
            Refusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, HeaderValue::from_static("1"))],
                Json(json!({"error": "Service unavailable"})),
            )
                .into_response(),
        }
    }
}

/// The stored part of `Authorization: Bearer <token>`, if the header has that shape.
pub fn token(headers: &HeaderMap) -> Result<&str, Refusal> {
    let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(Refusal::Unauthorized)?;
    let (scheme, token) = value.split_once(' ').ok_or(Refusal::Unauthorized)?;
    let token = lookup_part(token.trim());
    let plausible = scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_LEN;
    plausible.then_some(token).ok_or(Refusal::Unauthorized)
}

/// A database call, bounded in time; any failure is `Unavailable`, never a 401.
pub async fn query<T>(call: impl Future<Output = Result<T, superset_auth_db::Error>>) -> Result<T, Refusal> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "auth database query failed");
            Err(Refusal::Unavailable)
        }
        Err(_) => {
            tracing::error!("auth database query timed out");
            Err(Refusal::Unavailable)
        }
    }
}

/// The caller's live session, renewed if due.
pub async fn caller(app: &AppState, headers: &HeaderMap) -> Result<ValidSession, Refusal> {
    let token = token(headers)?;
    let mut session = query(app.db.find_session(token)).await?.ok_or(Refusal::Unauthorized)?;
    session.expires_at = renew_if_due(app, token, session.renewed_at, session.expires_at).await;
    Ok(session)
}

/// The session's expiry after renewing it if it was last renewed `update_age` ago. A
/// failed renewal is logged and leaves the session as it was: it is still valid.
pub async fn renew_if_due(
    app: &AppState,
    token: &str,
    renewed_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let renewal = renewal(app);
    if !renewal.is_due(renewed_at) {
        return expires_at;
    }
    // `None`: a concurrent request renewed it first, or the session just went away.
    match query(app.db.renew_session(token, &renewal)).await {
        Ok(Some(renewed)) => renewed,
        _ => expires_at,
    }
}

fn renewal(app: &AppState) -> Renewal {
    Renewal { expires_in: app.config.session_ttl, update_age: app.config.session_update_age }
}
