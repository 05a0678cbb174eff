//! `GET /api/me`: who a bearer token belongs to. Whatever is wrong with the credential,
//! the answer is the same 401, so probing learns nothing; a database that does not
//! answer is a 503, so a client does not sign its user out over a hiccup.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use superset_auth_db::lookup_part;

use crate::server::AppState;

/// How long the lookup may take before the database counts as unavailable.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Tokens longer than this are refused without asking the database.
const MAX_TOKEN_LEN: usize = 512;

pub async fn me(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else { return unauthorized() };
    match tokio::time::timeout(LOOKUP_TIMEOUT, app.db.find_session_user(token)).await {
        Ok(Ok(Some(found))) => {
            let body = json!({
                "user": {
                    "id": found.user.id,
                    "name": found.user.name,
                    "email": found.user.email,
                    "image": found.user.image,
                },
                "session": { "expiresAt": found.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) },
            });
            ([(CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(body)).into_response()
        }
        Ok(Ok(None)) => unauthorized(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "session lookup failed");
            unavailable()
        }
        Err(_) => {
            tracing::error!("session lookup timed out");
            unavailable()
        }
    }
}

/// The stored part of `Authorization: Bearer <token>`, if the header has that shape.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = lookup_part(token.trim());
    let plausible = scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= MAX_TOKEN_LEN;
    plausible.then_some(token)
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        Json(json!({"error": "Unauthorized"})),
    )
        .into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(RETRY_AFTER, HeaderValue::from_static("1"))],
        Json(json!({"error": "Service unavailable"})),
    )
        .into_response()
}
