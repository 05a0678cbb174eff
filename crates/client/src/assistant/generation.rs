//! One assistant reply, written into a session as it is generated:
//! `generations/start` -> `text-delta` chunks -> `message-end` -> `generations/finish`.
//!
//! Deltas are batched: the first goes out at once (so people see text within a
//! moment), later ones at most every `flush_every` or when `max_batch` bytes wait, so a
//! fast model does not cost one request per token. A `stop` event for the reply, from
//! any device, or a local cancel ends the provider's request and the reply. A provider
//! failure becomes an `error` chunk, and the session stays usable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use superset_chat::{Chunk, Conversation, Event, MessageStatus, Role};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Provider, ProviderError, Turn};
use crate::chats::chat_stream;
use crate::session_manager::{ClientError, SessionManager};
use crate::subscription::{json_messages, StreamEvent};

#[derive(Clone, Copy, Debug)]
pub struct GenerationOptions {
    pub flush_every: Duration,
    pub max_batch: usize,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions { flush_every: Duration::from_millis(50), max_batch: 4096 }
    }
}

/// How a reply ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    /// Stopped from some device, or cancelled here.
    Stopped,
    /// The provider failed; the message was written into the session.
    Failed(ProviderError),
}

/// A reply being generated.
pub struct Generation {
    pub message_id: String,
    pub outcome: Outcome,
    /// The text written.
    pub text: String,
}

/// Replies to the user message `reply_to` of `chat_id`, with `provider`. The provider
/// sees the thread ending at `reply_to` (after the system prompt), whatever other
/// versions the chat holds; a reply to a message that already has one is a new version
/// of that reply (regenerate).
pub async fn generate(
    manager: &SessionManager,
    chat_id: &str,
    reply_to: &str,
    provider: &dyn Provider,
    options: GenerationOptions,
    cancel: CancellationToken,
) -> Result<Generation, ClientError> {
    let (conversation, offset) = conversation(manager, chat_id).await?;
    if conversation.message(reply_to).is_none() {
        return Err(ClientError::NoSuchMessage(reply_to.to_owned()));
    }
    let history = history(&conversation, reply_to);
    let message_id = uuid::Uuid::new_v4().to_string();
    let writer = Writer {
        manager,
        chat_id,
        message_id: &message_id,
        next_seq: AtomicU64::new(0),
        first: Mutex::new(Some(json!({"parentId": reply_to, "model": provider.model()}))),
    };
    writer.post("generations/start", json!({"messageId": message_id})).await?;

    // Watch the session for a stop of this reply, from any device.
    let stop = cancel.child_token();
    let watcher =
        tokio::spawn(watch_for_stop(manager.clone(), chat_id.to_owned(), offset, message_id.clone(), stop.clone()));
    let result = stream_reply(&writer, provider, &history, options, &stop).await;
    watcher.abort();
    let (outcome, text) = result?;

    if let Outcome::Failed(error) = &outcome {
        tracing::warn!(?error, "the provider failed; the reply says so");
        writer.chunk(Chunk::Error { message: error.to_string() }).await?;
    }
    writer.chunk(Chunk::MessageEnd).await?;
    writer.post("generations/finish", json!({"messageId": message_id})).await?;
    Ok(Generation { message_id, outcome, text })
}

/// Streams the provider's text into the session until it ends, fails or is stopped.
async fn stream_reply(
    writer: &Writer<'_>,
    provider: &dyn Provider,
    history: &[Turn],
    options: GenerationOptions,
    stop: &CancellationToken,
) -> Result<(Outcome, String), ClientError> {
    let mut deltas = tokio::select! {
        _ = stop.cancelled() => return Ok((Outcome::Stopped, String::new())),
        started = provider.reply(history) => match started {
            Ok(deltas) => deltas,
            Err(e) => return Ok((Outcome::Failed(e), String::new())),
        },
    };
    let (mut written, mut pending) = (String::new(), String::new());
    let mut last_flush: Option<Instant> = None;
    let outcome = loop {
        let deadline = last_flush.map_or_else(Instant::now, |t| t + options.flush_every);
        tokio::select! {
            biased;
            _ = stop.cancelled() => break Outcome::Stopped,
            _ = tokio::time::sleep_until(deadline), if !pending.is_empty() => {
                flush(writer, &mut pending, &mut written, &mut last_flush).await?;
            }
            next = deltas.next() => match next {
                Some(Ok(delta)) => {
                    pending.push_str(&delta);
                    if last_flush.is_none() || pending.len() >= options.max_batch {
                        flush(writer, &mut pending, &mut written, &mut last_flush).await?;
                    }
                }
                Some(Err(e)) => break Outcome::Failed(e),
                None => break Outcome::Complete,
            },
        }
    };
    // Dropping the stream abandons the provider's request at once.
    drop(deltas);
    if !pending.is_empty() {
        flush(writer, &mut pending, &mut written, &mut last_flush).await?;
    }
    Ok((outcome, written))
}

