//! The command line.

use clap::{Args, Parser, Subcommand};
use superset_client::servers::{parse_base_url, ServerUrls, DEFAULT_API_URL, DEFAULT_STREAMS_URL};
use url::Url;

#[derive(Debug, Parser)]
#[command(name = "superset", version, about = "Superset chat from the command line", propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub servers: ServerArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Where the servers are (ignored by `dev`, which starts them).
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The auth server.
    #[arg(long, global = true, env = "SUPERSET_API_URL", default_value = DEFAULT_API_URL, value_parser = parse_base_url)]
    pub api_url: Url,

    /// The streams server.
    #[arg(long, global = true, env = "SUPERSET_STREAMS_URL", default_value = DEFAULT_STREAMS_URL, value_parser = parse_base_url)]
    pub streams_url: Url,
}

impl ServerArgs {
    pub fn urls(&self) -> ServerUrls {
        ServerUrls { api: self.api_url.clone(), streams: self.streams_url.clone() }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the auth server and the streams server in this process, on SQLite and a file
    /// store under $SUPERSET_HOME/dev/ (default ~/.superset/dev/), with the development
    /// sign-in form on. Stops on Ctrl-C.
    Dev(DevArgs),
    /// Sign in through the browser and keep the session token, encrypted, in
    /// $SUPERSET_HOME/auth-token.enc.
    Login(LoginArgs),
    /// Print the signed-in user's email. Exit status: 0 signed in, 1 not signed in,
    /// 2 the auth server cannot be reached to tell.
    Whoami,
    /// Revoke the session on the auth server and remove the token from this machine
    /// (removed even when the server cannot be reached).
    Logout,
    /// List your chat sessions, newest first.
    Sessions,
    /// Chat in a session (a new one unless SESSION_ID is given): type a line to send
    /// it. Resuming a session shows its history first.
    Chat(ChatArgs),
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The session to continue (a UUID, as `superset sessions` lists).
    pub session_id: Option<String>,

    /// Send this one message, print the conversation's new messages, and exit (for
    /// scripts).
    #[arg(long)]
    pub message: Option<String>,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Port of the auth server; 0 picks a free one.
    #[arg(long, default_value_t = 8788)]
    pub api_port: u16,

    /// Port of the streams server; 0 picks a free one.
    #[arg(long, default_value_t = 8787)]
    pub streams_port: u16,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Only print the sign-in URL; do not open a browser (for a machine without one).
    #[arg(long)]
    pub no_open: bool,
}
