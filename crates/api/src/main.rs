use anyhow::Context;
use superset_api::{Config, ConfigError, Server};
use superset_auth_db::AuthDb;
use superset_edge::cli::{Cli, Task};

const ABOUT: &str =
    "The Superset auth server: OAuth 2.0 sign-in for the desktop app, issuing sessions in auth.sessions";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    superset_edge::logs::init("info");
    let Cli { task, config } = Cli::<Config>::parse_as("superset-api", ABOUT);
    match task {
        None => superset_edge::run(Server::bind(config).await?).await.context("serving"),
        Some(Task::Migrate) => migrate(config).await,
        Some(Task::Probe) => Ok(superset_edge::health(&config.host, config.port)?),
    }
}

/// Migrates the auth schema, which is all `Server::bind` prepares.
async fn migrate(config: Config) -> anyhow::Result<()> {
    let url = config.database_url.ok_or(ConfigError::MissingDatabaseUrl)?;
    AuthDb::connect(&url).await.with_context(|| format!("migrating the auth schema at {url}"))?;
    println!("migrated {url}");
    Ok(())
}
