//! The auth server's configuration: flags and environment variables, parsed once at
//! start into [`Config`], then checked as a whole into [`Providers`] (clap sees one
//! variable at a time; "an id without its secret" needs both).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use ipnet::IpNet;
use superset_auth_db::DatabaseUrl;
use superset_edge::cli::parse_duration;
use url::Url;

/// How long an authorization code can be exchanged. RFC 6749 §4.1.2 allows up to ten
/// minutes; the desktop exchanges its code within a second of receiving it.
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(60);

/// How often expired sign-ins and codes are deleted from `auth.verifications`.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Each flag's value is named after its environment variable, so a parse error
/// ("invalid value for --port <API_PORT>") names what to fix either way.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "superset-api",
    version,
    about = "The Superset auth server: OAuth 2.0 sign-in for the desktop app, issuing sessions in auth.sessions"
)]
pub struct Config {
    /// Where users, accounts and sessions are kept: postgres://USER@HOST/DB or sqlite:PATH.
    #[arg(long, env = "DATABASE_URL", value_parser = parse_database_url, hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,

    /// Address to listen on.
    #[arg(long, env = "API_HOST", value_name = "API_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = "API_PORT", value_name = "API_PORT", default_value_t = 8788)]
    pub port: u16,

    /// How long a request's head may take to arrive (ms), counted from when the
    /// connection opens or its previous response ends.
    #[arg(
        long,
        env = "API_HEADER_READ_TIMEOUT_MS",
        value_name = "API_HEADER_READ_TIMEOUT_MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub header_read_timeout_ms: u64,

    /// How long a connection with no request in progress stays open without traffic (ms).
    #[arg(long, env = "API_IDLE_TIMEOUT_MS", value_name = "API_IDLE_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,

    /// How long a request's body may take to arrive in full (ms).
    #[arg(long, env = "API_BODY_READ_TIMEOUT_MS", value_name = "API_BODY_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_read_timeout_ms: u64,

