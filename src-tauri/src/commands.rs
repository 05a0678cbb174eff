//! The commands the UI may invoke: exactly the list of `command_list.rs`, which the
//! main window's capability allows. Each is a thin call into superset-client; the
//! argument and result types are the contract's (`contract.rs`).

use superset_chat::Role;
use superset_client::assistant::generation::conversation;
use superset_client::assistant::models::{list_models as provider_models, ConnectionError};
use superset_client::assistant::settings::{ApiKey, ApiKeys, KeyPlace, SettingsError};
use superset_client::assistant::{generate, GenerationOptions, Provider, ProviderKind, Settings};
use superset_client::chats::ChatInfo;
use superset_client::devices::Device;
use superset_client::replica::{Outgoing, Replicas};
use superset_client::search::SearchHit;
use superset_client::transfer::{self, Format, TransferError};
use superset_client::{ClientError, Login, LoginError, ReturnPath};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};
use tauri_plugin_dialog::{DialogExt, FilePath};
use tauri_plugin_opener::OpenerExt;
use tokio_util::sync::CancellationToken;

use crate::contract::{
    AssistantSettings, ChatFeed, Config, ConnectionTest, KeyStore, NetworkChanged, ProviderInfo, RevokedDevice, Screen,
    Sent, SignInUrl, SignedIn, StoredKey, UpdateSchedule, UpdateStatus, User, SIGN_IN_URL,
};
use crate::error::{CommandError, CommandResult, ErrorKind};
use crate::offline;
use crate::state::AppState;
use crate::update::{self, Updates};

