//! A conversation, materialized by replaying a session's events in stream order.
//!
//! Messages form a tree through their parents: regenerating a reply or editing a
//! message adds a sibling (same parent, same role), a new version of that turn, and
//! every version stays in the one stream. What a person reads is one thread, root to
//! leaf ([`Conversation::thread`]); which version of a turn they look at is their
//! device's choice, the newest by default ([`Conversation::latest_leaf`]).

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
    /// The message this one follows in its thread (none for a thread's first message
    /// and for system messages), resolved as [`Conversation`] describes.
    pub parent_id: Option<String>,
    /// The model that wrote a reply, when its writer said.
    pub model: Option<String>,
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
    /// Every message of every version, in stream order (system messages included).
    pub messages: Vec<Message>,
    /// The latest system message's text; not part of any thread.
    pub system_prompt: Option<String>,
    /// The last non-system message so far: the parent of a message written without
    /// one by an older writer, which only ever appended to a single thread.
    #[serde(skip)]
    last_in_thread: Option<String>,
    /// Whether some message named its parent: then the stream comes from a writer that
    /// always does, and a message without a parent starts a thread (an edited first
    /// message) instead of following the last one.
    #[serde(skip)]
    parents_written: bool,
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

    /// The thread ending at `leaf`, root first; empty when `leaf` is unknown.
    pub fn thread(&self, leaf: &str) -> Vec<&Message> {
        let mut thread = Vec::new();
        let mut next = self.message(leaf);
        while let Some(message) = next {
            // Parents always come earlier in the stream, but a bad writer could still
            // point in circles: a thread never holds more than every message.
            if thread.len() == self.messages.len() {
                break;
            }
            thread.push(message);
            next = message.parent_id.as_deref().and_then(|id| self.message(id));
        }
        thread.reverse();
        thread
    }

    /// The end of the thread a device shows when nobody picked versions: from the
    /// newest first message, always the newest reply or follow-up.
    pub fn latest_leaf(&self) -> Option<&str> {
        let mut newest_child: HashMap<Option<&str>, &str> = HashMap::new();
        for message in self.messages.iter().filter(|m| m.role != Role::System) {
            newest_child.insert(message.parent_id.as_deref(), &message.id);
        }
        let mut leaf = *newest_child.get(&None)?;
        for _ in 0..self.messages.len() {
            match newest_child.get(&Some(leaf)) {
                Some(child) => leaf = child,
                None => break,
            }
        }
        Some(leaf)
    }

    /// The versions of the turn `id` belongs to (messages with its parent and role), in
    /// stream order; `id` itself included. Empty when `id` is unknown.
    pub fn versions(&self, id: &str) -> Vec<&str> {
        let Some(message) = self.message(id).filter(|m| m.role != Role::System) else { return Vec::new() };
        self.messages
            .iter()
            .filter(|m| m.role == message.role && m.parent_id == message.parent_id)
            .map(|m| m.id.as_str())
            .collect()
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
        let learned = known && self.learn_parent_and_model(record);
        let message = self.message_mut(record);
        if let (true, false, Chunk::TextDelta { delta }) = (known, learned, &record.chunk) {
            message.text.push_str(delta);
            return Some(Update::Delta { id: message.id.clone(), text: delta.clone() });
        }
        match &record.chunk {
            Chunk::WholeMessage { content } => {
                message.text.push_str(content);
                message.status = MessageStatus::Complete;
                if message.role == Role::System {
                    // An empty one clears the prompt.
                    let message = message.clone();
                    self.system_prompt = Some(message.text.clone()).filter(|t| !t.is_empty());
                    return Some(Update::Message { message });
                }
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

    /// A parent or model on a later chunk of a known message (a stop from another
    /// device can take a reply's first chunk): taken if the message had none. Returns
    /// whether the message changed.
    fn learn_parent_and_model(&mut self, record: &ChunkRecord) -> bool {
        let i = self.index[&record.message_id];
        let parent = record.parent_id.as_deref().filter(|p| self.index.get(*p).is_some_and(|&at| at < i));
        let message = &mut self.messages[i];
        let mut changed = false;
        if let (Some(parent), None, false) = (parent, &message.parent_id, message.role == Role::System) {
            message.parent_id = Some(parent.to_owned());
            self.parents_written = true;
            changed = true;
        }
        if let (Some(model), None) = (&record.model, &message.model) {
            message.model = Some(model.clone());
            changed = true;
        }
        changed
    }

    /// Where a new message goes: after its named parent if that is an earlier message,
    /// else (an older writer) after the last message of the single thread it knew;
    /// system messages go nowhere.
    fn resolve_parent(&mut self, record: &ChunkRecord) -> Option<String> {
        if record.role == Role::System {
            return None;
        }
        if let Some(parent) = record.parent_id.as_ref().filter(|p| self.index.contains_key(*p)) {
            self.parents_written = true;
            return Some(parent.clone());
        }
        if self.parents_written {
            return None;
        }
        self.last_in_thread.clone()
    }

    fn message_mut(&mut self, record: &ChunkRecord) -> &mut Message {
        if !self.index.contains_key(&record.message_id) {
            let parent_id = self.resolve_parent(record);
            if record.role != Role::System {
                self.last_in_thread = Some(record.message_id.clone());
            }
            self.index.insert(record.message_id.clone(), self.messages.len());
            self.messages.push(Message {
                id: record.message_id.clone(),
                role: record.role,
                actor_id: record.actor_id.clone(),
                text: String::new(),
                status: MessageStatus::Streaming,
                error: None,
                created_at: record.created_at.clone(),
                parent_id,
                model: record.model.clone(),
            });
        }
        let i = self.index[&record.message_id];
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
                parent_id: None,
                model: None,
            },
            txid: None,
        }
    }

    /// A message's first chunk, naming its parent.
    fn first(message_id: &str, role: Role, parent: Option<&str>, chunk: Chunk) -> Event {
        let mut event = super::tests::chunk(message_id, role, 0, chunk);
        if let Event::Chunk { record, .. } = &mut event {
            record.parent_id = parent.map(str::to_owned);
            record.model = (role == Role::Assistant).then(|| "m1".to_owned());
        }
        event
    }

    fn whole(text: &str) -> Chunk {
        Chunk::WholeMessage { content: text.into() }
    }

    fn ids<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Vec<&'a str> {
        messages.into_iter().map(|m| m.id.as_str()).collect()
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

    #[test]
    fn events_without_parents_form_one_thread() {
        let c = Conversation::from_events(&[
            chunk("q1", Role::User, 0, whole("one")),
            chunk("a1", Role::Assistant, 0, delta("1")),
            chunk("sys", Role::System, 0, whole("Be brief")),
            chunk("q2", Role::User, 0, whole("two")),
            chunk("a2", Role::Assistant, 0, delta("2")),
        ]);
        assert_eq!(c.latest_leaf(), Some("a2"));
        assert_eq!(ids(c.thread("a2")), ["q1", "a1", "q2", "a2"], "the system message is in no thread");
        assert_eq!(c.message("q2").unwrap().parent_id.as_deref(), Some("a1"));
        assert_eq!(c.message("sys").unwrap().parent_id, None);
        assert_eq!(c.system_prompt.as_deref(), Some("Be brief"));
        assert_eq!(c.versions("a2"), ["a2"]);
    }

    #[test]
    fn regenerating_and_editing_branch_the_conversation() {
        let mut c = Conversation::from_events(&[
            first("q1", Role::User, None, whole("one")),
            first("a1", Role::Assistant, Some("q1"), delta("1")),
            first("q2", Role::User, Some("a1"), whole("two")),
            first("a2", Role::Assistant, Some("q2"), delta("2")),
            // Regenerated: a second answer to q2.
            first("a2b", Role::Assistant, Some("q2"), delta("2b")),
        ]);
        assert_eq!(c.versions("a2"), ["a2", "a2b"]);
        assert_eq!(c.latest_leaf(), Some("a2b"));
        assert_eq!(ids(c.thread("a2")), ["q1", "a1", "q2", "a2"], "the first version stays reachable");
        assert_eq!(c.message("a2b").unwrap().model.as_deref(), Some("m1"));

        // q1 edited: a new first message (no parent) and its reply.
        c.apply(&first("q1b", Role::User, None, whole("one, edited")));
        c.apply(&first("a1b", Role::Assistant, Some("q1b"), delta("1b")));
        assert_eq!(c.versions("q1"), ["q1", "q1b"]);
        assert_eq!(c.latest_leaf(), Some("a1b"));
        assert_eq!(ids(c.thread("a1b")), ["q1b", "a1b"]);
        assert_eq!(ids(c.thread("a2b")), ["q1", "a1", "q2", "a2b"]);

        // q2 edited under a1.
        c.apply(&first("q2b", Role::User, Some("a1"), whole("two, edited")));
        assert_eq!(c.versions("q2"), ["q2", "q2b"]);
        assert_eq!(ids(c.thread("q2b")), ["q1", "a1", "q2b"]);
        assert!(c.thread("nope").is_empty());
        assert!(c.versions("nope").is_empty());
    }

    #[test]
    fn a_parent_must_be_an_earlier_message() {
        let c = Conversation::from_events(&[
            first("q1", Role::User, None, whole("one")),
            first("a1", Role::Assistant, Some("q1"), delta("1")),
            // Names a message that does not exist (yet): read as an older writer's.
            first("a2", Role::Assistant, Some("later"), delta("2")),
            first("later", Role::User, Some("a2"), whole("x")),
        ]);
        assert_eq!(c.message("a2").unwrap().parent_id, None, "parents were written, so it starts a thread");
        assert_eq!(ids(c.thread("later")), ["a2", "later"]);
    }

    #[test]
    fn a_parent_on_a_later_chunk_is_taken() {
        // A stop from another device took the reply's seq 0.
        let mut c = Conversation::from_events(&[
            first("q1", Role::User, None, whole("one")),
            first("a1", Role::Assistant, Some("q1"), delta("1")),
            first("q1b", Role::User, None, whole("one, edited")),
            chunk("a2", Role::Assistant, 0, Chunk::Stop),
        ]);
        assert_eq!(c.message("a2").unwrap().parent_id, None);
        let mut late = first("a2", Role::Assistant, Some("q1"), delta("x"));
        if let Event::Chunk { record, .. } = &mut late {
            record.seq = 1;
        }
        let update = c.apply(&late).unwrap();
        assert!(matches!(update, Update::Message { message } if message.parent_id.as_deref() == Some("q1")
            && message.model.as_deref() == Some("m1") && message.text == "x"));
        assert_eq!(c.versions("a1"), ["a1", "a2"]);
    }

    #[test]
    fn the_latest_system_message_is_the_prompt() {
        let mut c = Conversation::from_events(&[
            chunk("s1", Role::System, 0, whole("Be brief")),
            chunk("s2", Role::System, 0, whole("Be kind")),
        ]);
        assert_eq!(c.system_prompt.as_deref(), Some("Be kind"));
        assert_eq!(c.latest_leaf(), None);
        assert!(c.versions("s1").is_empty());
        c.apply(&chunk("s3", Role::System, 0, whole("")));
        assert_eq!(c.system_prompt, None, "an empty one clears it");
    }
}
