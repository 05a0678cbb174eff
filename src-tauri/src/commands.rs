//! The commands the UI may invoke: exactly the list `build.rs` declares and the main
//! window's capability allows. Each is a thin call into superset-client.

use serde_json::{json, Value};
use superset_client::assistant::settings::ApiKeys;
use superset_client::assistant::{generate, GenerationOptions, Settings};
use superset_client::chat_sessions::{session_stream, SessionInfo};
use superset_client::subscription::json_messages;
use superset_client::{ClientError, Login, LoginError, ReturnPath, StreamEvent};
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, State};
use tauri_plugin_opener::OpenerExt;
use tokio_util::sync::CancellationToken;

use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// Tells the UI the sign-in URL, so it can offer it when no browser opened.
const SIGN_IN_URL: &str = "auth:sign-in-url";

#[tauri::command]
pub async fn get_config(state: State<'_, AppState>) -> CommandResult<Value> {
    let token = state.manager.token().await;
    Ok(json!({
        "proxyUrl": state.manager.urls().streams.as_str(),
        "authToken": token.as_ref().map(|t| t.secret()),
    }))
}

#[tauri::command]
pub async fn current_user(state: State<'_, AppState>) -> CommandResult<Value> {
    match state.manager.me().await {
        Ok(me) => Ok(json!({"id": me.user.id, "name": me.user.name, "email": me.user.email, "image": me.user.image})),
        Err(ClientError::SignedOut) => Ok(Value::Null),
        Err(e) => Err(e.into()),
    }
}

#[tauri::command]
pub async fn sign_in(app: AppHandle, state: State<'_, AppState>) -> CommandResult<Value> {
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
    let _ = app.emit(SIGN_IN_URL, json!({"url": url}));
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
    Ok(json!({"signedIn": true, "expiresAt": expires_at}))
}

#[tauri::command]
pub fn cancel_sign_in(state: State<'_, AppState>) {
    if let Some(cancel) = state.sign_in.lock().unwrap().take() {
        cancel.cancel();
    }
}

#[tauri::command]
pub async fn sign_out(state: State<'_, AppState>) -> CommandResult<()> {
    for (_, running) in state.subscriptions.lock().unwrap().drain() {
        running.cancel();
    }
    state.manager.sign_out().await?;
    Ok(())
}

#[tauri::command]
pub async fn list_sessions(state: State<'_, AppState>) -> CommandResult<Vec<SessionInfo>> {
    Ok(state.manager.list_sessions().await?)
}

#[tauri::command]
pub async fn start_session(state: State<'_, AppState>, title: Option<String>) -> CommandResult<SessionInfo> {
    let id = uuid::Uuid::new_v4().to_string();
    state.manager.create_session(&id).await?;
    match title.filter(|t| !t.trim().is_empty()) {
        Some(title) => Ok(state.manager.rename_session(&id, title.trim()).await?),
        None => Ok(state.manager.session(&id).await?),
    }
}

#[tauri::command]
pub async fn rename_session(
    state: State<'_, AppState>,
    session_id: String,
    title: String,
) -> CommandResult<SessionInfo> {
    Ok(state.manager.rename_session(&session_id, &title).await?)
}

#[tauri::command]
pub async fn delete_session(state: State<'_, AppState>, session_id: String) -> CommandResult<()> {
    if let Some(running) = state.subscriptions.lock().unwrap().remove(&session_id) {
        running.cancel();
    }
    Ok(state.manager.delete_session(&session_id).await?)
}

/// Sends the user's message, then generates the assistant's reply here, in the
/// background; the UI sees both through its subscription.
#[tauri::command]
pub async fn send_message(state: State<'_, AppState>, session_id: String, content: String) -> CommandResult<Value> {
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
        }
    });
    Ok(json!({"messageId": message_id}))
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

/// Forwards the session's events, from the start and then live, to the UI.
/// Async so it runs on the async runtime, which the subscription's task needs.
#[tauri::command]
pub async fn subscribe_session(
    state: State<'_, AppState>,
    session_id: String,
    on_event: Channel<Value>,
) -> CommandResult<()> {
    let stop = CancellationToken::new();
    if let Some(previous) = state.subscriptions.lock().unwrap().insert(session_id.clone(), stop.clone()) {
        previous.cancel();
    }
    let mut subscription = state.manager.subscribe(&session_stream(&session_id), "-1");
    tauri::async_runtime::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = subscription.next() => event,
            };
            let (feed, last) = match event {
                None => return,
                Some(Ok(StreamEvent::Data { data, .. })) => match json_messages(&data) {
                    Ok(events) => (json!({"kind": "events", "events": events}), false),
                    Err(e) => (json!({"kind": "error", "message": e.to_string(), "retrying": false}), true),
                },
                Some(Ok(StreamEvent::Reconnecting { reason, .. })) => {
                    (json!({"kind": "error", "message": reason, "retrying": true}), false)
                }
                // Caught up (also after a reconnect): an empty batch clears "reconnecting".
                Some(Ok(StreamEvent::UpToDate { .. })) => (json!({"kind": "events", "events": []}), false),
                Some(Ok(StreamEvent::Closed { .. })) => (json!({"kind": "closed"}), true),
                Some(Err(e)) => (json!({"kind": "error", "message": e.to_string(), "retrying": false}), true),
            };
            if on_event.send(feed).is_err() || last {
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

/// The first screens the UI can paint.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Screen {
    SignIn,
    Chat,
}

/// The UI painted its first screen. The log line marks the end of start-up: for
/// first-paint timing, and for the test that watches a development build come up.
#[tauri::command]
pub fn ui_ready(screen: Screen) {
    tracing::info!(?screen, "ui_ready: the UI painted its first screen");
}
