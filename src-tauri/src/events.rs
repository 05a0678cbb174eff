//! What the UI is told without asking: sign-in changes (from the session manager) and
//! a newer release (from the updater, which checks the release's signed `latest.json`).

use superset_client::AuthEvent;
use tauri::{AppHandle, Manager};

use crate::contract::{
    AuthChanged, AuthRequired, SessionEnd, UpdateAvailable, AUTH_CHANGED, AUTH_REQUIRED, UPDATE_AVAILABLE,
};
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

/// Checks for a newer signed release once at start and tells the UI; installing waits
/// for the person to agree.
#[cfg_attr(debug_assertions, allow(dead_code))]
pub fn announce_update(app: AppHandle) {
    use tauri_plugin_updater::UpdaterExt;
    tauri::async_runtime::spawn(async move {
        let update = match app.updater() {
            Ok(updater) => updater.check().await,
            Err(e) => Err(e),
        };
        match update {
            Ok(Some(update)) => {
                tracing::info!(version = %update.version, "a newer release is available");
                UPDATE_AVAILABLE.emit(&app, UpdateAvailable { version: update.version });
            }
            Ok(None) => tracing::debug!("this is the newest release"),
            Err(e) => tracing::info!(error = %e, "cannot check for updates"),
        }
    });
}
