use anyhow::Context;
use superset_auth_db::AuthDb;
use superset_edge::cli::{Cli, Task};
use superset_streams::store::PgStore;
use superset_streams::{Config, Server, StartError, StorageKind};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    superset_edge::logs::init("info");
    let Cli { task, config } = Cli::<Config>::parse_as("superset-streams", "The Superset streams server");
    match task {
        None => superset_edge::run(Server::bind(config).await?).await.context("serving"),
        Some(Task::Migrate) => migrate(config).await,
        Some(Task::Probe) => Ok(superset_edge::health(&config.host, config.port)?),
    }
}

/// Runs what `Server::bind` runs to prepare the database (the auth schema, and the
/// streams schema with STREAMS_STORAGE=postgres), and nothing else.
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
