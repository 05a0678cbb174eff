//! The router and the server's life cycle, shaped like `superset_streams::Server` so
//! that `superset dev` can run both in one process.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::routing::{delete, get, post};
use axum::Router;
use superset_auth_db::AuthDb;
use superset_edge::{Bound, Running};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use url::Url;

use crate::config::{Config, ConfigError, Providers};
use crate::pending::SIGN_IN_TTL;
use crate::rate_limit::{PendingQuota, RateLimiter};
use crate::upstream::Upstreams;
use crate::{authorize, me, metadata, sessions, signin, token};

/// OAuth requests are a few short form fields.
const MAX_BODY: usize = 16 * 1024;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: AuthDb,
    pub upstreams: Arc<Upstreams>,
    pub token_limiter: Arc<RateLimiter>,
    pub authorize_limiter: Arc<RateLimiter>,
    pub pending_quota: Arc<PendingQuota>,
    /// The public base URL, without a trailing slash.
    base_url: Arc<str>,
    /// Its origin, as browsers send it in `Origin`.
    origin: Arc<str>,
    /// Cookies marked `Secure` when the public URL is https.
    pub secure_cookies: bool,
}

impl AppState {
    /// An absolute URL of this server; `path` starts with `/` (or is empty: the issuer).
    pub fn public_url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn public_origin(&self) -> &str {
        &self.origin
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot use the database at {url}: {source}")]
    Database { url: String, source: superset_auth_db::Error },
    #[error(transparent)]
    Bind(#[from] superset_edge::BindError),
}

/// A bound, ready-to-serve auth server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Checks the configuration, connects to the database (migrating it) and binds.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        let providers = config.providers()?;
        let url = config.database_url.clone().ok_or(ConfigError::MissingDatabaseUrl)?;
        let db = AuthDb::connect(&url).await.map_err(|source| StartError::Database { url: url.to_string(), source })?;
        let listener = superset_edge::bind(&config.host, config.port).await?;
        let bound = listener.local_addr().expect("bind checked the bound address");
        let base_url = match &config.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        };
        if providers.dev_login {
            check_dev_login(&providers, &config.host, bound)?;
            tracing::warn!("development sign-in is enabled: anyone who reaches {base_url} can sign in as anyone");
        }
        let origin = Url::parse(&base_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        let state = AppState {
            upstreams: Arc::new(Upstreams::new(&providers)),
            token_limiter: Arc::new(RateLimiter::per_minute(config.token_rate_limit)),
            authorize_limiter: Arc::new(RateLimiter::per_minute(config.authorize_rate_limit)),
            pending_quota: Arc::new(PendingQuota::new(
                config.pending_sign_ins_per_address,
                config.pending_sign_ins,
                SIGN_IN_TTL,
            )),
            secure_cookies: base_url.starts_with("https://"),
            base_url: base_url.into(),
            origin: origin.into(),
            config: Arc::new(config),
            db,
        };
        Ok(Server { listener, state })
    }

    /// Binds, then serves on a task of its own until stopped (as `superset dev` and
    /// tests run it).
    pub async fn spawn(config: Config) -> Result<Running, StartError> {
        Ok(Running::start(Self::bind(config).await?))
    }
}

impl Bound for Server {
    fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound socket has an address")
    }

    /// Serves until `signal` resolves, then stops accepting and lets in-flight requests
    /// finish. Meanwhile a task sweeps expired sign-ins and codes; it stops with the
    /// server.
    async fn serve(self, signal: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let sweeper = tokio::spawn(sweep(self.state.db.clone(), self.state.config.sweep_interval));
        let limits = self.state.config.connection_limits();
        let served = superset_edge::serve::serve(self.listener, router(self.state), limits, signal).await;
        sweeper.abort();
        served
    }
}

/// The dev sign-in lets anyone sign in as anyone: only where nobody else can reach the
/// server (it listens on loopback) and no real provider's users could be taken over
/// through linking by e-mail.
fn check_dev_login(providers: &Providers, host: &str, bound: SocketAddr) -> Result<(), ConfigError> {
    if let Some(setting) = providers.upstream_setting() {
        return Err(ConfigError::DevLoginExposed(format!("{setting} configures an upstream provider")));
    }
    if !bound.ip().is_loopback() {
        return Err(ConfigError::DevLoginExposed(format!("API_HOST={host} listens on {}", bound.ip())));
    }
    Ok(())
}

/// Deletes expired rows of `auth.verifications` every `interval`, so that requests
/// never pay for it; a failure is logged and tried again next time.
async fn sweep(db: AuthDb, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match db.delete_expired_verifications().await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "expired sign-ins and codes swept"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired sign-ins failed"),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(metadata::document))
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(token::revoke))
        .route("/api/me", get(me::me))
        .route("/api/sessions", get(sessions::list))
        .route("/api/sessions/revoke-others", post(sessions::revoke_others))
        .route("/api/sessions/{id}", delete(sessions::revoke))
        .route("/signin/dev", post(signin::dev).get(signin::use_the_page))
        .route("/signin/{provider}", post(signin::start).get(signin::use_the_page))
        .route("/signin/{provider}/callback", get(signin::callback))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Spans name the path only: query strings carry codes and states.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}
