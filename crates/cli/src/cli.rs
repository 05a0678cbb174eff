//! The command line.

use clap::{Args, Parser, Subcommand};
use superset_client::assistant::ProviderKind;
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
    /// List where your account is signed in, most recently used first (`*` marks this
    /// device); `superset devices revoke` signs devices out.
    Devices(DevicesArgs),
    /// Chat in a session (a new one unless SESSION_ID is given): type a line to send
    /// it. Resuming a session shows its history first.
    Chat(ChatArgs),
    /// Choose the assistant that replies (echo, Anthropic, an OpenAI-compatible server)
    /// and manage its API keys.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the assistant settings (never the keys themselves).
    Show,
    /// Choose the assistant: `echo` (offline, the default), `anthropic`, or `openai`
    /// (OpenAI, or any compatible server: Ollama, llama.cpp, vLLM; give --base-url).
    SetProvider {
        #[arg(value_parser = parse_provider)]
        provider: ProviderKind,
        /// The model to ask for (default: the provider's usual one).
        #[arg(long)]
        model: Option<String>,
        /// The API root, e.g. http://127.0.0.1:11434/v1 for Ollama.
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Store a provider's API key in the OS keyring (a file only you can read where
    /// there is none). The key is read from standard input, never from the command
    /// line, where other users of the machine could see it.
    SetKey {
        #[arg(value_parser = parse_provider)]
        provider: ProviderKind,
    },
    /// Remove a provider's API key.
    DeleteKey {
        #[arg(value_parser = parse_provider)]
        provider: ProviderKind,
    },
}

fn parse_provider(s: &str) -> Result<ProviderKind, String> {
    ProviderKind::parse(s).ok_or_else(|| format!("unknown provider {s:?}: use echo, anthropic or openai"))
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(subcommand)]
    pub command: Option<DevicesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Sign a device out: its session is revoked on the server, and every server
    /// refuses it at once (open chats on it end). Revoking this device signs you out
    /// here.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The device to sign out (its ID, as `superset devices` lists it).
    #[arg(required_unless_present = "others", conflicts_with = "others")]
    pub id: Option<String>,

    /// Sign out every device but this one.
    #[arg(long)]
    pub others: bool,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The session to continue (a UUID, as `superset sessions` lists).
    pub session_id: Option<String>,

    /// Send this one message, print the conversation with the assistant's reply as it
    /// streams in, and exit once the reply is complete (for scripts).
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
