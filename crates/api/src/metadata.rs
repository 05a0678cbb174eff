//! RFC 8414 authorization server metadata, so clients can find the endpoints and learn
//! what is supported without hard-coding it.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::server::AppState;

pub async fn document(State(app): State<AppState>) -> Json<Value> {
    Json(json!({
        "issuer": app.public_url(""),
        "authorization_endpoint": app.public_url("/oauth/authorize"),
        "token_endpoint": app.public_url("/oauth/token"),
        "revocation_endpoint": app.public_url("/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
    }))
}
