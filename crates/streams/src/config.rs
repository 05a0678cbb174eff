use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, ValueEnum};
use superset_auth_db::DatabaseUrl;
use superset_edge::cli::parse_duration;

use crate::store::Quota;

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

    /// Size (bytes) at which the file store closes a log segment and starts the next;
    /// only closed segments are compacted.
    #[arg(long, env = "STREAMS_SEGMENT_BYTES", default_value_t = 64 << 20, value_parser = clap::value_parser!(u64).range(4096..))]
    pub segment_bytes: u64,

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

    /// How often (ms) the server proves that session changes reach it (PostgreSQL: the
    /// auth.sessions trigger is there and a probe notification comes back); until
    /// proven, validated tokens are trusted for 1 s only.
    #[arg(long, env = "STREAMS_AUTH_NOTIFY_CHECK_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_notify_check_ms: u64,

    /// Session lookups run on the database at once; the rest of the pool is left to
    /// streams, so a flood of unknown tokens cannot starve them.
    #[arg(long, env = "STREAMS_AUTH_MAX_LOOKUPS", default_value_t = 4)]
    pub auth_max_lookups: usize,

    /// Session lookups waiting for their turn; past this a request gets 503.
    #[arg(long, env = "STREAMS_AUTH_MAX_QUEUED_LOOKUPS", default_value_t = 64)]
    pub auth_max_queued_lookups: usize,

    /// Unknown tokens one client address (IPv6: one /64) may present per minute; past
    /// this its uncached tokens get 429 with Retry-After.
    #[arg(long, env = "STREAMS_AUTH_FAILURES_PER_MINUTE", default_value_t = 30)]
    pub auth_failures_per_minute: u32,

    /// How long a session lives after its last renewal (better-auth's expiresIn; keep
    /// it equal to the auth server's SESSION_TTL): seconds or e.g. 30d.
    #[arg(long, env = "STREAMS_SESSION_TTL", default_value = "30d", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// How long after its last renewal a session in use is renewed again (better-auth's
    /// updateAge; as the auth server's API_SESSION_UPDATE_AGE): seconds or e.g. 1d.
    #[arg(long, env = "STREAMS_SESSION_UPDATE_AGE", default_value = "1d", value_parser = parse_duration)]
    pub session_update_age: Duration,

    /// Proxies whose X-Forwarded-For names the client (comma-separated addresses or
    /// CIDR ranges); by default none, and the TCP peer is the client.
    #[arg(long, env = "STREAMS_TRUSTED_PROXIES", value_delimiter = ',', value_parser = superset_edge::address::parse_trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// How long a request's head may take to arrive (ms), counted from when the
    /// connection opens or its previous response ends.
    #[arg(long, env = "STREAMS_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// How long a connection with no request in progress stays open without traffic (ms).
    #[arg(long, env = "STREAMS_IDLE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,

    /// How long a request's body may take to arrive in full (ms).
    #[arg(long, env = "STREAMS_BODY_READ_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_ms: u64,

    /// Open connections accepted at once, all clients together.
    #[arg(long, env = "STREAMS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections accepted at once from one address (IPv6: one /64); 0 for no
    /// limit, as behind a load balancer, where every connection comes from it.
    #[arg(long, env = "STREAMS_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256)]
    pub max_connections_per_client: usize,

    #[command(flatten)]
    pub user_limits: UserLimits,
}

/// What one signed-in user may use, so that no user can exhaust the server for the
/// others. Defaults are far above what a person chatting needs; over a limit the
/// answer is `429` with `Retry-After` and the limit's name.
#[derive(Clone, Copy, Debug, Args)]
pub struct UserLimits {
    /// Streams a user may own, chat sessions and their index included.
    #[arg(long, env = "STREAMS_USER_MAX_STREAMS", default_value_t = 10_000)]
    pub max_streams: u64,

    /// Chat sessions a user may own. Each user's session list is held in memory while
    /// in use, so this bounds it (about 200 bytes a session).
    #[arg(long, env = "STREAMS_USER_MAX_SESSIONS", default_value_t = 5_000)]
    pub max_sessions: u64,

    /// Bytes of stream data a user may keep (what their streams hold, forks counting
    /// only what they add).
    #[arg(long, env = "STREAMS_USER_MAX_BYTES", default_value_t = 1 << 30)]
    pub max_bytes: u64,

    /// Live reads (SSE and long-poll) a user may have open at once on one instance:
    /// each holds a connection and a task of that instance.
    #[arg(long, env = "STREAMS_USER_MAX_READERS", default_value_t = 100)]
    pub max_readers: u64,

    /// Requests per second a user may make to one instance, sustained.
    #[arg(long, env = "STREAMS_USER_REQUESTS_PER_SECOND", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub requests_per_second: u32,

    /// Requests a user may make at once above the sustained rate.
    #[arg(long, env = "STREAMS_USER_REQUEST_BURST", default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub request_burst: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    File,
    Postgres,
}

impl UserLimits {
    /// The part of the limits the store enforces.
    pub fn quota(&self) -> Quota {
        Quota { streams: self.max_streams, bytes: self.max_bytes }
    }
}

impl Config {
    /// A configuration with every default, for embedding and tests.
    pub fn new(database_url: DatabaseUrl) -> Self {
        let mut config = Config::parse_from(["superset-streams"]);
        config.database_url = Some(database_url);
        config
    }
}

impl Config {
    /// What one connection may cost the server.
    pub fn connection_limits(&self) -> superset_edge::serve::Limits {
        superset_edge::serve::Limits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
        }
    }
}

fn parse_database_url(s: &str) -> Result<DatabaseUrl, String> {
    s.parse().map_err(|e: superset_auth_db::Error| e.to_string())
}
