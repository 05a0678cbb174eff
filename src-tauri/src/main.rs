// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // WebKitGTK's DMA-BUF renderer costs the web process ~85 MiB of proportional
    // memory at rest (measured under Xvfb: the app's processes together 317 MiB with
    // it, 226 MiB without) and is behind the blank windows some GPU drivers give.
    // Set to 0 to have it back.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        // Before any thread starts, so no one reads the environment meanwhile.
        std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
    }
    superset_desktop::run();
}
