//! The commands the UI may invoke: exactly the list of `command_list.rs`, which the
//! main window's capability allows. Each is a thin call into superset-client; the
//! argument and result types are the contract's (`contract.rs`).

use superset_client::assistant::settings::ApiKeys;
use superset_client::assistant::{generate, GenerationOptions, Settings};
use superset_client::chats::{chat_stream, ChatInfo};
use superset_client::devices::Device;
use superset_client::search::SearchHit;
use superset_client::transfer::{self, Format, TransferError};
use superset_client::{ClientError, Login, LoginError, ReturnPath};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_dialog::{DialogExt, FilePath};
use tauri_plugin_opener::OpenerExt;
use tokio_util::sync::CancellationToken;

use crate::contract::{ChatFeed, Config, RevokedDevice, Screen, Sent, SignInUrl, SignedIn, User, SIGN_IN_URL};
use crate::error::{CommandError, CommandResult};
use crate::feed::Feed;
use crate::state::AppState;

#[tauri::command]
pub async fn get_config(state: State<'_, AppState>) -> CommandResult<Config> {
    let token = state.manager.token().await;
    Ok(Config {
        proxy_url: state.manager.urls().streams.as_str().to_owned(),
        auth_token: token.as_ref().map(|t| t.secret().to_owned()),
    })
}

#[tauri::command]
pub async fn current_user(state: State<'_, AppState>) -> CommandResult<Option<User>> {
    match state.manager.me().await {
        Ok(me) => Ok(Some(User { id: me.user.id, name: me.user.name, email: me.user.email, image: me.user.image })),
        Err(ClientError::SignedOut) => Ok(None),
        Err(e) => Err(e.into()),
    }
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
    state.manager.sign_out().await?;
    state.search.clear();
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

#[tauri::command]
pub async fn list_sessions(state: State<'_, AppState>) -> CommandResult<Vec<ChatInfo>> {
    let chats = state.manager.list_chats().await?;
    state.search.refresh(state.manager.clone(), chats.clone());
    Ok(chats)
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
    state.search.remove(&session_id);
    Ok(())
}

/// Sends the user's message, then generates the assistant's reply here, in the
/// background; the UI sees both through its subscription.
#[tauri::command]
pub async fn send_message(state: State<'_, AppState>, session_id: String, content: String) -> CommandResult<Sent> {
    if content.trim().is_empty() {
        return Err(CommandError::invalid("the message is empty"));
    }
    let home = state.home.clone();
    // Reading a key may ask the OS keyring over D-Bus: off the async threads.
    let provider = tokio::task::spawn_blocking(move || Settings::load(&home).provider(&ApiKeys::new(&home)))
        .await
        .map_err(|e| CommandError::invalid(e.to_string()))?
        .map_err(|e| CommandError::invalid(e.to_string()))?;
    let message_id = state.manager.send_message(&session_id, &content).await?;
    let cancel = CancellationToken::new();
    if let Some(previous) = state.generations.lock().unwrap().insert(session_id.clone(), cancel.clone()) {
        previous.cancel();
    }
    let manager = state.manager.clone();
    tauri::async_runtime::spawn(async move {
        // A finished reply's token stays in the map until the next one replaces it:
        // cancelling it then is a no-op.
        if let Err(e) = generate(&manager, &session_id, &*provider, GenerationOptions::default(), cancel).await {
            tracing::warn!(error = %e, "the assistant's reply could not be written");
            return;
        }
        // The UI sees the new title through the subscription.
        if let Err(e) = manager.name_untitled_chat(&session_id).await {
            tracing::warn!(error = %e, "the chat could not be given a title");
        }
    });
    Ok(Sent { message_id })
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

/// Follows the chat, from the start and then live, and sends the UI what each batch of
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
    let mut subscription = state.manager.subscribe(&chat_stream(&session_id), "-1");
    let search = state.search.clone();
    tauri::async_runtime::spawn(async move {
        let mut feed = Feed::default();
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = subscription.next() => event,
            };
            let Some((item, last)) = feed.next(event) else { return };
            if matches!(&item, ChatFeed::Updates { updates } if !updates.is_empty()) {
                search.put(&session_id, feed.conversation());
            }
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

// ---- search ----

/// Where `query` appears in the account's chats: titles first, at most `limit`.
/// Async so the scan runs off the window's thread.
#[tauri::command]
pub async fn search(state: State<'_, AppState>, query: String, limit: u32) -> CommandResult<Vec<SearchHit>> {
    Ok(state.search.query(&query, limit.min(200) as usize))
}

/// Saves the chat as Markdown or JSON where the person chooses in the system's save
/// dialog; answers the path, or `None` when the dialog was cancelled.
#[tauri::command]
pub async fn export_chat(
    app: AppHandle,
    state: State<'_, AppState>,
    session_id: String,
    format: String,
) -> CommandResult<Option<String>> {
    let format = Format::parse(&format)
        .ok_or_else(|| CommandError::invalid(format!("cannot export as {format:?}: choose markdown or json")))?;
    let title = state.manager.chat(&session_id).await?.title;
    let (name, extension) = match format {
        Format::Markdown => ("Markdown", "md"),
        Format::Json => ("Superset chat (JSON)", "json"),
    };
    let (answer, chosen) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Export conversation")
        .set_file_name(transfer::file_name(title.as_deref(), format))
        .add_filter(name, &[extension])
        .save_file(move |path| {
            let _ = answer.send(path);
        });
    let Some(path) = dialog_path(chosen.await.ok().flatten())? else { return Ok(None) };
    transfer::export_to_file(&state.manager, &session_id, format, &path).await.map_err(transfer_error)?;
    Ok(Some(path.display().to_string()))
}

/// Imports a JSON export chosen in the system's open dialog as a new chat; `None`
/// when the dialog was cancelled.
#[tauri::command]
pub async fn import_chat(app: AppHandle, state: State<'_, AppState>) -> CommandResult<Option<ChatInfo>> {
    let (answer, chosen) = tokio::sync::oneshot::channel();
    app.dialog().file().set_title("Import conversation").add_filter("Superset chat (JSON)", &["json"]).pick_file(
        move |path| {
            let _ = answer.send(path);
        },
    );
    let Some(path) = dialog_path(chosen.await.ok().flatten())? else { return Ok(None) };
    let chat = transfer::import_file(&state.manager, &path).await.map_err(transfer_error)?;
    Ok(Some(chat))
}

/// The dialog's answer as a file path (on mobile it may be a URL, which is refused).
fn dialog_path(chosen: Option<FilePath>) -> CommandResult<Option<std::path::PathBuf>> {
    chosen.map(|path| path.into_path().map_err(|_| CommandError::invalid("choose a file on this computer"))).transpose()
}

fn transfer_error(e: TransferError) -> CommandError {
    match e {
        TransferError::Client(e) => e.into(),
        other => CommandError::invalid(other.to_string()),
    }
}
