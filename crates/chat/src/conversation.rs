//! A conversation, materialized by replaying a session's events in stream order.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::event::{Chunk, ChunkRecord, Event, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageStatus {
    /// Text is still arriving.
    Streaming,
    Complete,
    /// Ended by a stop request; the text so far is kept.
    Stopped,
    /// Generation failed; `error` says why.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub role: Role,
    pub actor_id: String,
    pub text: String,
    pub status: MessageStatus,
    pub error: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub title: Option<String>,
    pub messages: Vec<Message>,
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// Keys already applied: a replayed or re-delivered event changes nothing.
    #[serde(skip)]
    seen: HashSet<(String, u64)>,
}

impl Conversation {
    /// Replays events from the start of a stream.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut conversation = Conversation::default();
        for event in events {
            conversation.apply(event);
        }
        conversation
    }

    pub fn message(&self, id: &str) -> Option<&Message> {
        self.index.get(id).map(|&i| &self.messages[i])
    }

    /// The message still being generated, if any.
    pub fn streaming(&self) -> Option<&Message> {
        self.messages.iter().rev().find(|m| m.status == MessageStatus::Streaming)
    }

    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Chunk { record, .. } => self.apply_chunk(record),
            Event::Session(record) => {
                if record.title.is_some() {
                    self.title = record.title.clone();
                }
            }
            Event::Reset => *self = Conversation::default(),
            Event::Other => {}
        }
    }

    fn apply_chunk(&mut self, record: &ChunkRecord) {
        if !self.seen.insert((record.message_id.clone(), record.seq)) {
            return;
        }
        let message = self.message_mut(record);
        match &record.chunk {
            Chunk::WholeMessage { content } => {
                message.text.push_str(content);
                message.status = MessageStatus::Complete;
            }
            Chunk::TextDelta { delta } => message.text.push_str(delta),
            Chunk::MessageEnd => {
                if message.status == MessageStatus::Streaming {
                    message.status = MessageStatus::Complete;
                }
            }
            Chunk::Error { message: error } => {
                message.status = MessageStatus::Failed;
                message.error = Some(error.clone());
            }
            Chunk::Stop => {
                if message.status == MessageStatus::Streaming {
                    message.status = MessageStatus::Stopped;
                }
            }
        }
    }

    fn message_mut(&mut self, record: &ChunkRecord) -> &mut Message {
        let i = *self.index.entry(record.message_id.clone()).or_insert_with(|| {
            self.messages.push(Message {
                id: record.message_id.clone(),
                role: record.role,
                actor_id: record.actor_id.clone(),
                text: String::new(),
                status: MessageStatus::Streaming,
                error: None,
                created_at: record.created_at.clone(),
            });
            self.messages.len() - 1
        });
        &mut self.messages[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(message_id: &str, role: Role, seq: u64, chunk: Chunk) -> Event {
        Event::Chunk {
            record: ChunkRecord {
                message_id: message_id.into(),
                actor_id: if role == Role::User { "u1".into() } else { "assistant".into() },
                role,
                seq,
                chunk,
                created_at: "2026-01-01T00:00:00Z".into(),
            },
            txid: None,
        }
    }

    fn delta(text: &str) -> Chunk {
        Chunk::TextDelta { delta: text.into() }
    }

    #[test]
    fn replays_a_turn_into_messages_in_order() {
        let events = [
            chunk("q", Role::User, 0, Chunk::WholeMessage { content: "Hello?".into() }),
            chunk("a", Role::Assistant, 0, delta("Hi ")),
            chunk("a", Role::Assistant, 1, delta("there")),
        ];
        let mut c = Conversation::from_events(&events);
        assert_eq!(c.messages.len(), 2);
        assert_eq!((c.messages[0].text.as_str(), c.messages[0].status), ("Hello?", MessageStatus::Complete));
        assert_eq!((c.messages[1].text.as_str(), c.messages[1].status), ("Hi there", MessageStatus::Streaming));
        assert_eq!(c.streaming().map(|m| m.id.as_str()), Some("a"));
        c.apply(&chunk("a", Role::Assistant, 2, Chunk::MessageEnd));
        assert_eq!(c.message("a").unwrap().status, MessageStatus::Complete);
        assert_eq!(c.streaming(), None);
    }

    #[test]
    fn redelivered_events_change_nothing() {
        let events = [chunk("a", Role::Assistant, 0, delta("x")), chunk("a", Role::Assistant, 0, delta("x"))];
        assert_eq!(Conversation::from_events(&events).messages[0].text, "x");
    }

    #[test]
    fn stop_error_title_and_reset() {
        let mut c = Conversation::from_events(&[
            chunk("a", Role::Assistant, 0, delta("par")),
            chunk("a", Role::Assistant, 1, Chunk::Stop),
            chunk("a", Role::Assistant, 2, Chunk::MessageEnd),
            chunk("b", Role::Assistant, 0, Chunk::Error { message: "rate limited".into() }),
        ]);
        assert_eq!(c.message("a").unwrap().status, MessageStatus::Stopped);
        assert_eq!(c.message("b").unwrap().error.as_deref(), Some("rate limited"));
        c.apply(&Event::Session(crate::SessionRecord {
            session_id: "s".into(),
            title: Some("Trip".into()),
            actor_id: "u1".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        }));
        assert_eq!(c.title.as_deref(), Some("Trip"));
        c.apply(&Event::Reset);
        assert_eq!(c, Conversation::default());
    }
}
