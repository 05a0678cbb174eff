// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // WebKitGTK's DMA-BUF renderer costs the web process ~85 MiB of proportional
    // memory at rest (measured under Xvfb: the app's processes together 317 MiB with
    // it, 226 MiB without) and is behind the blank windows some GPU drivers give.
    // Set to 0 to have it back.
    //
    // JavaScriptCore's optimizing JIT tiers (DFG, and FTL above it) keep compiled code
    // and profiles for hot functions: with them off (the baseline JIT stays) the app's
    // processes held 260 MiB instead of 297 after a 200-message chat, 265 instead of
    // 280-307 with a 500-turn one, and opening either was no slower (105 and 92 ms to
    // the last screen). Set JSC_useDFGJIT=1 to have them back.
    #[cfg(target_os = "linux")]
    for (name, value) in [("WEBKIT_DISABLE_DMABUF_RENDERER", "1"), ("JSC_useDFGJIT", "0")] {
        if std::env::var_os(name).is_none() {
            // Before any thread starts, so no one reads the environment meanwhile.
            std::env::set_var(name, value);
        }
    }
    superset_desktop::run();
}
