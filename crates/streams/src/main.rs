use anyhow::Context;
use clap::{Parser, Subcommand};
use superset_auth_db::AuthDb;
use superset_streams::store::PgStore;
use superset_streams::{Config, Server, StartError, StorageKind};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The command line: the server's settings, and what to do with them (serve, unless
/// a task is named).
#[derive(Parser)]
#[command(name = "superset-streams", version, about = "The Superset streams server")]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Task {
    /// Migrate the database (the auth schema, and the streams schema with
    /// STREAMS_STORAGE=postgres), then exit. Serving migrates too; this is for a
    /// deploy step that runs before any instance starts.
    Migrate,
    /// Ask the server running with these settings for GET /health (on loopback when it
    /// listens on every interface); exit 0 if it answers 200, 1 otherwise. The image's
    /// HEALTHCHECK, which has no curl.
    Probe,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let Cli { task, config } = Cli::parse();
    match task {
        None => serve(config).await,
        Some(Task::Migrate) => migrate(config).await,
        Some(Task::Probe) => Ok(superset_probe::health(&config.host, config.port)?),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::bind(config).await?;
    println!("listening on http://{}", server.local_addr());
    server.serve(shutdown_signal()).await.context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

/// Runs what `Server::bind` runs to prepare the database, and nothing else.
async fn migrate(config: Config) -> anyhow::Result<()> {
    let url = config.database_url.ok_or(StartError::MissingDatabaseUrl)?;
    let db = AuthDb::connect(&url).await.with_context(|| format!("migrating the auth schema at {url}"))?;
    if config.storage == StorageKind::Postgres {
        let pool = db.pg_pool().ok_or(StartError::PostgresStorageNeedsPostgres)?;
        let listener_stop = CancellationToken::new();
        PgStore::open(pool.clone(), listener_stop.clone(), config.user_limits.quota())
            .await
            .context("migrating the streams schema")?;
        listener_stop.cancel();
    }
    println!("migrated {url}");
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM (orchestrators).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
