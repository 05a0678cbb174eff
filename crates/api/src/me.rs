//! `GET /api/me`: who a bearer token belongs to. Whatever is wrong with the credential,
//! the answer is the same 401, so probing learns nothing; a database that does not
//! answer is a 503, so a client does not sign its user out over a hiccup. Like every
//! Bearer endpoint, it renews the session when due and answers the new expiry.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::bearer::{self, Refusal};
use crate::server::AppState;

pub async fn me(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match answer(&app, &headers).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn answer(app: &AppState, headers: &HeaderMap) -> Result<Response, Refusal> {
    let token = bearer::token(headers)?;
    let found = bearer::query(app.db.find_session_user(token)).await?.ok_or(Refusal::Unauthorized)?;
    let expires_at = bearer::renew_if_due(app, token, found.renewed_at, found.expires_at).await;
    let body = json!({
        "user": {
            "id": found.user.id,
            "name": found.user.name,
            "email": found.user.email,
            "image": found.user.image,
        },
        "session": { "expiresAt": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) },
    });
    Ok(([(CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(body)).into_response())
}
