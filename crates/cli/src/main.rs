//! `superset`: the command line of Superset chat, on the same client core as the
//! desktop app.
//!
//! - `cli`: the command line itself (clap).
//! - `dev`: `superset dev`, both servers in one process on the embedded default.
//! - `account`: `login`, `whoami`, `logout`.
//! - `chat`: `sessions` and `chat`.
//! - `devices`: `devices`, `devices revoke`: where the account is signed in.
//! - `config`: the assistant's provider, model and API keys.

mod account;
mod chat;
mod cli;
mod config;
mod dev;
mod devices;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    superset_client::identify_as("superset-cli", env!("CARGO_PKG_VERSION"));
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Dev(_)) { "info" } else { "warn" };
    superset_edge::logs::init(default_level);
    let result = match cli.command {
        Command::Dev(args) => dev::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::Login(args) => account::login(&cli.servers, args).await.map(|()| ExitCode::SUCCESS),
        Command::Whoami => account::whoami(&cli.servers).await,
        Command::Logout => account::logout(&cli.servers).await.map(|()| ExitCode::SUCCESS),
        Command::Sessions => chat::sessions(&cli.servers).await.map(|()| ExitCode::SUCCESS),
        Command::Devices(args) => devices::run(&cli.servers, args).await.map(|()| ExitCode::SUCCESS),
        Command::Chat(args) => chat::chat(&cli.servers, args).await.map(|()| ExitCode::SUCCESS),
        Command::Config(command) => config::run(command).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("{}", report(&e));
        ExitCode::FAILURE
    })
}

/// A failure as the person reads it: the plain words first (with what to run when it
/// is about signing in), then the client's technical detail on its own line.
fn report(error: &anyhow::Error) -> String {
    let mut out = format!("error: {error:#}");
    if let Some(client) = error.chain().find_map(|e| e.downcast_ref::<superset_client::ClientError>()) {
        use superset_client::ClientError::{AuthRequired, SignedOut, TokenStore};
        if matches!(client, SignedOut | AuthRequired | TokenStore(_)) {
            out += "\n(sign in with `superset login`)";
        }
        if let Some(detail) = client.detail() {
            out += &format!("\ndetails: {detail}");
        }
    }
    out
}
