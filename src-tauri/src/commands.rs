//! The commands the UI may invoke: exactly the list of `command_list.rs`, which the
//! main window's capability allows. Each is a thin call into superset-client; the
//! argument and result types are the contract's (`contract.rs`).

use superset_client::assistant::settings::ApiKeys;
use superset_client::assistant::{generate, GenerationOptions, Provider, Settings};
use superset_client::chats::ChatInfo;
use superset_client::devices::Device;
use superset_client::replica::{Outgoing, Replicas};
use superset_client::{ClientError, Login, LoginError, ReturnPath};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};
use tauri_plugin_opener::OpenerExt;
use tokio_util::sync::CancellationToken;

use crate::contract::{
    ChatFeed, Config, NetworkChanged, RevokedDevice, Screen, Sent, SignInUrl, SignedIn, User, SIGN_IN_URL,
};
use crate::error::{CommandError, CommandResult};
use crate::offline;
use crate::state::AppState;

#[tauri::command]
pub async fn get_config(state: State<'_, AppState>) -> CommandResult<Config> {
    let token = state.manager.token().await;
    Ok(Config {
        proxy_url: state.manager.urls().streams.as_str().to_owned(),
        auth_token: token.as_ref().map(|t| t.secret().to_owned()),
    })
}

/// Who is signed in. When the servers cannot be reached but a token is stored, the
/// user last seen with it: the app opens signed in, on the local copy of the chats.
#[tauri::command]
pub async fn current_user(app: AppHandle, state: State<'_, AppState>) -> CommandResult<Option<User>> {
    let user = match state.manager.me().await {
        Ok(me) => {
            offline::set_offline(&app, false);
            me.user
        }
        Err(ClientError::SignedOut) => return Ok(None),
        Err(e) if offline::is_offline(&e) => {
            // Only a stored token gets this far (without one, `me` says SignedOut).
            let Some(cached) = Replicas::cached_user(&state.home) else { return Err(e.into()) };
            tracing::info!(error = %e, "the servers cannot be reached; opening on the local copy");
            offline::set_offline(&app, true);
            cached
        }
        Err(e) => return Err(e.into()),
    };
    offline::open_for(&app, &user);
    Ok(Some(User { id: user.id, name: user.name, email: user.email, image: user.image }))
}

#[tauri::command]
pub async fn sign_in(app: AppHandle, state: State<'_, AppState>) -> CommandResult<SignedIn> {
    let api = &state.manager.urls().api;
    let login = match Login::start_with(api, state.sign_in_return).await {
        Err(LoginError::Listen(e)) => {
            tracing::warn!(error = %e, "cannot listen on 127.0.0.1; the sign-in comes back by the superset:// link");
            Login::start_with(api, ReturnPath::AppLink).await?
        }
        login => login?,
    };
    *state.sign_in_link.lock().unwrap() = Some(login.link_receiver());
    let url = login.authorize_url().as_str().to_owned();
    SIGN_IN_URL.emit(&app, SignInUrl { url: url.clone() });
    if let Err(e) = app.opener().open_url(&url, None::<&str>) {
        tracing::info!(error = %e, "no browser opened; the window shows the sign-in link");
    }
    let cancel = CancellationToken::new();
    if let Some(previous) = state.sign_in.lock().unwrap().replace(cancel.clone()) {
        previous.cancel();
    }
    let token = login.finish(&cancel).await;
    state.sign_in.lock().unwrap().take();
    state.sign_in_link.lock().unwrap().take();
    let token = token?;
    let expires_at = token.expires_at;
    state.manager.signed_in(token).await?;
    Ok(SignedIn { signed_in: true, expires_at })
}

#[tauri::command]
pub fn cancel_sign_in(state: State<'_, AppState>) {
    if let Some(cancel) = state.sign_in.lock().unwrap().take() {
        cancel.cancel();
    }
}

#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>) -> CommandResult<()> {
    sign_out_here(&state).await
}

/// Stops following every chat and forgets the token; the session manager tells the UI
/// (`auth:changed`).
async fn sign_out_here(state: &AppState) -> CommandResult<()> {
    for (_, running) in state.subscriptions.lock().unwrap().drain() {
        running.cancel();
    }
    let signed_out = state.manager.sign_out().await;
    offline::forget(state);
    signed_out?;
    Ok(())
}

