//! Messages typed while they cannot be sent: `outbox.jsonl`, one message a line, in
//! the order they were typed, until the server has them.
//!
//! Exactly once: each message's id is chosen when it is typed and kept with it, and
//! the server refuses a second message with an id it already has (409). A message is
//! taken out of the outbox only once the server has it, so after a lost answer or a
//! restart it is sent again, and that 409 then means "already sent".

use std::fs;
use std::io;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

use super::{append_private, io_at, ReplicaError, Replicas};
use crate::session_manager::{ClientError, SessionManager};
use crate::token_store::atomic_file;

/// A message waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Outgoing {
    #[serde(rename = "sessionId")]
    pub chat_id: String,
    pub message_id: String,
    pub content: String,
    /// The message it follows in its thread, when the caller knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// The model picked for its reply (None: the settings').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// When it was typed (RFC 3339).
    pub queued_at: String,
}

impl Outgoing {
    /// A new message for `chat_id`, with its id chosen now.
    pub fn new(chat_id: &str, content: &str, parent_id: Option<&str>, model: Option<String>) -> Outgoing {
        Outgoing {
            chat_id: chat_id.to_owned(),
            message_id: uuid::Uuid::new_v4().to_string(),
            content: content.to_owned(),
            parent_id: parent_id.map(str::to_owned),
            model,
            queued_at: chrono::Utc::now().to_rfc3339(),
        }
    }
}

/// What became of one queued message in a flush.
#[derive(Debug)]
pub enum Flushed {
    /// The server has it (now, or from an earlier attempt whose answer was lost).
    Sent(Outgoing),
    /// The server refused it for good (say, the chat was deleted); it left the
    /// outbox so the messages after it can go.
    Refused(Outgoing, ClientError),
}

impl Replicas {
    /// Queues a message (written to disk before this returns).
    pub fn queue(&self, message: &Outgoing) -> Result<(), ReplicaError> {
        let path = self.dir.join("outbox.jsonl");
        let mut line = serde_json::to_vec(message).expect("plain data serializes");
        line.push(b'\n');
        let _one_writer = self.writing.lock().unwrap();
        append_private(&path, &line).map_err(io_at(&path))
    }

    /// The queued messages, oldest first. A line cut short by a crash is not a
    /// message (its write never finished, so `queue` never returned).
    pub fn queued(&self) -> Vec<Outgoing> {
        let _one_writer = self.writing.lock().unwrap();
        self.read_outbox()
    }

    /// Takes `message_id` out of the outbox.
    pub fn dequeue(&self, message_id: &str) -> Result<(), ReplicaError> {
        let path = self.dir.join("outbox.jsonl");
        let _one_writer = self.writing.lock().unwrap();
        let rest: Vec<Outgoing> = self.read_outbox().into_iter().filter(|m| m.message_id != message_id).collect();
        if rest.is_empty() {
            return atomic_file::remove(&path).map_err(io_at(&path));
        }
        let mut bytes = Vec::new();
        for message in &rest {
            bytes.extend(serde_json::to_vec(message).expect("plain data serializes"));
            bytes.push(b'\n');
        }
        atomic_file::write(&path, &bytes).map_err(io_at(&path))
    }

    fn read_outbox(&self) -> Vec<Outgoing> {
        let bytes = match fs::read(self.dir.join("outbox.jsonl")) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                return Vec::new();
            }
        };
        let whole_lines = bytes.split(|&b| b == b'\n').collect::<Vec<_>>();
        let complete = &whole_lines[..whole_lines.len() - 1];
        complete
            .iter()
            .filter_map(|line| match serde_json::from_slice(line) {
                Ok(message) => Some(message),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an unreadable line of the outbox");
                    None
                }
            })
            .collect()
    }

    /// Sends the queued messages in order, each exactly once, telling `each` what
    /// became of it. Stops at the first message that cannot be sent now (the servers
    /// are unreachable): it and those after it stay queued, in order. One flush runs
    /// at a time.
    pub async fn flush(&self, manager: &SessionManager, mut each: impl FnMut(Flushed)) -> Result<(), ClientError> {
        let _one_flush = self.flushing.lock().await;
        for message in self.queued() {
            let sent = manager
                .send_message_with_id(
                    &message.chat_id,
                    &message.message_id,
                    &message.content,
                    message.parent_id.as_deref(),
                )
                .await;
            let outcome = match sent {
                Ok(_) => Flushed::Sent(message),
                Err(e @ ClientError::Status { status, .. }) if is_refused_for_good(status) => {
                    tracing::warn!(error = %e, "the server refused a queued message; dropping it");
                    Flushed::Refused(message, e)
                }
                Err(e) => return Err(e),
            };
            let id = match &outcome {
                Flushed::Sent(m) | Flushed::Refused(m, _) => m.message_id.clone(),
            };
            if let Err(e) = self.dequeue(&id) {
                // Still queued: the next flush sends it again, and the server's 409
                // then tells it was sent.
                tracing::warn!(error = %e, "cannot take a sent message out of the outbox");
            }
            each(outcome);
        }
        Ok(())
    }
}

/// A 4xx other than a timeout or "slow down": sending it again would fail again.
fn is_refused_for_good(status: StatusCode) -> bool {
    status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT && status != StatusCode::TOO_MANY_REQUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_keeps_order_and_survives_a_torn_line() {
        let home = tempfile::tempdir().unwrap();
        let replicas = Replicas::open(home.path(), "u").unwrap();
        let (a, b, c) = (
            Outgoing::new("c1", "one", None, None),
            Outgoing::new("c2", "two", None, None),
            Outgoing::new("c1", "three", Some("x"), Some("m".into())),
        );
        for m in [&a, &b, &c] {
            replicas.queue(m).unwrap();
        }
        replicas.dequeue(&b.message_id).unwrap();
        assert_eq!(replicas.queued(), vec![a.clone(), c.clone()]);
        let path = home.path().join("replicas/u/outbox.jsonl");
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(br#"{"sessionId":"c1","mess"#);
        fs::write(&path, bytes).unwrap();
        assert_eq!(replicas.queued(), vec![a.clone(), c.clone()]);
        // A message queued after the torn line starts on a line of its own.
        let d = Outgoing::new("c1", "four", None, None);
        replicas.queue(&d).unwrap();
        assert_eq!(replicas.queued(), vec![a.clone(), c.clone(), d.clone()]);
        replicas.dequeue(&d.message_id).unwrap();
        replicas.dequeue(&a.message_id).unwrap();
        replicas.dequeue(&c.message_id).unwrap();
        assert!(replicas.queued().is_empty());
        assert!(!path.exists());
    }
}