#[tauri::command]
pub async fn get_config(state: State<'_, AppState>) -> CommandResult<Config> {
    Ok(Config {
        proxy_url: state.manager.urls().streams.as_str().to_owned(),
        signed_in: state.manager.token().await.is_some(),
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
    state.search.clear();
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
            state.search.refresh(state.manager.clone(), chats.clone());
            if let Some(Err(e)) = replicas.map(|r| r.save_chats(&chats)) {
                tracing::warn!(error = %e, "cannot keep the chat list for offline use");
            }
            Ok(chats)
        }
        Err(e) if offline::is_offline(&e) && replicas.is_some() => {
            offline::set_offline(&app, true);
            let replicas = replicas.expect("checked");
            // Offline, what is searched is what the replicas hold.
            for (chat_id, _, conversation) in replicas.conversations() {
                state.search.put(&chat_id, &conversation);
            }
            Ok(replicas.chats())
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
    state.search.remove(&session_id);
    Ok(())
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
/// its events changed in the conversation; its history in one batch (see `feed`).
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
    let search = state.search.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = subscription.next() => event,
            };
            let Some(step) = feed.next(event) else { return };
            if step.send.iter().any(|item| matches!(item, ChatFeed::Updates { updates } if !updates.is_empty())) {
                search.put(&session_id, feed.conversation());
            }
            for item in step.send {
                if on_event.send(item).is_err() {
                    return;
                }
            }
            if step.last {
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

// ---- branches ----
//
// Regenerating and editing add versions of a turn to the same chat (messages naming
// their parent), never a fork: a fork per version would fill the list of chats.

/// Sends the user's message after `parent_id` (the last message of the thread on
/// screen), then generates the reply here, in the background; the UI sees both
/// through its subscription. `model` is the composer's pick for this reply. The
/// message goes through the outbox: when the servers cannot be reached it waits there
/// (the UI shows it pending, from `outbox:changed`) and is sent, and answered, once
/// they can.
#[tauri::command]
pub async fn send_message(
    app: AppHandle,
    state: State<'_, AppState>,
    session_id: String,
    content: String,
    parent_id: Option<String>,
    model: Option<String>,
) -> CommandResult<Sent> {
    if content.trim().is_empty() {
        return Err(CommandError::invalid("The message is empty: type something to send."));
    }
    // Checked first, so a missing key is said now rather than after the message went.
    reply_provider(&state, model.clone()).await?;
    let message = Outgoing::new(&session_id, &content, parent_id.as_deref(), model);
    let message_id = match offline::replicas(&state) {
        Some(replicas) => offline::send(&app, &replicas, message).await?,
        None => {
            let sent =
                state.manager.send_message_with_id(&session_id, &message.message_id, &content, parent_id.as_deref());
            start_reply(&app, &session_id, &sent.await?, message.model);
            message.message_id
        }
    };
    Ok(Sent { message_id })
}

/// Generates another version of the reply `message_id` (a failed one included: this
/// is also "Retry"), answering the same user message; the earlier versions stay. Given
/// a user message, replies to it. Answers the id of the user message replied to.
#[tauri::command]
pub async fn regenerate(
    state: State<'_, AppState>,
    session_id: String,
    message_id: String,
    model: Option<String>,
) -> CommandResult<Sent> {
    let provider = reply_provider(&state, model).await?;
    let (chat, _) = conversation(&state.manager, &session_id).await?;
    let message = chat.message(&message_id).ok_or_else(|| ClientError::NoSuchMessage(message_id.clone()))?;
    let question = match message.role {
        Role::User => message.id.clone(),
        _ => message.parent_id.clone().ok_or_else(|| {
            CommandError::invalid("This reply answers no message of yours, so it cannot be generated again.")
        })?,
    };
    reply_in_background(&state, session_id, question.clone(), provider);
    Ok(Sent { message_id: question })
}

/// Sends `content` as a new version of the user message `message_id` (same parent),
/// then generates its reply; the earlier version and its replies stay reachable.
#[tauri::command]
pub async fn edit_message(
    state: State<'_, AppState>,
    session_id: String,
    message_id: String,
    content: String,
    model: Option<String>,
) -> CommandResult<Sent> {
    if content.trim().is_empty() {
        return Err(CommandError::invalid("The message is empty: type something to send."));
    }
    let provider = reply_provider(&state, model).await?;
    let (chat, _) = conversation(&state.manager, &session_id).await?;
    let edited = chat.message(&message_id).ok_or_else(|| ClientError::NoSuchMessage(message_id.clone()))?;
    if edited.role != Role::User {
        return Err(CommandError::invalid("Only your own messages can be edited; regenerate a reply instead."));
    }
    let sent = state.manager.send_message(&session_id, &content, edited.parent_id.as_deref()).await?;
    reply_in_background(&state, session_id, sent.clone(), provider);
    Ok(Sent { message_id: sent })
}

/// Generates the reply to `question` with `model` (None: the settings'), in the
/// background.
pub fn start_reply(app: &AppHandle, session_id: &str, question: &str, model: Option<String>) {
    let (app, session_id, question) = (app.clone(), session_id.to_owned(), question.to_owned());
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        match reply_provider(&state, model).await {
            Ok(provider) => reply_in_background(&state, session_id, question, provider),
            Err(e) => tracing::warn!(error = %e.message, "no assistant to reply with"),
        }
    });
}

/// Generates the reply to `question` in the background; one reply per chat at a time
/// (a new one cancels the one running).
fn reply_in_background(state: &AppState, session_id: String, question: String, provider: Box<dyn Provider>) {
    let cancel = CancellationToken::new();
    if let Some(previous) = state.generations.lock().unwrap().insert(session_id.clone(), cancel.clone()) {
        previous.cancel();
    }
    let manager = state.manager.clone();
    tauri::async_runtime::spawn(async move {
        // A finished reply's token stays in the map until the next one replaces it:
        // cancelling it then is a no-op.
        let options = GenerationOptions::default();
        if let Err(e) = generate(&manager, &session_id, &question, &*provider, options, cancel).await {
            tracing::warn!(error = %e, "the assistant's reply could not be written");
            return;
        }
        // The UI sees the new title through the subscription.
        if let Err(e) = manager.name_untitled_chat(&session_id).await {
            tracing::warn!(error = %e, "the chat could not be given a title");
        }
    });
}

// ---- models ----

/// Runs `work` (which reads or writes a key: the OS keyring may answer over D-Bus) off
/// the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> CommandResult<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| CommandError::invalid(format!("the work was lost: {e}")))
}

/// The provider of the next reply: the settings', with the composer's `model` when
/// one was picked for it.
pub(crate) async fn reply_provider(state: &AppState, model: Option<String>) -> CommandResult<Box<dyn Provider>> {
    let home = state.home.clone();
    blocking(move || with_model(Settings::load(&home), model).provider(&ApiKeys::new(&home)).map_err(settings_error))
        .await?
}

/// `settings` with the composer's pick, if one was made, as the model.
fn with_model(settings: Settings, model: Option<String>) -> Settings {
    let model = model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    Settings { model: model.or(settings.model.clone()), ..settings }
}

/// A settings failure in the app's words (the client's name the CLI's commands).
fn settings_error(e: SettingsError) -> CommandError {
    match e {
        SettingsError::NoKey(kind) => CommandError::invalid(format!(
            "{} needs an API key before it can reply. Add one in Settings.",
            provider_name(kind)
        )),
        SettingsError::BadBaseUrl(url) => CommandError::invalid(format!(
            "The base URL {url:?} is not an http:// or https:// address. Fix it in Settings."
        )),
        e @ SettingsError::Io { .. } => CommandError::invalid(format!("Could not save the settings: {e}")),
    }
}

fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Echo => "The echo assistant",
        ProviderKind::Anthropic => "Anthropic",
        ProviderKind::Openai => "The OpenAI-compatible server",
    }
}

fn stored_key(key: &ApiKey, place: KeyPlace) -> StoredKey {
    let (store, file) = match place {
        KeyPlace::Keyring => (KeyStore::Keyring, None),
        KeyPlace::File(path) => (KeyStore::File, Some(path.display().to_string())),
    };
    StoredKey { store, file, ending: key.ending() }
}

fn read_settings(home: &std::path::Path) -> AssistantSettings {
    let settings = Settings::load(home);
    let keys = ApiKeys::new(home);
    let providers = ProviderKind::ALL
        .into_iter()
        .map(|kind| ProviderInfo {
            provider: kind,
            default_model: kind.default_model().to_owned(),
            default_base_url: kind.default_base_url().map(str::to_owned),
            needs_key: kind.needs_key(),
            key: match kind {
                ProviderKind::Echo => None,
                _ => keys.find(kind).map(|(key, place)| stored_key(&key, place)),
            },
        })
        .collect();
    AssistantSettings { provider: settings.provider, model: settings.model, base_url: settings.base_url, providers }
}

/// The assistant settings, shared with `superset config`.
#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> CommandResult<AssistantSettings> {
    let home = state.home.clone();
    blocking(move || read_settings(&home)).await
}

/// The longest model name the session stream records.
const MAX_MODEL: usize = 200;

/// Saves the provider, model and base URL (blank ones: the provider's defaults).
#[tauri::command]
pub async fn save_settings(
    state: State<'_, AppState>,
    provider: ProviderKind,
    model: Option<String>,
    base_url: Option<String>,
) -> CommandResult<AssistantSettings> {
    let blank_is_none = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let model = blank_is_none(model);
    let base_url = if provider == ProviderKind::Echo { None } else { blank_is_none(base_url) };
    if model.as_ref().is_some_and(|m| m.chars().count() > MAX_MODEL) {
        return Err(CommandError::invalid(format!("That model name is too long (at most {MAX_MODEL} characters).")));
    }
    if base_url.is_some() {
        provider.base_url(base_url.as_deref()).map_err(settings_error)?;
    }
    let home = state.home.clone();
    blocking(move || {
        Settings { provider, model, base_url }.save(&home).map_err(settings_error)?;
        Ok(read_settings(&home))
    })
    .await?
}

/// Keeps `key` for `provider` (the keyring, else a 0600 file) and answers only where it
/// went: the key never goes back to the webview.
#[tauri::command]
pub async fn set_api_key(state: State<'_, AppState>, provider: ProviderKind, key: String) -> CommandResult<StoredKey> {
    if provider == ProviderKind::Echo {
        return Err(CommandError::invalid("The echo assistant needs no key."));
    }
    let key = ApiKey::new(key);
    if key.is_empty() {
        return Err(CommandError::invalid("The key is empty. Paste the whole key, then save."));
    }
    let home = state.home.clone();
    blocking(move || {
        let place = ApiKeys::new(&home).set(provider, &key).map_err(settings_error)?;
        Ok(stored_key(&key, place))
    })
    .await?
}

#[tauri::command]
pub async fn delete_api_key(state: State<'_, AppState>, provider: ProviderKind) -> CommandResult<()> {
    let home = state.home.clone();
    blocking(move || ApiKeys::new(&home).delete(provider).map_err(settings_error)).await?
}

/// Lists the provider's models at `base_url` (its default when none), with its key.
async fn models_of(
    state: &AppState,
    provider: ProviderKind,
    base_url: Option<String>,
) -> CommandResult<Result<Vec<String>, ConnectionError>> {
    let home = state.home.clone();
    let key = blocking(move || ApiKeys::new(&home).get(provider)).await?;
    let base_url = base_url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    let listed = provider_models(provider, base_url.as_deref(), key.as_ref()).await;
    if let Err(e) = &listed {
        tracing::info!(error = %e, detail = e.detail().unwrap_or_default(), "listing the models failed");
    }
    Ok(listed)
}

#[tauri::command]
pub async fn list_models(
    state: State<'_, AppState>,
    provider: ProviderKind,
    base_url: Option<String>,
) -> CommandResult<Vec<String>> {
    models_of(&state, provider, base_url).await?.map_err(|e| {
        let kind = match e {
            ConnectionError::Unreachable { .. } => ErrorKind::Network,
            _ => ErrorKind::Invalid,
        };
        CommandError { kind, message: e.to_string(), detail: e.detail().map(str::to_owned) }
    })
}