    /// Open connections accepted at once, all clients together.
    #[arg(long, env = "API_MAX_CONNECTIONS", value_name = "API_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections accepted at once from one address (IPv6: one /64); 0 for no
    /// limit, as behind a load balancer, where every connection comes from it.
    #[arg(
        long,
        env = "API_MAX_CONNECTIONS_PER_CLIENT",
        value_name = "API_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 256
    )]
    pub max_connections_per_client: usize,

    /// The URL browsers and the desktop reach this server at: the OAuth issuer and the
    /// base of the upstream providers' redirect URIs. Default: http://HOST:PORT as bound.
    #[arg(long, env = "API_PUBLIC_URL", value_name = "API_PUBLIC_URL", value_parser = parse_http_url)]
    pub public_url: Option<Url>,

    /// How long an issued session lives after its sign-in or last renewal (better-auth's
    /// expiresIn): seconds, or a duration such as 30d or 12h.
    #[arg(long, env = "SESSION_TTL", default_value = "30d", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// How long after its last renewal a session in use is renewed again, to
    /// SESSION_TTL from then (better-auth's updateAge): seconds or e.g. 1d.
    #[arg(long, env = "API_SESSION_UPDATE_AGE", default_value = "1d", value_parser = parse_duration)]
    pub session_update_age: Duration,

    /// GitHub OAuth app client id (needs GITHUB_CLIENT_SECRET).
    #[arg(long, env = "GITHUB_CLIENT_ID")]
    pub github_client_id: Option<String>,

    /// GitHub OAuth app client secret.
    #[arg(long, env = "GITHUB_CLIENT_SECRET", hide_env_values = true)]
    pub github_client_secret: Option<Secret>,

    /// Google OAuth client id (needs GOOGLE_CLIENT_SECRET).
    #[arg(long, env = "GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,

    /// Google OAuth client secret.
    #[arg(long, env = "GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub google_client_secret: Option<Secret>,

    /// Issuer URL of any OpenID Connect provider, found through discovery (needs
    /// OIDC_CLIENT_ID and OIDC_CLIENT_SECRET).
    #[arg(long, env = "OIDC_ISSUER", value_parser = parse_issuer)]
    pub oidc_issuer: Option<String>,

    /// Client id registered at OIDC_ISSUER.
    #[arg(long, env = "OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// Client secret registered at OIDC_ISSUER.
    #[arg(long, env = "OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<Secret>,

    /// Offer the development sign-in form, where anyone signs in as anyone by typing a
    /// name and an email. For local use only; off unless SUPERSET_DEV_LOGIN=1.
    #[arg(long, env = "SUPERSET_DEV_LOGIN", action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub dev_login: bool,

    /// Token requests allowed per client IP address and minute.
    #[arg(long, env = "API_TOKEN_RATE_LIMIT", value_name = "API_TOKEN_RATE_LIMIT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub token_rate_limit: u32,

    /// Authorization requests (each one starts a sign-in) allowed per client address
    /// (IPv6: per /64) and minute.
    #[arg(long, env = "API_AUTHORIZE_RATE_LIMIT", value_name = "API_AUTHORIZE_RATE_LIMIT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub authorize_rate_limit: u32,

    /// Sign-ins in progress (started, not yet expired) allowed per client address
    /// (IPv6: per /64), counted by each instance for the sign-in's 10 minutes.
    #[arg(long, env = "API_PENDING_SIGN_INS_PER_ADDRESS", value_name = "API_PENDING_SIGN_INS_PER_ADDRESS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub pending_sign_ins_per_address: u32,

    /// Sign-ins in progress allowed in total, per instance: what bounds the rows an
    /// anonymous flood can add to auth.verifications.
    #[arg(long, env = "API_PENDING_SIGN_INS", value_name = "API_PENDING_SIGN_INS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub pending_sign_ins: u32,

    /// The load balancers in front of this server: addresses or CIDR ranges,
    /// comma-separated. A request from one of them is counted (rate limit, recorded
    /// session address) for the client its X-Forwarded-For names; from anywhere else
    /// that header is ignored. Default: none.
    #[arg(long, env = "API_TRUSTED_PROXIES", value_name = "API_TRUSTED_PROXIES", value_delimiter = ',', value_parser = superset_edge::address::parse_trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,

    /// How long an authorization code can be exchanged; settable only in code, so tests
    /// can see a code expire without waiting.
    #[arg(skip = DEFAULT_CODE_TTL)]
    pub code_ttl: Duration,

    /// How often expired sign-ins and codes are swept; settable only in code, so tests
    /// can see a sweep without waiting a minute.
    #[arg(skip = DEFAULT_SWEEP_INTERVAL)]
    pub sweep_interval: Duration,
}

impl Config {
    /// Every default, for embedding (e.g. `superset dev`) and tests; set fields after.
    /// The environment is not read: what the embedding program sets is what it gets.
    pub fn new(database_url: DatabaseUrl) -> Self {
        let command = Config::command().mut_args(|arg| arg.env(None));
        let matches = command.get_matches_from(["superset-api"]);
        let mut config = Config::from_arg_matches(&matches).expect("the defaults parse");
        config.database_url = Some(database_url);
        config
    }

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

    /// The sign-in methods configured, each complete, or the variable that is missing.
    pub fn providers(&self) -> Result<Providers, ConfigError> {
        let github =
            pair(("GITHUB_CLIENT_ID", &self.github_client_id), ("GITHUB_CLIENT_SECRET", &self.github_client_secret))?;
        let google =
            pair(("GOOGLE_CLIENT_ID", &self.google_client_id), ("GOOGLE_CLIENT_SECRET", &self.google_client_secret))?;
        let oidc = match (
            &self.oidc_issuer,
            pair(("OIDC_CLIENT_ID", &self.oidc_client_id), ("OIDC_CLIENT_SECRET", &self.oidc_client_secret))?,
        ) {
            (Some(issuer), Some(client)) => Some((issuer.clone(), client)),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::Incomplete { given: "OIDC_ISSUER", missing: "OIDC_CLIENT_ID" }),
            (None, Some(_)) => return Err(ConfigError::Incomplete { given: "OIDC_CLIENT_ID", missing: "OIDC_ISSUER" }),
        };
        let providers = Providers { github, google, oidc, dev_login: self.dev_login };
        if providers.is_empty() {
            return Err(ConfigError::NoSignInMethod);
        }
        Ok(providers)
    }
}

