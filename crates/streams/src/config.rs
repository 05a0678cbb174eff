use std::path::PathBuf;

use clap::{ArgAction, Parser, ValueEnum};
use superset_auth_db::DatabaseUrl;

/// The streams server's configuration, parsed once at start from flags and the
/// environment (each flag has a matching variable).
#[derive(Clone, Debug, Parser)]
#[command(name = "superset-streams", version, about = "The Superset streams server")]
pub struct Config {
    /// Where sessions are checked (and, with --storage postgres, streams are kept):
    /// postgres://USER@HOST/DB or sqlite:PATH.
    #[arg(long, env = "DATABASE_URL", value_parser = parse_database_url, hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Address to listen on.
    #[arg(long, env = "STREAMS_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "STREAMS_PORT", default_value_t = 8787)]
    pub port: u16,

    /// Where stream data is kept.
    #[arg(long, env = "STREAMS_STORAGE", value_enum, default_value_t = StorageKind::File)]
    pub storage: StorageKind,

    /// Directory of the file store.
    #[arg(long, env = "STREAMS_DATA_DIR", default_value = "streams-data")]
    pub data_dir: PathBuf,

    /// How long a long-poll read waits for new data before answering 204.
    #[arg(long, env = "STREAMS_LONG_POLL_TIMEOUT_MS", default_value_t = 30_000)]
    pub long_poll_timeout_ms: u64,

    /// Largest request body accepted on a stream (bytes); larger appends get 413.
    #[arg(long, env = "STREAMS_MAX_APPEND_BYTES", default_value_t = 8 << 20)]
    pub max_append_bytes: usize,

    /// Largest text a chat message or chunk may carry (bytes); larger ones get 400.
    #[arg(long, env = "STREAMS_MAX_MESSAGE_BYTES", default_value_t = 1 << 20)]
    pub max_message_bytes: usize,

    /// Browser origins allowed to call the server (comma-separated; `*` for any).
    #[arg(long, env = "STREAMS_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Keep validated tokens in memory briefly (invalidated by PostgreSQL
    /// notifications; at most 1 s without them). Off: one query per request.
    #[arg(long, env = "STREAMS_AUTH_CACHE", default_value_t = true, action = ArgAction::Set)]
    pub auth_cache: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    File,
    Postgres,
}

impl Config {
    /// A configuration with every default, for embedding and tests.
    pub fn new(database_url: DatabaseUrl) -> Self {
        let mut config = Config::parse_from(["superset-streams"]);
        config.database_url = Some(database_url);
        config
    }
}

fn parse_database_url(s: &str) -> Result<DatabaseUrl, String> {
    s.parse().map_err(|e: superset_auth_db::Error| e.to_string())
}
