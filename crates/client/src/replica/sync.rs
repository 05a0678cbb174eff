//! Keeping replicas up to date: a chat followed live writes each batch it delivers
//! ([`Replicas::follow`]), and the others are caught up in the background
//! ([`Replicas::catch_up_all`]). Both start from the replica's offset, so nothing the
//! replica has is read again.

use std::sync::Arc;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use super::{Replica, ReplicaError, Replicas, START};
use crate::chats::chat_stream;
use crate::session_manager::{ClientError, SessionManager};
use crate::subscription::json_messages;
use crate::{StreamEvent, Subscription};

/// How many chats a background sync reads at once.
pub const CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("the chat's stream holds something that is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// A live subscription to a chat whose batches are written to its replica before
/// they are handed on.
pub struct Following {
    subscription: Subscription,
    replicas: Arc<Replicas>,
    chat_id: String,
}

impl Following {
    /// The subscription's next event (see [`Subscription::next`]). A batch that
    /// cannot be written is still handed on: the chat shows, and the replica is
    /// caught up later from its own offset.
    /// A chat found gone loses its replica.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ClientError>> {
        let event = self.subscription.next().await;
        let written = match &event {
            Some(Ok(StreamEvent::Data { data, offset })) => json_messages(data)
                .map_err(SyncError::from)
                .and_then(|messages| Ok(self.replicas.append(&self.chat_id, &messages, offset)?)),
            Some(Err(ClientError::Status { status: StatusCode::NOT_FOUND | StatusCode::GONE, .. })) => {
                self.replicas.remove(&self.chat_id).map_err(SyncError::from)
            }
            _ => Ok(()),
        };
        if let Err(e) = written {
            tracing::warn!(chat = %self.chat_id, error = %e, "cannot keep the local copy of this chat");
        }
        event
    }
}

impl Replicas {
    /// What the replica of `chat_id` holds, and a live subscription from its offset
    /// (from the start when there is none, or it was damaged) that keeps it.
    pub fn follow(
        self: &Arc<Self>,
        manager: &SessionManager,
        chat_id: &str,
    ) -> Result<(Option<Replica>, Following), ReplicaError> {
        let replica = self.load(chat_id)?;
        let offset = replica.as_ref().map_or(START, |r| r.offset.as_str());
        let subscription = manager.subscribe(&chat_stream(chat_id), offset);
        let following = Following { subscription, replicas: self.clone(), chat_id: chat_id.to_owned() };
        Ok((replica, following))
    }

    /// Reads what `chat_id`'s stream holds beyond the replica into it; returns how
    /// many messages were new. A chat that no longer exists loses its replica.
    pub async fn catch_up(&self, manager: &SessionManager, chat_id: &str) -> Result<usize, SyncError> {
        let mut offset = self.load(chat_id)?.map_or_else(|| START.to_owned(), |r| r.offset);
        let mut read = 0;
        loop {
            let batch = match manager.read(&chat_stream(chat_id), &offset).await {
                Err(ClientError::Status { status: StatusCode::NOT_FOUND | StatusCode::GONE, .. }) => {
                    self.remove(chat_id)?;
                    return Ok(read);
                }
                batch => batch?,
            };
            let messages = messages_of(&batch.data)?;
            if !messages.is_empty() || batch.next_offset != offset {
                self.append(chat_id, &messages, &batch.next_offset)?;
            }
            read += messages.len();
            offset = batch.next_offset;
            if batch.up_to_date || batch.closed || messages.is_empty() {
                return Ok(read);
            }
        }
    }

    /// Catches up every chat of `chat_ids`, [`CONCURRENCY`] at a time; each one's
    /// outcome, in no particular order.
    pub async fn catch_up_all(
        &self,
        manager: &SessionManager,
        chat_ids: Vec<String>,
    ) -> Vec<(String, Result<usize, SyncError>)> {
        futures::stream::iter(chat_ids)
            .map(|id| async move {
                let outcome = self.catch_up(manager, &id).await;
                (id, outcome)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await
    }
}

/// A JSON stream read's messages (an empty read has none).
fn messages_of(data: &[u8]) -> Result<Vec<Value>, serde_json::Error> {
    let text = std::str::from_utf8(data).unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    json_messages(text)
}
