//! Probes for load balancers and orchestrators. None of them needs a token.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::api_error::Wait;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health", get(live)).route("/health/live", get(live)).route("/health/ready", get(ready))
}

/// The process is up: no database involved, so a database outage does not get
/// healthy instances restarted.
async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: the database answers.
async fn ready(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => Json(json!({"status": "ready"})).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            [Wait::Unavailable.header()],
            Json(json!({"status": "unavailable", "error": "database unreachable"})),
        )
            .into_response(),
    }
}
