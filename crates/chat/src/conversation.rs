//! A conversation, materialized by replaying a session's events in stream order.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::event::{Chunk, ChunkRecord, Event, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Message {
    pub id: String,
    pub role: Role,
    pub actor_id: String,
    pub text: String,
    pub status: MessageStatus,
    pub error: Option<String>,
    pub created_at: String,
}

/// What applying one event changed: enough for a view to follow the conversation
/// without reading events itself (the desktop UI renders only these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Update {
    /// A message appeared, or its status, error or whole text changed: the message as
    /// it now stands, to put in place by id (new ones go last).
    Message { message: Message },
    /// More text for message `id`.
    Delta { id: String, text: String },
    /// The conversation was (re)named.
    Title { title: String },
    /// The stream started over: every message is gone.
    Reset,
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

    /// Applies one event; returns what it changed, if anything (a re-delivered chunk
    /// or an unknown event changes nothing).
    pub fn apply(&mut self, event: &Event) -> Option<Update> {
        match event {
            Event::Chunk { record, .. } => self.apply_chunk(record),
            Event::Session(record) => {
                let title = record.title.clone()?;
                self.title = Some(title.clone());
                Some(Update::Title { title })
            }
            Event::Reset => {
                *self = Conversation::default();
                Some(Update::Reset)
            }
            Event::Other => None,
        }
    }

    fn apply_chunk(&mut self, record: &ChunkRecord) -> Option<Update> {
        if !self.seen.insert((record.message_id.clone(), record.seq)) {
            return None;
        }
        let known = self.index.contains_key(&record.message_id);
        let message = self.message_mut(record);
        if let (true, Chunk::TextDelta { delta }) = (known, &record.chunk) {
            message.text.push_str(delta);
            return Some(Update::Delta { id: message.id.clone(), text: delta.clone() });
        }
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
        Some(Update::Message { message: message.clone() })
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

    /// A view that knows only updates, as the desktop UI does.
    #[derive(Default)]
    struct View {
        title: Option<String>,
        messages: Vec<Message>,
    }

    impl View {
        fn follow(&mut self, update: Update) {
            match update {
                Update::Message { message } => match self.messages.iter_mut().find(|m| m.id == message.id) {
                    Some(shown) => *shown = message,
                    None => self.messages.push(message),
                },
                Update::Delta { id, text } => self.messages.iter_mut().find(|m| m.id == id).unwrap().text += &text,
                Update::Title { title } => self.title = Some(title),
                Update::Reset => *self = View::default(),
            }
        }
    }

    #[test]
    fn updates_rebuild_the_conversation_and_name_only_changes() {
        let title = |t: &str| {
            Event::Session(crate::SessionRecord {
                session_id: "s".into(),
                title: Some(t.into()),
                actor_id: "u1".into(),
                updated_at: "2026-01-01T00:00:00Z".into(),
            })
        };
        let events = [
            chunk("old", Role::User, 0, Chunk::WholeMessage { content: "gone".into() }),
            Event::Reset,
            chunk("q", Role::User, 0, Chunk::WholeMessage { content: "Hello?".into() }),
            title("Greeting"),
            chunk("a", Role::Assistant, 0, delta("Hi ")),
            chunk("a", Role::Assistant, 1, delta("there")),
            chunk("a", Role::Assistant, 1, delta("there")),
            Event::Other,
            chunk("a", Role::Assistant, 2, Chunk::Stop),
            chunk("a", Role::Assistant, 3, Chunk::MessageEnd),
            chunk("b", Role::Assistant, 0, Chunk::Error { message: "rate limited".into() }),
        ];
        let mut conversation = Conversation::default();
        let mut view = View::default();
        let mut updates = Vec::new();
        for event in &events {
            if let Some(update) = conversation.apply(event) {
                updates.push(update.clone());
                view.follow(update);
            }
        }
        assert_eq!((view.title, view.messages), (conversation.title.clone(), conversation.messages.clone()));
        assert_eq!(updates.len(), events.len() - 2, "the re-delivered chunk and the unknown event change nothing");
        assert_eq!(updates[5], Update::Delta { id: "a".into(), text: "there".into() });
        assert!(
            matches!(&updates[4], Update::Message { message } if message.text == "Hi "),
            "a new message comes whole"
        );
    }
}
