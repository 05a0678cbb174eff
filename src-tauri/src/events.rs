//! The session manager's sign-in changes, pushed to the UI as Tauri events.

use serde_json::json;
use superset_client::AuthEvent;
use tauri::{AppHandle, Emitter, Manager};

use crate::state::AppState;

pub const AUTH_CHANGED: &str = "auth:changed";
pub const AUTH_REQUIRED: &str = "auth:required";

pub fn forward_auth_events(app: AppHandle) {
    let mut events = app.state::<AppState>().manager.auth_events();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(AuthEvent::Changed { signed_in, expires_at }) => {
                    let _ = app.emit(AUTH_CHANGED, json!({"signedIn": signed_in, "expiresAt": expires_at}));
                }
                Ok(AuthEvent::Required) => {
                    let _ = app.emit(AUTH_REQUIRED, ());
                    let _ = app.emit(AUTH_CHANGED, json!({"signedIn": false, "expiresAt": null}));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
