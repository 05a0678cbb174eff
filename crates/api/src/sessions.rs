//! The caller's devices: `GET /api/sessions` lists their live sessions (what signed in,
//! from where, when last used; never a token), `DELETE /api/sessions/{id}` revokes one,
//! `POST /api/sessions/revoke-others` all but the caller's own. A revocation deletes the
//! row, which is what the streams servers are notified of: they refuse the token at
//! once and end its open responses.

use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use superset_auth_db::Device;

use crate::bearer::{self, Refusal};
use crate::server::AppState;

pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Response {
    respond(async {
        let session = bearer::caller(&app, &headers).await?;
        let devices = bearer::query(app.db.list_devices(&session.user_id)).await?;
        let sessions: Vec<Value> = devices.iter().map(|d| listing(d, &session.id)).collect();
        Ok(no_store(StatusCode::OK, json!({ "sessions": sessions })))
    })
    .await
}

/// Revokes one of the caller's sessions, the caller's own included; anyone else's,
/// and ids that name nothing, are 404 alike.
pub async fn revoke(State(app): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    respond(async {
        let session = bearer::caller(&app, &headers).await?;
        if bearer::query(app.db.delete_user_session(&session.user_id, &id)).await? {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Ok(no_store(StatusCode::NOT_FOUND, json!({"error": "Not found"})))
        }
    })
    .await
}

pub async fn revoke_others(State(app): State<AppState>, headers: HeaderMap) -> Response {
    respond(async {
        let session = bearer::caller(&app, &headers).await?;
        let revoked = bearer::query(app.db.delete_other_sessions(&session.user_id, &session.id)).await?;
        Ok(no_store(StatusCode::OK, json!({ "revoked": revoked })))
    })
    .await
}

async fn respond(answer: impl std::future::Future<Output = Result<Response, Refusal>>) -> Response {
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

fn listing(device: &Device, current: &str) -> Value {
    json!({
        "id": device.session_id,
        "client": device.user_agent,
        "createdAt": time(device.created_at),
        "lastUsedAt": time(device.last_used_at),
        "expiresAt": time(device.expires_at),
        "ip": device.ip_address,
        "current": device.session_id == current,
    })
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn no_store(status: StatusCode, body: Value) -> Response {
    (status, [(CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(body)).into_response()
}
