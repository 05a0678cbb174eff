//! No shared secret exists anywhere: the desktop and the servers share nothing but the
//! user's own session token. This fails if the old shared-secret variable comes back.

use std::path::Path;

/// Spelled in two halves so this file does not contain it.
const FORBIDDEN: &str = concat!("STREAMS", "_SECRET");

#[test]
fn the_old_shared_secret_appears_nowhere_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found = Vec::new();
    visit(&root, &mut found);
    assert!(found.is_empty(), "{FORBIDDEN} found in {found:?}");
}

fn visit(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if matches!(name.as_ref(), ".git" | "target" | "node_modules" | "dist" | "gen") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            visit(&path, found);
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(FORBIDDEN.len()).any(|w| w == FORBIDDEN.as_bytes()) || name.contains(FORBIDDEN) {
                found.push(path.display().to_string());
            }
        }
    }
}
