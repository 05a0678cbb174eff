//! History that is there before the network is: the shell's side of
//! `superset_client::replica`. Once the signed-in account is known it opens its
//! replicas, keeps them current in the background, answers from them when the servers
//! cannot be reached, sends the outbox when they can, and tells the UI whether it is
//! offline (`network:changed`) and what waits in the outbox (`outbox:changed`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use superset_client::chats::chat_stream;
use superset_client::replica::sync::Following;
use superset_client::replica::{Flushed, Outgoing, Replicas, START};
use superset_client::session_manager::MeUser;
use superset_client::{ClientError, StreamEvent, Subscription};
use tauri::{AppHandle, Manager};

use crate::contract::{ChatFeed, NetworkChanged, NETWORK_CHANGED, OUTBOX_CHANGED};
use crate::feed::Feed;
use crate::state::AppState;

/// How often the keeper looks again while offline or with messages waiting.
const RETRY_EVERY: Duration = Duration::from_secs(5);

/// The errors that mean "the servers cannot be reached now", never "no".
pub fn is_offline(e: &ClientError) -> bool {
    matches!(e, ClientError::Unavailable { .. } | ClientError::Network { .. })
}

/// The open replicas, once the account is known.
pub fn replicas(state: &AppState) -> Option<Arc<Replicas>> {
    state.replicas.lock().unwrap().clone()
}

/// A chat followed live: through its replica when there is one.
pub enum Live {
    Replicated(Following),
    Plain(Subscription),
}

impl Live {
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ClientError>> {
        match self {
            Live::Replicated(following) => following.next().await,
            Live::Plain(subscription) => subscription.next().await,
        }
    }
}

/// Follows `chat_id`: the feed, what its replica shows at once (before any request),
/// and the live subscription from the replica's offset.
pub fn follow(state: &AppState, chat_id: &str) -> (Feed, Option<ChatFeed>, Live) {
    let plain = || Live::Plain(state.manager.subscribe(&chat_stream(chat_id), START));
    let Some(replicas) = replicas(state) else { return (Feed::default(), None, plain()) };
    match replicas.follow(&state.manager, chat_id) {
        Ok((Some(replica), following)) => {
            let (feed, shown) = Feed::from_replica(&replica.messages);
            (feed, Some(shown), Live::Replicated(following))
        }
        Ok((None, following)) => (Feed::default(), None, Live::Replicated(following)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the local copy of this chat");
            (Feed::default(), None, plain())
        }
    }
}

/// The open replicas or, when the servers could not say who is signed in (offline at
/// launch), those of the user last seen here.
pub fn replicas_or_cached(app: &AppHandle) -> Option<Arc<Replicas>> {
    let state = app.state::<AppState>();
    if let Some(open) = replicas(&state) {
        return Some(open);
    }
    open_for(app, &Replicas::cached_user(&state.home)?);
    replicas(&state)
}

/// Opens `user`'s replicas (remembering the user, for an offline launch) and, the
/// first time, starts the keeper. Failing to open them only costs the offline copy.
pub fn open_for(app: &AppHandle, user: &MeUser) {
    let state = app.state::<AppState>();
    let opened = match Replicas::open(&state.home, &user.id) {
        Ok(replicas) => Arc::new(replicas),
        Err(e) => {
            tracing::warn!(error = %e, "cannot keep a local copy of the chats");
            return;
        }
    };
    if let Err(e) = opened.save_user(user) {
        tracing::warn!(error = %e, "cannot remember the signed-in user for offline use");
    }
    let mut current = state.replicas.lock().unwrap();
    if current.is_none() {
        *current = Some(opened.clone());
        tauri::async_runtime::spawn(keep(app.clone(), opened));
    }
}

/// Signed out: the replicas go with the token, and the keeper stops.
pub fn forget(state: &AppState) {
    state.replicas.lock().unwrap().take();
    if let Err(e) = Replicas::clear_all(&state.home) {
        tracing::error!(error = %e, "cannot delete the local copy of the chats");
    }
}

/// Tells the UI when the servers became (un)reachable; back online, every chat is
/// brought up to date.
pub fn set_offline(app: &AppHandle, offline: bool) {
    let state = app.state::<AppState>();
    if state.offline.swap(offline, Ordering::SeqCst) == offline {
        return;
    }
    tracing::info!(offline, "the servers' reachability changed");
    NETWORK_CHANGED.emit(app, NetworkChanged { offline });
    if !offline {
        tauri::async_runtime::spawn(sync(app.clone()));
    }
}

