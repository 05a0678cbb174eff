//! Generates the Tauri context and the permissions of the app's own commands, so the
//! capability file can allow exactly those (and nothing else) to the main window.

const COMMANDS: &[&str] = &[
    "get_config",
    "current_user",
    "sign_in",
    "cancel_sign_in",
    "sign_out",
    "list_sessions",
    "start_session",
    "rename_session",
    "delete_session",
    "send_message",
    "stop",
    "subscribe_session",
    "unsubscribe_session",
];

fn main() {
    let dist = std::path::Path::new("ui/dist/index.html");
    if !dist.exists() {
        println!(
            "cargo::error=the desktop app embeds the web UI, which is not built: run \
             `npm --prefix ui ci && npm --prefix ui run build` first"
        );
        return;
    }
    println!("cargo::rerun-if-changed=ui/dist");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri build step");
}
