//! Every setting of the server is in `--help` and in deploy/README.md's table, both
//! checked against the clap definitions, so that neither can fall behind the code.

use clap::CommandFactory;
use superset_streams::Config;
use superset_testkit::settings::{assert_documented_exactly, assert_help_lists_every_setting};

#[test]
fn help_lists_every_setting() {
    assert_help_lists_every_setting(env!("CARGO_BIN_EXE_superset-streams"), &Config::command());
}

#[test]
fn the_deploy_page_lists_every_setting_and_no_other() {
    assert_documented_exactly("superset-streams", &Config::command());
}