async fn flush(
    writer: &Writer<'_>,
    pending: &mut String,
    written: &mut String,
    last_flush: &mut Option<Instant>,
) -> Result<(), ClientError> {
    let delta = std::mem::take(pending);
    writer.chunk(Chunk::TextDelta { delta: delta.clone() }).await?;
    written.push_str(&delta);
    *last_flush = Some(Instant::now());
    Ok(())
}

struct Writer<'a> {
    manager: &'a SessionManager,
    chat_id: &'a str,
    message_id: &'a str,
    /// The seq the next chunk should get. The reply is a new message written only here,
    /// so this is known; sending it lets a chunk whose answer was lost be sent again
    /// without being stored twice.
    next_seq: AtomicU64,
    /// What the reply's first chunk carries besides: its parent and model. Taken by the
    /// first chunk this writer sends (usually seq 0; a stop may have taken that).
    first: Mutex<Option<Value>>,
}

impl Writer<'_> {
    /// `generations/start` and `generations/finish`, which the server answers the same
    /// when repeated (a finished message is not ended twice), so they are retried too.
    async fn post(&self, route: &str, body: Value) -> Result<(), ClientError> {
        let path = format!("v1/sessions/{}/{route}", self.chat_id);
        let _: Value = self.manager.post_repeatable(&path, body).await?;
        Ok(())
    }

    async fn chunk(&self, chunk: Chunk) -> Result<(), ClientError> {
        let seq = self.next_seq.load(Ordering::Relaxed);
        let path = format!("v1/sessions/{}/chunks", self.chat_id);
        let mut body = json!({"messageId": self.message_id, "role": "assistant", "seq": seq, "chunk": chunk});
        let first = self.first.lock().expect("not poisoned").clone();
        for (key, value) in first.iter().flat_map(|f| f.as_object()).flatten().filter(|(_, v)| !v.is_null()) {
            body[key] = value.clone();
        }
        let answer: Value = self.manager.post_repeatable(&path, body).await?;
        *self.first.lock().expect("not poisoned") = None;
        // Someone else (a stop) may have taken a seq meanwhile: follow the server.
        let written = answer["seq"].as_u64().ok_or(ClientError::BadAnswer(path))?;
        self.next_seq.store(written + 1, Ordering::Relaxed);
        Ok(())
    }
}

/// The session's conversation as it stands, and the offset after it.
pub async fn conversation(manager: &SessionManager, chat_id: &str) -> Result<(Conversation, String), ClientError> {
    let path = chat_stream(chat_id);
    let (mut conversation, mut offset) = (Conversation::default(), "-1".to_owned());
    loop {
        let read = manager.read(&path, &offset).await?;
        let text = std::str::from_utf8(&read.data).map_err(|_| ClientError::BadAnswer(path.clone()))?;
        if !text.trim().is_empty() {
            for message in json_messages(text).map_err(|_| ClientError::BadAnswer(path.clone()))? {
                conversation.apply(&Event::from_json(&message));
            }
        }
        offset = read.next_offset;
        if read.up_to_date || read.closed {
            return Ok((conversation, offset));
        }
    }
}

/// What the provider is shown: the system prompt, then the thread ending at `leaf`,
/// finished messages with text only, oldest first.
pub fn history(conversation: &Conversation, leaf: &str) -> Vec<Turn> {
    let prompt = conversation.system_prompt.iter().map(|text| Turn { role: Role::System, text: text.clone() });
    let thread = conversation
        .thread(leaf)
        .into_iter()
        .filter(|m| matches!(m.status, MessageStatus::Complete | MessageStatus::Stopped) && !m.text.is_empty())
        .map(|m| Turn { role: m.role, text: m.text.clone() });
    prompt.chain(thread).collect()
}

/// Cancels `stop` when a `stop` chunk for `message_id` appears in the session.
async fn watch_for_stop(
    manager: SessionManager,
    chat_id: String,
    offset: String,
    message_id: String,
    stop: CancellationToken,
) {
    let mut subscription = manager.subscribe(&chat_stream(&chat_id), &offset);
    while let Some(event) = subscription.next().await {
        let Ok(StreamEvent::Data { data, .. }) = event else { continue };
        let stopped = json_messages(&data).unwrap_or_default().iter().any(|m| {
            matches!(Event::from_json(m), Event::Chunk { record, .. }
                if record.message_id == message_id && record.chunk == Chunk::Stop && record.role == Role::Assistant)
        });
        if stopped {
            stop.cancel();
            return;
        }
    }
}