/// The sign-in methods on offer.
#[derive(Clone, Debug)]
pub struct Providers {
    pub github: Option<ClientCredentials>,
    pub google: Option<ClientCredentials>,
    /// The issuer exactly as configured: it must equal the `iss` of the provider's
    /// discovery document and ID tokens, trailing slash and all.
    pub oidc: Option<(String, ClientCredentials)>,
    pub dev_login: bool,
}

impl Providers {
    fn is_empty(&self) -> bool {
        self.upstream_setting().is_none() && !self.dev_login
    }

    /// The variable that configures an upstream provider, if any does.
    pub fn upstream_setting(&self) -> Option<&'static str> {
        [
            (self.github.is_some(), "GITHUB_CLIENT_ID"),
            (self.google.is_some(), "GOOGLE_CLIENT_ID"),
            (self.oidc.is_some(), "OIDC_ISSUER"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// This server's registration at an upstream provider.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// A value that must never reach a log: `Debug` shows that it is set, not what it is.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("DATABASE_URL is not set: give postgres://USER@HOST/DB or sqlite:PATH (or --database-url)")]
    MissingDatabaseUrl,
    #[error("{given} is set but {missing} is not: set both, or neither")]
    Incomplete { given: &'static str, missing: &'static str },
    #[error(
        "no sign-in method is configured: set GITHUB_CLIENT_ID/GITHUB_CLIENT_SECRET, \
         GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET, OIDC_ISSUER/OIDC_CLIENT_ID/OIDC_CLIENT_SECRET, \
         or SUPERSET_DEV_LOGIN=1 for local development"
    )]
    NoSignInMethod,
    /// The dev sign-in lets anyone sign in as anyone (and, through linking by e-mail,
    /// as any existing user): it is refused anywhere but on a developer's own machine.
    #[error(
        "SUPERSET_DEV_LOGIN=1 is allowed only with API_HOST on a loopback address and no upstream provider \
         configured, but {0}"
    )]
    DevLoginExposed(String),
}

fn pair(
    (id_name, id): (&'static str, &Option<String>),
    (secret_name, secret): (&'static str, &Option<Secret>),
) -> Result<Option<ClientCredentials>, ConfigError> {
    let id = id.as_ref().filter(|s| !s.trim().is_empty());
    let secret = secret.as_ref().filter(|s| !s.0.trim().is_empty());
    match (id, secret) {
        (Some(id), Some(secret)) => {
            Ok(Some(ClientCredentials { client_id: id.trim().to_owned(), client_secret: secret.clone() }))
        }
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::Incomplete { given: id_name, missing: secret_name }),
        (None, Some(_)) => Err(ConfigError::Incomplete { given: secret_name, missing: id_name }),
    }
}

fn parse_database_url(s: &str) -> Result<DatabaseUrl, String> {
    s.parse().map_err(|e: superset_auth_db::Error| e.to_string())
}

fn parse_http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("{e}: expected an http(s) URL"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err("expected an http(s) URL such as https://auth.example.com".to_owned()),
    }
}

fn parse_issuer(s: &str) -> Result<String, String> {
    parse_http_url(s)?;
    Ok(s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let mut config = Config::new("sqlite::memory:".parse().unwrap());
        config.github_client_secret = Some(Secret::new("hunter2-github"));
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn public_url_must_be_http() {
        assert!(parse_http_url("https://auth.example.com").is_ok());
        assert!(parse_http_url("ftp://auth.example.com").is_err());
        assert!(parse_http_url("auth.example.com").is_err());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let config = Config::try_parse_from(["superset-api", "--trusted-proxies", "10.0.0.0/8, 192.0.2.7"]).unwrap();
        let expected: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "192.0.2.7/32".parse().unwrap()];
        assert_eq!(config.trusted_proxies, expected);
        assert!(Config::try_parse_from(["superset-api", "--trusted-proxies", "lb.internal"]).is_err());
    }
}
