//! Generates the Tauri context and the permissions of the app's own commands, so the
//! capability file can allow exactly those (and nothing else) to the main window.
//!
//! Only a build that embeds the web UI needs `ui/dist`: `tauri build` turns on tauri's
//! `custom-protocol` feature to embed it, while a development build (`tauri dev`, or
//! a bare `cargo build`) loads the Vite dev server at `devUrl` instead. tauri's own
//! build script tells the two apart and passes the answer on (`tauri_build::is_dev`).

include!("src/command_list.rs");

/// Only the names: the permissions are `allow-<name>`, kebab-cased.
macro_rules! command_names {
    ($($name:ident ($($arg:ident : $ty:ty),*) -> $result:ty;)*) => {
        const COMMANDS: &[&str] = &[$(stringify!($name)),*];
    };
}
with_commands!(command_names);

fn main() {
    if !tauri_build::is_dev() {
        if !std::path::Path::new("ui/dist/index.html").exists() {
            println!(
                "cargo::error=the desktop app embeds the web UI, which is not built: run \
                 `npm --prefix ui ci && npm --prefix ui run build` first"
            );
            return;
        }
        println!("cargo::rerun-if-changed=ui/dist");
    }
    println!("cargo::rerun-if-changed=src-tauri/src/command_list.rs");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri build step");
}