/// Lists the models as a check: what works, or what is wrong, in words.
#[tauri::command]
pub async fn test_connection(
    state: State<'_, AppState>,
    provider: ProviderKind,
    base_url: Option<String>,
) -> CommandResult<ConnectionTest> {
    Ok(match models_of(&state, provider, base_url).await? {
        Ok(models) => {
            let message = match models.len() {
                0 => "Connected, but the server offers no models. Type the model's name.".to_owned(),
                1 => "Connected: 1 model available.".to_owned(),
                n => format!("Connected: {n} models available."),
            };
            ConnectionTest { ok: true, message, detail: None, models }
        }
        Err(e) => {
            ConnectionTest { ok: false, message: e.to_string(), detail: e.detail().map(str::to_owned), models: vec![] }
        }
    })
}

/// Sets the chat's system prompt (empty clears it), seen by every device.
#[tauri::command]
pub async fn set_system_prompt(state: State<'_, AppState>, session_id: String, prompt: String) -> CommandResult<()> {
    state.manager.set_system_prompt(&session_id, prompt.trim()).await?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_composers_pick_overrides_the_settings_model_for_one_reply() {
        let settings = Settings {
            provider: ProviderKind::Openai,
            model: Some("gemma3:1b".into()),
            base_url: Some("http://localhost:11434/v1".into()),
        };
        let picked = with_model(settings.clone(), Some(" llama3.2:3b ".into()));
        assert_eq!(picked, Settings { model: Some("llama3.2:3b".into()), ..settings.clone() });
        assert_eq!(with_model(settings.clone(), None), settings);
        assert_eq!(with_model(settings.clone(), Some("  ".into())), settings);
    }

    /// What `get_settings` sends the webview: the CLI's settings file, and where a key
    /// is, never the key.
    #[test]
    fn settings_say_where_a_key_is_and_never_what_it_is() {
        // No session bus: the key goes to the 0600 file, as on a headless machine.
        std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
        std::env::remove_var("DISPLAY");
        let home = tempfile::tempdir().unwrap();
        let saved = Settings {
            provider: ProviderKind::Openai,
            model: Some("llama3.2:3b".into()),
            base_url: Some("http://localhost:11434/v1".into()),
        };
        saved.save(home.path()).unwrap();
        ApiKeys::new(home.path()).set(ProviderKind::Openai, &ApiKey::new("sk-test-SECRET-abcd1234")).unwrap();

        let wire = serde_json::to_value(read_settings(home.path())).unwrap();
        assert!(!wire.to_string().contains("SECRET"), "{wire}");
        assert_eq!(
            (&wire["provider"], &wire["model"], &wire["baseUrl"]),
            (&"openai".into(), &"llama3.2:3b".into(), &"http://localhost:11434/v1".into())
        );
        let provider =
            |name: &str| wire["providers"].as_array().unwrap().iter().find(|p| p["provider"] == name).unwrap().clone();
        let openai = provider("openai");
        assert_eq!(openai["key"]["store"], "file");
        assert_eq!(openai["key"]["ending"], "1234");
        assert!(openai["key"]["file"].as_str().unwrap().ends_with("api-keys/openai"));
        assert_eq!((&openai["needsKey"], &openai["defaultModel"]), (&false.into(), &"gpt-4o-mini".into()));
        let anthropic = provider("anthropic");
        assert_eq!((&anthropic["key"], &anthropic["needsKey"]), (&serde_json::Value::Null, &true.into()));
        assert_eq!(provider("echo")["defaultBaseUrl"], serde_json::Value::Null);
        // The CLI reads the very same file.
        assert_eq!(Settings::load(home.path()), saved);
    }
}

#[tauri::command]
pub async fn update_status(updates: State<'_, Updates>) -> CommandResult<UpdateStatus> {
    Ok(updates.status())
}

#[tauri::command]
pub async fn check_for_update(app: AppHandle) -> CommandResult<UpdateStatus> {
    Ok(update::check(&app).await)
}

#[tauri::command]
pub async fn set_update_schedule(app: AppHandle, schedule: UpdateSchedule) -> CommandResult<UpdateStatus> {
    update::reschedule(&app, schedule)
}

/// Installs what the last check found and restarts into it; on failure the running
/// version stays.
#[tauri::command]
pub async fn install_update(app: AppHandle) -> CommandResult<()> {
    update::install(app).await
}