/// Where the account is signed in, most recently used first.
#[tauri::command]
pub async fn list_devices(state: State<'_, AppState>) -> CommandResult<Vec<Device>> {
    Ok(state.manager.list_devices().await?)
}

/// Signs out one device. When it is this one, the shell signs out here too, as
/// `sign_out` does, rather than waiting for the next call to find the token refused.
#[tauri::command]
pub async fn revoke_device(state: State<'_, AppState>, device_id: String) -> CommandResult<RevokedDevice> {
    let this_device = state.manager.list_devices().await?.iter().any(|d| d.current && d.id == device_id);
    let revoked = state.manager.revoke_device(&device_id).await?;
    if this_device {
        sign_out_here(&state).await?;
    }
    Ok(RevokedDevice { revoked, signed_out: this_device })
}

/// Signs out every other device of the account; answers how many.
#[tauri::command]
pub async fn revoke_other_devices(state: State<'_, AppState>) -> CommandResult<u32> {
    let revoked = state.manager.revoke_other_devices().await?;
    Ok(u32::try_from(revoked).unwrap_or(u32::MAX))
}

/// The chats; when the servers cannot be reached, the list last seen.
#[tauri::command]
pub async fn list_sessions(app: AppHandle, state: State<'_, AppState>) -> CommandResult<Vec<ChatInfo>> {
    let listed = state.manager.list_chats().await;
    let replicas = match &listed {
        Err(e) if offline::is_offline(e) => offline::replicas_or_cached(&app),
        _ => offline::replicas(&state),
    };
    match listed {
        Ok(chats) => {
            offline::set_offline(&app, false);
            if let Some(Err(e)) = replicas.map(|r| r.save_chats(&chats)) {
                tracing::warn!(error = %e, "cannot keep the chat list for offline use");
            }
            Ok(chats)
        }
        Err(e) if offline::is_offline(&e) && replicas.is_some() => {
            offline::set_offline(&app, true);
            Ok(replicas.map(|r| r.chats()).unwrap_or_default())
        }
        Err(e) => Err(e.into()),
    }
}

#[tauri::command]
pub async fn start_session(state: State<'_, AppState>, title: Option<String>) -> CommandResult<ChatInfo> {
    let id = uuid::Uuid::new_v4().to_string();
    state.manager.create_chat(&id).await?;
    match title.filter(|t| !t.trim().is_empty()) {
        Some(title) => Ok(state.manager.rename_chat(&id, title.trim()).await?),
        None => Ok(state.manager.chat(&id).await?),
    }
}

#[tauri::command]
pub async fn rename_session(state: State<'_, AppState>, session_id: String, title: String) -> CommandResult<ChatInfo> {
    Ok(state.manager.rename_chat(&session_id, &title).await?)
}

#[tauri::command]
pub async fn delete_session(state: State<'_, AppState>, session_id: String) -> CommandResult<()> {
    if let Some(running) = state.subscriptions.lock().unwrap().remove(&session_id) {
        running.cancel();
    }
    state.manager.delete_chat(&session_id).await?;
    if let Some(Err(e)) = offline::replicas(&state).map(|r| r.remove(&session_id)) {
        tracing::warn!(error = %e, "cannot delete the local copy of a deleted chat");
    }
    Ok(())
}

/// Sends the user's message, then generates the assistant's reply here, in the
/// background; the UI sees both through its subscription. The message goes through
/// the outbox: when the servers cannot be reached it waits there (the UI shows it
/// pending, from `outbox:changed`) and is sent, and answered, once they can.
#[tauri::command]
pub async fn send_message(
    app: AppHandle,
    state: State<'_, AppState>,
    session_id: String,
    content: String,
) -> CommandResult<Sent> {
    if content.trim().is_empty() {
        return Err(CommandError::invalid("the message is empty"));
    }
    // Checked first, so a missing key is said now rather than after the message went.
    load_provider(&state).await?;
    let message_id = match offline::replicas(&state) {
        Some(replicas) => offline::send(&app, &replicas, &session_id, &content).await?,
        None => {
            let message_id = state.manager.send_message(&session_id, &content).await?;
            start_reply(&app, &session_id);
            message_id
        }
    };
    Ok(Sent { message_id })
}

