//! Every setting of the server is in `--help` and in deploy/README.md's table, both
//! checked against the clap definitions, so that neither can fall behind the code.

use std::collections::BTreeSet;
use std::process::Command;

use clap::CommandFactory;
use superset_streams::Config;

/// The environment variables the server reads, from its clap definitions.
fn settings() -> BTreeSet<String> {
    Config::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|v| v.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn help_lists_every_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_superset-streams")).arg("--help").env_clear().output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<_> = settings().into_iter().filter(|v| !help.contains(v.as_str())).collect();
    assert!(missing.is_empty(), "--help does not mention {missing:?}");
}

#[test]
fn the_deploy_page_lists_every_setting_and_no_other() {
    let documented = superset_testkit::settings::documented("superset-streams");
    let settings = settings();
    assert!(settings.len() > 5, "clap definitions not found: {settings:?}");
    let undocumented: Vec<_> = settings.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&settings).collect();
    assert!(undocumented.is_empty(), "deploy/README.md's superset-streams table lacks {undocumented:?}");
    assert!(
        unknown.is_empty(),
        "deploy/README.md's superset-streams table names settings the server does not read: {unknown:?}"
    );
}
