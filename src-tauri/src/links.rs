//! `superset://` links the OS hands the app: at start (the app was launched by one) or
//! while it runs (the single-instance plugin forwards a second launch's link here).
//! The only link is the sign-in's return, `superset://auth/callback`.

use tauri::{AppHandle, Manager};
use url::Url;

use crate::state::AppState;

pub fn open(app: &AppHandle, links: Vec<Url>) {
    for link in links {
        let Some(receiver) = app.state::<AppState>().sign_in_link.lock().unwrap().clone() else {
            tracing::warn!("a superset:// link arrived but no sign-in is waiting for it; sign in again from the app");
            continue;
        };
        tauri::async_runtime::spawn(async move {
            // Never log the link itself: it carries an authorization code.
            if !receiver.receive(&link).await {
                tracing::warn!("ignored a superset:// link that is not the waiting sign-in's");
            }
        });
    }
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.set_focus();
    }
}
