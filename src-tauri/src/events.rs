//! What the UI is told without asking about sign-in: changes from the session manager.

use superset_client::AuthEvent;
use tauri::{AppHandle, Manager};

use crate::contract::{AuthChanged, AuthRequired, SessionEnd, AUTH_CHANGED, AUTH_REQUIRED};
use crate::state::AppState;

pub fn forward_auth_events(app: AppHandle) {
    let mut events = app.state::<AppState>().manager.auth_events();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(AuthEvent::Changed { signed_in, expires_at }) => {
                    AUTH_CHANGED.emit(&app, AuthChanged { signed_in, expires_at });
                }
                Ok(AuthEvent::Required { expired }) => {
                    // The token is gone (revoked, or signed out elsewhere): so are the
                    // local copies of its chats, as at sign-out.
                    crate::offline::forget(&app.state::<AppState>());
                    let reason = if expired { SessionEnd::Expired } else { SessionEnd::Ended };
                    AUTH_REQUIRED.emit(&app, AuthRequired { reason });
                    AUTH_CHANGED.emit(&app, AuthChanged { signed_in: false, expires_at: None });
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}
