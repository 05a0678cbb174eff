fn main() {
    // `sqlx::migrate!` embeds the migrations when the crate compiles, and cargo does not
    // know it read them: without this, a new migration is silently left out until some
    // source file changes.
    println!("cargo:rerun-if-changed=migrations");
    link_order();
}

/// Has the linker place the functions the server runs to start and idle together (the
/// list and why: `scripts/link-order`). Only where rustc links with LLD by default
/// (x86_64 Linux, Rust 1.90 on) and no other linker was chosen: GNU ld has no such
/// option. Names the binary lacks are ignored, so a stale list costs memory, not a
/// failed build.
fn link_order() {
    const ORDER: &str = "link/superset-streams.order";
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let lld_by_default = var("TARGET") == "x86_64-unknown-linux-gnu";
    let other_linker = std::env::var_os("RUSTC_LINKER").is_some()
        || var("CARGO_ENCODED_RUSTFLAGS").contains("link")
        || !rustc_at_least(1, 90);
    if !lld_by_default || other_linker {
        return;
    }
    // Linked from a copy in OUT_DIR: cargo may reuse this script's output for a checkout
    // elsewhere that shares the target directory, and that checkout may be gone.
    let path = std::path::Path::new(&var("OUT_DIR")).join("superset-streams.order");
    if std::fs::copy(ORDER, &path).is_ok() {
        let bin = "cargo:rustc-link-arg-bin=superset-streams";
        println!("{bin}=-Wl,--symbol-ordering-file={}", path.display());
        println!("{bin}=-Wl,--no-warn-symbol-ordering");
    }
}

fn rustc_at_least(major: u32, minor: u32) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text.split_whitespace().nth(1).unwrap_or("").split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (version.next().unwrap_or(0), version.next().unwrap_or(0)) >= (major, minor)
}
