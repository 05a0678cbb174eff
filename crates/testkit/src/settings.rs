//! The servers' settings as deploy/README.md documents them, so that a test can hold
//! that page to the clap definitions.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// Variables the tables list that are not the server's own settings.
const NOT_SETTINGS: &[&str] = &["RUST_LOG"];

/// The variables named (in backticks) in the first column of the settings table under
/// the `## {server}` heading of deploy/README.md.
fn documented(server: &str) -> BTreeSet<String> {
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

/// The environment variables a server reads, from its clap definitions.
fn read_by(command: &clap::Command) -> BTreeSet<String> {
    command.get_arguments().filter_map(|arg| arg.get_env()).map(|v| v.to_string_lossy().into_owned()).collect()
}

/// Asserts that `binary --help` mentions every setting of `command`.
pub fn assert_help_lists_every_setting(binary: &str, command: &clap::Command) {
    let output = std::process::Command::new(binary).arg("--help").env_clear().output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<_> = read_by(command).into_iter().filter(|v| !help.contains(v.as_str())).collect();
    assert!(missing.is_empty(), "--help does not mention {missing:?}");
}

/// Asserts that deploy/README.md's table for `server` lists exactly the settings of
/// `command`.
pub fn assert_documented_exactly(server: &str, command: &clap::Command) {
    let documented = documented(server);
    let settings = read_by(command);
    assert!(settings.len() > 5, "clap definitions not found: {settings:?}");
    let undocumented: Vec<_> = settings.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&settings).collect();
    assert!(undocumented.is_empty(), "deploy/README.md's {server} table lacks {undocumented:?}");
    assert!(
        unknown.is_empty(),
        "deploy/README.md's {server} table names settings the server does not read: {unknown:?}"
    );
}
