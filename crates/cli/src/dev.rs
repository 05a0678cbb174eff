//! `superset dev`: the auth server and the streams server in one process, on the
//! embedded default: SQLite at `$SUPERSET_HOME/dev/auth.db`, streams in a file store
//! at `$SUPERSET_HOME/dev/streams`, the development sign-in form on.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use superset_auth_db::DatabaseUrl;
use superset_client::home::superset_home;

use crate::cli::DevArgs;

const HOST: &str = "127.0.0.1";

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let dir = superset_home()?.join("dev");
    // Its auth database holds session tokens: the owner's alone, also when an earlier
    // version made it readable by all.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .and_then(|()| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let database_url = sqlite_url(&dir.join("auth.db"))?;

    // One after the other: the first runs the migrations, the second finds them done.
    let mut api = superset_api::Config::new(database_url.clone());
    api.host = HOST.to_owned();
    api.port = args.api_port;
    api.dev_login = true;
    let api = superset_api::Server::spawn(api).await.context("starting the auth server")?;

    let mut streams = superset_streams::Config::new(database_url);
    streams.host = HOST.to_owned();
    streams.port = args.streams_port;
    streams.storage = superset_streams::StorageKind::File;
    streams.data_dir = dir.join("streams");
    let streams = superset_streams::Server::spawn(streams).await.context("starting the streams server")?;

    let (api_addr, streams_addr) = (api.addr, streams.addr);
    // The servers outlive whoever reads these lines: a closed stdout must not stop them.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "api listening on http://{api_addr}");
    let _ = writeln!(out, "streams listening on http://{streams_addr}");
    if (args.api_port, args.streams_port) != (8788, 8787) {
        let _ = writeln!(
            out,
            "point the client at them: SUPERSET_API_URL=http://{api_addr} SUPERSET_STREAMS_URL=http://{streams_addr}"
        );
    }
    let _ = writeln!(out, "data in {}; sign in with `superset login`; Ctrl-C stops", dir.display());
    let _ = out.flush();
    drop(out);

    // Either server stopping (Ctrl-C, or a failure) stops the other.
    tokio::select! {
        () = superset_edge::signal::shutdown() => tracing::info!("stopping: finishing requests in flight"),
        () = api.stopping() => {}
        () = streams.stopping() => {}
    }
    let (api_done, streams_done) = tokio::join!(api.stop(), streams.stop());
    api_done.context("auth server")?;
    streams_done.context("streams server")?;
    tracing::info!("stopped");
    Ok(())
}

fn sqlite_url(path: &Path) -> anyhow::Result<DatabaseUrl> {
    let text = path.to_str().with_context(|| format!("{} is not valid UTF-8", path.display()))?;
    format!("sqlite:{text}").parse().with_context(|| format!("cannot use {text} as a database"))
}
