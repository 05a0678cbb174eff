//! The router and the server's life cycle.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::VARY;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Extension, Json, Router};
use superset_auth_db::AuthDb;
use superset_edge::{Bound, Running};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{require_session, SessionAuth};
use crate::limits::{per_user_rate, Limiter};
use crate::store::{FileStore, PgStore, Store};
use crate::{AuthUser, Config, StorageKind};

/// What handlers share: one `Arc`, because axum clones the state several times per
/// request (a clone of eight handles, one of them a `CancellationToken` that takes a
/// lock, cost about 4% of an append's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    pub db: AuthDb,
    pub auth: Arc<SessionAuth>,
    /// Where streams are kept, per `config.storage`.
    pub store: Arc<dyn Store>,
    pub sessions: Arc<crate::sessions::Sessions>,
    /// Each user's request rate and live reads on this instance.
    pub limits: Arc<Limiter>,
    /// Cancelled when the server shuts down, so long-lived responses (SSE, long-poll)
    /// end and graceful shutdown can finish.
    pub shutdown: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("DATABASE_URL is not set: give postgres://USER@HOST/DB or sqlite:PATH (or --database-url)")]
    MissingDatabaseUrl,
    #[error("cannot use the database at {url}: {source}")]
    Database { url: String, source: superset_auth_db::Error },
    #[error(transparent)]
    Bind(#[from] superset_edge::BindError),
    #[error("STREAMS_STORAGE=postgres keeps streams in the DATABASE_URL database, which must then be postgres:// (it is sqlite:)")]
    PostgresStorageNeedsPostgres,
    #[error("cannot open the file store: {0}")]
    FileStore(#[from] crate::store::file::OpenError),
    #[error("cannot prepare the streams schema in PostgreSQL: {0}")]
    PgStore(#[source] sqlx::Error),
}

/// A bound, ready-to-serve streams server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Connects to the database (migrating it) and binds the listening socket.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        let url = config.database_url.clone().ok_or(StartError::MissingDatabaseUrl)?;
        let db = AuthDb::connect(&url).await.map_err(|source| StartError::Database { url: url.to_string(), source })?;
        let listener = superset_edge::bind(&config.host, config.port).await?;
        let shutdown = CancellationToken::new();
        let store = open_store(&config, &db, &shutdown).await?;
        let auth = Arc::new(SessionAuth::new(db.clone(), &config, shutdown.clone()));
        let sessions = Arc::new(crate::sessions::Sessions::new(
            store.clone(),
            config.max_message_bytes,
            config.user_limits.max_sessions,
        ));
        let limits = Arc::new(Limiter::new(config.user_limits));
        let state =
            AppState(Arc::new(Shared { config: Arc::new(config), db, auth, store, sessions, limits, shutdown }));
        Ok(Server { listener, state })
    }

    /// Binds, then serves on a task of its own until stopped (as `superset dev`, tests
    /// and benches run it).
    pub async fn spawn(config: Config) -> Result<Running, StartError> {
        Ok(Running::start(Self::bind(config).await?))
    }
}

impl Bound for Server {
    fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound socket has an address")
    }

    /// Serves until `signal` resolves, then stops accepting, ends live responses and
    /// waits for in-flight requests to finish.
    async fn serve(self, signal: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let shutdown = self.state.shutdown.clone();
        let limits = self.state.config.connection_limits();
        let app = router(self.state);
        superset_edge::serve::serve(self.listener, app, limits, async move {
            signal.await;
            shutdown.cancel();
        })
        .await
    }
}

/// All routes: probes open, every other path (unknown ones too) behind the session
/// check, CORS before the routes so preflights (sent without credentials) are answered
/// first.
///
/// Layers are few on purpose: axum boxes each layer around every route and clones the
/// whole chain of boxes for each request, so every layer costs allocations on every
/// request. CORS and tracing wrap the router once, as one service, and `/v1` has a
/// single guard.
pub fn router(state: AppState) -> Router {
    // `layer` (not `route_layer`) so unknown paths are refused too (the probes' router
    // takes this one's fallback): an anonymous caller learns nothing about which routes
    // exist.
    let v1 = Router::new()
        .route("/v1/me", get(me))
        .merge(crate::stream::routes(state.config.max_append_bytes))
        .merge(crate::sessions::routes(state.config.max_message_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), guard));
    // Merged, not nested under `/v1`: nesting adds a layer of its own (and a new URI
    // for each request).
    let routes = Router::new().merge(crate::health::routes()).merge(v1).with_state(state.clone());
    let outer = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::appending(VARY, HeaderValue::from_static(CORS_VARY)))
        .layer(TraceLayer::new_for_http())
        .layer(cors(&state.config.cors_origins))
        .service(routes);
    Router::new().fallback_service(outer)
}

/// What every path but the probes checks first: the session, then its user's request
/// rate. One layer for both (see `router`).
async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let user = match require_session(&state.auth, &mut request).await {
        Ok(user) => user,
        Err(rejection) => return rejection.into_response(),
    };
    if let Err(refusal) = per_user_rate(&state.limits, &user) {
        return refusal.into_response();
    }
    next.run(request).await
}

/// The store `config.storage` names.
async fn open_store(config: &Config, db: &AuthDb, shutdown: &CancellationToken) -> Result<Arc<dyn Store>, StartError> {
    Ok(match config.storage {
        StorageKind::File => {
            Arc::new(FileStore::open(&config.data_dir, config.user_limits.quota(), config.segment_bytes).await?)
        }
        StorageKind::Postgres => {
            let pool = db.pg_pool().ok_or(StartError::PostgresStorageNeedsPostgres)?;
            let quota = config.user_limits.quota();
            Arc::new(PgStore::open(pool.clone(), shutdown.clone(), quota).await.map_err(StartError::PgStore)?)
        }
    })
}

async fn me(Extension(user): Extension<AuthUser>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"userId": &*user.user_id}))
}

/// What CORS answers depend on, on every response (tower-http's default list, set by
/// a layer of its own: the CORS layer would build this value again for each response).
const CORS_VARY: &str = "origin, access-control-request-method, access-control-request-headers";

/// Response headers of the Durable Streams protocol that browser clients must read.
const EXPOSED_HEADERS: &[&str] = &[
    "stream-next-offset",
    "stream-cursor",
    "stream-up-to-date",
    "stream-closed",
    "stream-ttl",
    "stream-expires-at",
    "producer-epoch",
    "producer-seq",
    "producer-expected-seq",
    "producer-received-seq",
    "stream-sse-data-encoding",
    "etag",
    "location",
    "retry-after",
    "www-authenticate",
];

fn cors(origins: &[String]) -> CorsLayer {
    let origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()))
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .vary([])
        .expose_headers(EXPOSED_HEADERS.iter().map(|h| HeaderName::from_static(h)).collect::<Vec<_>>())
}