/// The assistant the settings name. Reading a key may ask the OS keyring over D-Bus:
/// off the async threads.
async fn load_provider(state: &AppState) -> CommandResult<Box<dyn Provider>> {
    let home = state.home.clone();
    tokio::task::spawn_blocking(move || Settings::load(&home).provider(&ApiKeys::new(&home)))
        .await
        .map_err(|e| CommandError::invalid(e.to_string()))?
        .map_err(|e| CommandError::invalid(e.to_string()))
}

/// Generates the reply to the chat's latest message, in the background.
pub fn start_reply(app: &AppHandle, session_id: &str) {
    let state = app.state::<AppState>();
    let cancel = CancellationToken::new();
    if let Some(previous) = state.generations.lock().unwrap().insert(session_id.to_owned(), cancel.clone()) {
        previous.cancel();
    }
    let (app, session_id) = (app.clone(), session_id.to_owned());
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let provider = match load_provider(&state).await {
            Ok(provider) => provider,
            Err(e) => return tracing::warn!(error = %e.message, "no assistant to reply with"),
        };
        // A finished reply's token stays in the map until the next one replaces it:
        // cancelling it then is a no-op.
        if let Err(e) = generate(&state.manager, &session_id, &*provider, GenerationOptions::default(), cancel).await {
            tracing::warn!(error = %e, "the assistant's reply could not be written");
        }
    });
}

/// Stops the reply: on the server (so every device, and the generating one wherever
/// it is, sees the stop) and here at once.
#[tauri::command]
pub async fn stop(state: State<'_, AppState>, session_id: String, message_id: Option<String>) -> CommandResult<()> {
    let result = state.manager.stop_generation(&session_id, message_id.as_deref()).await;
    if let Some(running) = state.generations.lock().unwrap().remove(&session_id) {
        running.cancel();
    }
    Ok(result?)
}

/// Follows the chat, from its local copy (or the start) and then live, and sends the UI what each batch of
/// its events changed in the conversation.
/// Async so it runs on the async runtime, which the subscription's task needs.
#[tauri::command]
pub async fn subscribe_session(
    state: State<'_, AppState>,
    session_id: String,
    on_event: Channel<ChatFeed>,
) -> CommandResult<()> {
    let stop = CancellationToken::new();
    if let Some(previous) = state.subscriptions.lock().unwrap().insert(session_id.clone(), stop.clone()) {
        previous.cancel();
    }
    // The local copy first, before any request; then live from where it ends.
    let (mut feed, shown, mut subscription) = offline::follow(&state, &session_id);
    if let Some(shown) = shown {
        let _ = on_event.send(shown);
    }
    tauri::async_runtime::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = subscription.next() => event,
            };
            let Some((item, last)) = feed.next(event) else { return };
            if on_event.send(item).is_err() || last {
                return;
            }
        }
    });
    Ok(())
}

#[tauri::command]
pub fn unsubscribe_session(state: State<'_, AppState>, session_id: String) {
    if let Some(running) = state.subscriptions.lock().unwrap().remove(&session_id) {
        running.cancel();
    }
}

/// The UI painted its first screen. The log line marks the end of start-up: for
/// first-paint timing, and for the test that watches a development build come up.
#[tauri::command]
pub fn ui_ready(screen: Screen) {
    tracing::info!(?screen, "ui_ready: the UI painted its first screen");
}

// ---- replica ----

/// What waits in the outbox (every chat's), oldest first: the UI shows them pending.
#[tauri::command]
pub fn queued_messages(state: State<'_, AppState>) -> Vec<Outgoing> {
    offline::replicas(&state).map(|r| r.queued()).unwrap_or_default()
}

/// Whether the servers could be reached the last time they were asked.
#[tauri::command]
pub fn network_status(state: State<'_, AppState>) -> NetworkChanged {
    NetworkChanged { offline: state.offline.load(std::sync::atomic::Ordering::SeqCst) }
}