/// Tells the UI what waits in the outbox.
pub fn announce_outbox(app: &AppHandle, replicas: &Replicas) {
    OUTBOX_CHANGED.emit(app, replicas.queued());
}

/// Sends what waits in the outbox, in order, and starts each sent message's reply.
pub async fn flush(app: &AppHandle, replicas: &Replicas) -> Result<Vec<Flushed>, ClientError> {
    let manager = app.state::<AppState>().manager.clone();
    let mut outcomes = Vec::new();
    let flushed = replicas
        .flush(&manager, |outcome| {
            if let Flushed::Sent(message) = &outcome {
                crate::commands::start_reply(app, &message.chat_id, &message.message_id, message.model.clone());
            }
            announce_outbox(app, replicas);
            outcomes.push(outcome);
        })
        .await;
    match &flushed {
        Err(e) if is_offline(e) => set_offline(app, true),
        Err(_) => {}
        Ok(()) => set_offline(app, false),
    }
    flushed.map(|()| outcomes)
}

/// Queues `message` and sends the outbox now; the message stays queued (and shown
/// pending) while the servers cannot be reached.
pub async fn send(app: &AppHandle, replicas: &Replicas, message: Outgoing) -> Result<String, ClientError> {
    if let Err(e) = replicas.queue(&message) {
        tracing::warn!(error = %e, "cannot queue the message; sending it directly");
        let manager = &app.state::<AppState>().manager;
        let (chat, id, parent) = (&message.chat_id, &message.message_id, message.parent_id.as_deref());
        let sent = manager.send_message_with_id(chat, id, &message.content, parent).await?;
        crate::commands::start_reply(app, chat, &sent, message.model);
        return Ok(sent);
    }
    // Not announced before this first try: online, the message never shows pending.
    match flush(app, replicas).await {
        Ok(outcomes) => {
            let refused = outcomes.into_iter().find_map(|outcome| match outcome {
                Flushed::Refused(m, e) if m.message_id == message.message_id => Some(e),
                _ => None,
            });
            refused.map_or(Ok(message.message_id), Err)
        }
        Err(e) if is_offline(&e) => {
            announce_outbox(app, replicas);
            Ok(message.message_id)
        }
        Err(e) => {
            announce_outbox(app, replicas);
            Err(e)
        }
    }
}

/// Brings the chat list and every chat's replica up to date (chats followed live keep
/// their own).
async fn sync(app: AppHandle) {
    let state = app.state::<AppState>();
    let Some(replicas) = replicas(&state) else { return };
    if state.syncing.swap(true, Ordering::SeqCst) {
        return;
    }
    let chats = match state.manager.list_chats().await {
        Ok(chats) => chats,
        Err(e) => {
            state.syncing.store(false, Ordering::SeqCst);
            if is_offline(&e) {
                set_offline(&app, true);
            }
            return;
        }
    };
    if let Err(e) = replicas.save_chats(&chats) {
        tracing::warn!(error = %e, "cannot keep the chat list for offline use");
    }
    let followed: Vec<String> = state.subscriptions.lock().unwrap().keys().cloned().collect();
    let ids = chats.into_iter().map(|c| c.chat_id).filter(|id| !followed.contains(id)).collect();
    for (chat, outcome) in replicas.catch_up_all(&state.manager, ids).await {
        if let Err(e) = outcome {
            tracing::info!(%chat, error = %e, "cannot bring the local copy of a chat up to date");
        }
    }
    state.syncing.store(false, Ordering::SeqCst);
}

/// While signed in: a first sync, then, every few seconds while offline or while
/// messages wait, another try.
/// Ends when `mine` is no longer the open replicas (signed out).
async fn keep(app: AppHandle, mine: Arc<Replicas>) {
    sync(app.clone()).await;
    loop {
        tokio::time::sleep(RETRY_EVERY).await;
        let state = app.state::<AppState>();
        let Some(replicas) = replicas(&state).filter(|r| Arc::ptr_eq(r, &mine)) else { return };
        if state.offline.load(Ordering::SeqCst) && !state.manager.back_online().await {
            continue;
        }
        if !replicas.queued().is_empty() {
            let _ = flush(&app, &replicas).await;
        } else if state.offline.load(Ordering::SeqCst) {
            match state.manager.list_chats().await {
                Ok(chats) => {
                    let _ = replicas.save_chats(&chats);
                    set_offline(&app, false);
                }
                Err(e) if is_offline(&e) => {}
                Err(e) => tracing::info!(error = %e, "cannot list the chats"),
            }
        }
    }
}
