//! The servers' settings as deploy/README.md documents them, so that a test can hold
//! that page to the clap definitions.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// Variables the tables list that are not the server's own settings.
const NOT_SETTINGS: &[&str] = &["RUST_LOG"];

/// The variables named (in backticks) in the first column of the settings table under
/// the `## {server}` heading of deploy/README.md.
pub fn documented(server: &str) -> BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/README.md");
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let section = page
        .split("\n## ")
        .find(|s| s.starts_with(server))
        .unwrap_or_else(|| panic!("{} has no `## {server}` section", path.display()));
    section
        .lines()
        .filter_map(|line| line.strip_prefix('|')?.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .filter(|name| !NOT_SETTINGS.contains(name))
        .map(str::to_owned)
        .collect()
}
