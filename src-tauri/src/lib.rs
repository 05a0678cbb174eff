//! superset-desktop: the Tauri shell. Everything that talks to a server is
//! superset-client's; this crate only exposes it to the web UI.
//!
//! - `command_list.rs`: the one list of commands (names, arguments, results).
//! - `contract`: the types the UI sees and the events, from which the UI's
//!   `ui/src/contract.ts` is generated.
//! - `commands`: what the UI may invoke (exactly the list the capability allows).
//! - `feed`: a chat's events read into conversation updates for the UI.
//! - `offline`: the local copy of every chat, the outbox, and whether the servers
//!   can be reached.
//! - `state`: what the commands share: the session manager and running work.
//! - `error`: errors as the UI receives them (`{kind, message}`).
//! - `events`: sign-in changes pushed to the UI.
//! - `update`: the release feed, checked on a schedule; updates installed when asked.
//! - `links`: `superset://` links from the OS (the sign-in's app-link return).
//! - `search`: the search index of every chat, filled in the background.
//! - `csp`: the webview's policy, naming the servers configured for this run.

include!("command_list.rs");

mod commands;
mod contract;
mod csp;
mod error;
mod events;
mod feed;
mod links;
mod offline;
mod search;
mod state;
mod update;

use tauri::Manager;
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_plugin_window_state::StateFlags;
use tracing_subscriber::EnvFilter;

/// The invoke handler for every command of the list.
macro_rules! handler {
    ($($name:ident ($($arg:ident : $ty:ty),*) -> $result:ty;)*) => {
        tauri::generate_handler![$(commands::$name),*]
    };
}

/// Starts the app. Where the servers are comes from `SUPERSET_API_URL` and
/// `SUPERSET_STREAMS_URL` at run time, else from the same variables at build time,
/// else the local dev stack.
pub fn run() {
    superset_client::identify_as("superset-desktop", env!("CARGO_PKG_VERSION"));
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let state = match state::AppState::from_env() {
        Ok(state) => state,
        Err(e) => {
            eprintln!("superset-desktop: {e}");
            std::process::exit(2);
        }
    };
    let mut context = tauri::generate_context!("tauri.conf.json");
    csp::allow_servers(context.config_mut(), state.manager.urls());
    let version = context.package_info().version.to_string();
    let updates = update::Updates::new(&state.home, version, update::has_feed(context.config()));
    tauri::Builder::default()
        // First, so a second launch (say, by a superset:// link) hands its arguments
        // to the running app instead of starting another.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        // Export's save and import's open dialogs, shown from Rust: the webview gets no
        // dialog permission.
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        // Restores the main window where and as large as it was left (saved on close);
        // not its visibility or decorations, which the app decides.
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(StateFlags::SIZE | StateFlags::POSITION | StateFlags::MAXIMIZED)
                .build(),
        )
        .manage(state)
        .manage(updates)
        .setup(|app| {
            // On Linux this runs `update-desktop-database` and the `xdg-mime` script (ten
            // processes, 100-300 ms): off the main thread, which serves the page's loads.
            #[cfg(any(target_os = "linux", all(debug_assertions, windows)))]
            {
                let handle = app.handle().clone();
                std::thread::spawn(move || {
                    if let Err(e) = handle.deep_link().register_all() {
                        tracing::warn!(error = %e, "cannot register the superset:// link handler");
                    }
                });
            }
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| links::open(&handle, event.urls()));
            if let Ok(Some(urls)) = app.deep_link().get_current() {
                links::open(app.handle(), urls);
            }
            events::forward_auth_events(app.handle().clone());
            update::start(app.handle().clone());
            Ok(())
        })
        .invoke_handler(with_commands!(handler))
        .run(context)
        .expect("the app runs");
}
