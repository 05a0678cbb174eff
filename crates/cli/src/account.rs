//! Signing in and out: `login`, `whoami`, `logout`.

use std::process::ExitCode;

use anyhow::Context;
use superset_client::login::open_in_browser;
use superset_client::{AuthEvent, ClientError, Login, RetryPolicy, SessionManager, TokenStore};
use tokio_util::sync::CancellationToken;

use crate::cli::{LoginArgs, ServerArgs};

pub fn manager(servers: &ServerArgs) -> anyhow::Result<SessionManager> {
    Ok(SessionManager::new(servers.urls(), TokenStore::from_env()?, RetryPolicy::default()))
}

pub async fn login(servers: &ServerArgs, args: LoginArgs) -> anyhow::Result<()> {
    let manager = manager(servers)?;
    let login = Login::start(&servers.api_url).await?;
    println!("Sign in at this URL:\n\n    {}\n", login.authorize_url());
    if !args.no_open && open_in_browser(login.authorize_url()) {
        println!("(opened in your browser)");
    }
    println!("Waiting for the browser (Ctrl-C cancels)...");
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        superset_edge::signal::shutdown().await;
        on_signal.cancel();
    });
    let token = login.finish(&cancel).await?;
    manager.signed_in(token).await.context("cannot keep the session token")?;
    match manager.me().await {
        Ok(me) => println!("Signed in as {}", me.user.email),
        Err(e) => println!("Signed in (cannot tell as whom yet: {e})"),
    }
    Ok(())
}

pub async fn whoami(servers: &ServerArgs) -> anyhow::Result<ExitCode> {
    let manager = manager(servers)?;
    let mut events = manager.auth_events();
    match manager.me().await {
        Ok(me) => {
            println!("{}", me.user.email);
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::SignedOut) => {
            println!("not signed in");
            Ok(ExitCode::from(1))
        }
        Err(ClientError::AuthRequired) => {
            // The refusal's event says whether the session ran out or was ended early.
            match events.try_recv() {
                Ok(AuthEvent::Required { expired: true }) => {
                    println!("not signed in (the session expired after 30 days without use)")
                }
                _ => println!("not signed in (the session ended: signed out from another device, or revoked)"),
            }
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(detail) = e.detail() {
                eprintln!("details: {detail}");
            }
            Ok(ExitCode::from(2))
        }
    }
}

pub async fn logout(servers: &ServerArgs) -> anyhow::Result<()> {
    let out = manager(servers)?.sign_out().await?;
    match (out.was_signed_in, out.revoked_on_server) {
        (false, _) => println!("Not signed in."),
        (true, true) => println!("Signed out."),
        (true, false) => println!(
            "Signed out on this machine. The auth server could not be reached to revoke the session; \
             it stays valid there until it expires."
        ),
    }
    Ok(())
}
