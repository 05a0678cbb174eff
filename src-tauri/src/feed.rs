//! A chat's subscription as the UI receives it: superset-chat reads the stream's
//! events into the conversation here, and only what changed goes to the UI.
//!
//! History is folded here, never replayed into the page: until the stream is first up
//! to date (and again after a reconnect, until it is caught up), events only change the
//! conversation, and the UI then gets one batch with what they changed. Replaying a
//! 500-turn chat event by event kept the page busy for seconds, showing old replies
//! streaming in with "Stop" offered as if one were running.

use std::collections::HashSet;

use superset_chat::{Conversation, Event, Update};
use superset_client::outage::seconds;
use superset_client::subscription::json_messages;
use superset_client::{ClientError, StreamEvent};

use crate::contract::ChatFeed;

/// One subscription's conversation, from the start of the chat's stream.
pub struct Feed {
    conversation: Conversation,
    /// Set while catching up: what the events folded so far changed.
    catch_up: Option<CatchUp>,
}

impl Default for Feed {
    /// A feed from the start of the stream: everything up to its end is history.
    fn default() -> Self {
        Feed { conversation: Conversation::default(), catch_up: Some(CatchUp::whole()) }
    }
}

/// What to send the UI for one of the subscription's events.
#[derive(Debug, PartialEq)]
pub struct Step {
    /// In order; empty while a catch-up is folded.
    pub send: Vec<ChatFeed>,
    /// The subscription is over after these.
    pub last: bool,
}

impl Step {
    fn one(item: ChatFeed, last: bool) -> Step {
        Step { send: vec![item], last }
    }
}

/// What a catch-up changed, shown in one batch when it ends.
#[derive(Default)]
struct CatchUp {
    /// The stream started over meanwhile: the UI drops what it shows first.
    reset: bool,
    /// Every message is sent (a feed from the start, or after a reset).
    whole: bool,
    title: bool,
    /// Messages that appeared or changed.
    touched: HashSet<String>,
}

impl CatchUp {
    fn whole() -> CatchUp {
        CatchUp { whole: true, ..CatchUp::default() }
    }

    fn note(&mut self, update: &Update) {
        match update {
            Update::Message { message } => _ = self.touched.insert(message.id.clone()),
            Update::Delta { id, .. } => _ = self.touched.insert(id.clone()),
            Update::Title { .. } => self.title = true,
            Update::Reset => *self = CatchUp { reset: true, ..CatchUp::whole() },
        }
    }

    /// The batch that shows it: each message as it now stands, in stream order, so a
    /// reply still running at the end is the only one shown running.
    fn batch(&self, conversation: &Conversation) -> Vec<Update> {
        let reset = self.reset.then_some(Update::Reset);
        let title = conversation.title.clone().filter(|_| self.whole || self.title);
        let messages = conversation.messages.iter().filter(|m| self.whole || self.touched.contains(&m.id));
        let messages = messages.map(|m| Update::Message { message: m.clone() });
        reset.into_iter().chain(title.map(|title| Update::Title { title })).chain(messages).collect()
    }
}

impl Feed {
    /// A feed that starts from a chat's replica, and the one batch that shows it: the
    /// title and every message as they stand. What the live subscription then reads to
    /// catch up comes as one more batch.
    pub fn from_replica(messages: &[serde_json::Value]) -> (Feed, ChatFeed) {
        let events: Vec<Event> = messages.iter().map(Event::from_json).collect();
        let conversation = Conversation::from_events(&events);
        let updates = CatchUp::whole().batch(&conversation);
        (Feed { conversation, catch_up: Some(CatchUp::default()) }, ChatFeed::Updates { updates })
    }

    /// The conversation as the events so far make it.
    pub fn conversation(&self) -> &Conversation {
        &self.conversation
    }

    /// What to send the UI for the subscription's next event (`None`: it ended).
    pub fn next(&mut self, event: Option<Result<StreamEvent, ClientError>>) -> Option<Step> {
        Some(match event? {
            Ok(StreamEvent::Data { data, .. }) => self.data(&data),
            Ok(StreamEvent::Reconnecting { after, outage, reason }) => {
                tracing::info!(%reason, ?after, "a chat's subscription is reconnecting");
                // What it missed meanwhile comes as one batch too.
                self.catch_up.get_or_insert_with(CatchUp::default);
                let message = outage.to_string();
                let retry_in_secs = Some(seconds(after));
                Step::one(ChatFeed::Error { message, detail: Some(reason), retrying: true, retry_in_secs }, false)
            }
            // Caught up (also after a reconnect): the folded history, or an empty batch,
            // which clears "reconnecting".
            Ok(StreamEvent::UpToDate { .. }) => Step::one(self.caught_up(), false),
            // A closed stream never says it is up to date: its history is complete.
            Ok(StreamEvent::Closed { .. }) => {
                let history = self.catch_up.is_some().then(|| self.caught_up());
                Step { send: history.into_iter().chain([ChatFeed::Closed]).collect(), last: true }
            }
            Err(e) => failed(e.to_string(), e.detail()),
        })
    }

    fn data(&mut self, data: &str) -> Step {
        let messages = match json_messages(data) {
            Ok(messages) => messages,
            Err(e) => {
                let detail = Some(format!("invalid JSON in the stream: {e}"));
                return failed("This chat's history can't be read.".into(), detail);
            }
        };
        let updates = messages.iter().filter_map(|m| self.conversation.apply(&Event::from_json(m)));
        match &mut self.catch_up {
            Some(catch_up) => {
                updates.for_each(|update| catch_up.note(&update));
                Step { send: Vec::new(), last: false }
            }
            None => Step::one(ChatFeed::Updates { updates: updates.collect() }, false),
        }
    }

    /// Ends the catch-up, if one was running: the batch that shows what it changed.
    fn caught_up(&mut self) -> ChatFeed {
        let updates = self.catch_up.take().map(|c| c.batch(&self.conversation)).unwrap_or_default();
        ChatFeed::Updates { updates }
    }
}

/// The subscription ended with this failure: the UI says so and retries on its own.
fn failed(message: String, detail: Option<String>) -> Step {
    tracing::warn!(%message, detail = detail.as_deref().unwrap_or(""), "a chat's subscription failed");
    Step::one(ChatFeed::Error { message, detail, retrying: false, retry_in_secs: None }, true)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use superset_chat::{Message, MessageStatus, Role};

    use superset_client::Outage;

    use super::*;

    fn data(messages: serde_json::Value) -> Option<Result<StreamEvent, ClientError>> {
        Some(Ok(StreamEvent::Data { data: messages.to_string(), offset: "1".into() }))
    }

    fn chunk(message_id: &str, seq: u64, chunk: serde_json::Value) -> serde_json::Value {
        json!({"type": "chunk", "key": format!("{message_id}:{seq}"), "value": {"messageId": message_id,
            "actorId": "assistant", "role": "assistant", "seq": seq, "chunk": chunk,
            "createdAt": "2026-01-01T00:00:00Z"}, "headers": {"operation": "insert"}})
    }

    fn message(text: &str, status: MessageStatus) -> Message {
        Message {
            id: "a".into(),
            role: Role::Assistant,
            actor_id: "assistant".into(),
            text: text.into(),
            status,
            error: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            parent_id: None,
            model: None,
        }
    }

    fn up_to_date() -> Option<Result<StreamEvent, ClientError>> {
        Some(Ok(StreamEvent::UpToDate { offset: "1".into() }))
    }

    fn sent(updates: Vec<Update>) -> Option<Step> {
        Some(Step::one(ChatFeed::Updates { updates }, false))
    }

    fn held() -> Option<Step> {
        Some(Step { send: Vec::new(), last: false })
    }

    fn user(id: &str, text: &str) -> serde_json::Value {
        json!({"type": "chunk", "key": format!("{id}:0"), "value": {"messageId": id, "actorId": "u",
            "role": "user", "seq": 0, "chunk": {"type": "whole-message", "content": text},
            "createdAt": "2026-01-01T00:00:00Z"}, "headers": {"operation": "insert"}})
    }

    fn title(title: &str) -> serde_json::Value {
        json!({"type": "session", "key": "s", "value": {"sessionId": "s", "title": title, "actorId": "u",
            "updatedAt": "2026-01-01T00:00:00Z"}, "headers": {"operation": "update"}})
    }

    /// A feed past its (empty) history: what comes now is live.
    fn live() -> Feed {
        let mut feed = Feed::default();
        assert_eq!(feed.next(up_to_date()), sent(vec![]));
        feed
    }

    #[test]
    fn live_stream_events_become_conversation_updates() {
        let mut feed = live();
        let first = feed.next(data(json!([
            chunk("a", 0, json!({"type": "text-delta", "delta": "Hi"})),
            chunk("a", 1, json!({"type": "text-delta", "delta": " there"})),
            {"type": "reaction", "key": "r", "value": {}},
        ])));
        let updates = vec![
            Update::Message { message: message("Hi", MessageStatus::Streaming) },
            Update::Delta { id: "a".into(), text: " there".into() },
        ];
        assert_eq!(first, sent(updates));
        // The same events again (a re-delivery) change nothing; the end completes it.
        let again = feed.next(data(json!([
            chunk("a", 1, json!({"type": "text-delta", "delta": " there"})),
            chunk("a", 2, json!({"type": "message-end"})),
            title("Hello"),
            {"headers": {"control": "reset"}},
        ])));
        let updates = vec![
            Update::Message { message: message("Hi there", MessageStatus::Complete) },
            Update::Title { title: "Hello".into() },
            Update::Reset,
        ];
        assert_eq!(again, sent(updates));
    }

    /// The history, however many events, reaches the UI as one batch once the stream
    /// is up to date: each message as it stands, no deltas, no finished reply shown
    /// running on the way.
    #[test]
    fn history_is_folded_into_one_batch_at_the_first_up_to_date() {
        let mut feed = Feed::default();
        let history = json!([
            user("q", "Hello?"),
            chunk("a", 0, json!({"type": "text-delta", "delta": "Hi"})),
            chunk("a", 1, json!({"type": "text-delta", "delta": " there"})),
        ]);
        assert_eq!(feed.next(data(history)), held());
        let rest = json!([chunk("a", 2, json!({"type": "message-end"})), title("Greetings")]);
        assert_eq!(feed.next(data(rest)), held());
        let Some(Step { send, last: false }) = feed.next(up_to_date()) else { panic!("expected a batch") };
        let [ChatFeed::Updates { updates }] = &send[..] else { panic!("one batch expected: {send:?}") };
        let Update::Title { title } = &updates[0] else { panic!("the title first: {updates:?}") };
        assert_eq!(title, "Greetings");
        let shown: Vec<_> = updates[1..]
            .iter()
            .map(|u| match u {
                Update::Message { message } => (message.id.as_str(), message.text.as_str(), message.status),
                other => panic!("only whole messages in a history batch: {other:?}"),
            })
            .collect();
        assert_eq!(shown, [("q", "Hello?", MessageStatus::Complete), ("a", "Hi there", MessageStatus::Complete)]);
        // Then live, as it comes.
        let live = feed.next(data(json!([chunk("b", 0, json!({"type": "text-delta", "delta": "More"}))])));
        let mut more = message("More", MessageStatus::Streaming);
        more.id = "b".into();
        more.parent_id = Some("a".into());
        assert_eq!(live, sent(vec![Update::Message { message: more }]));
    }

    /// A reply still being written when the chat opens is the one thing shown running,
    /// and its next words follow as deltas.
    #[test]
    fn a_reply_running_at_open_shows_running_and_goes_on() {
        let mut feed = Feed::default();
        assert_eq!(feed.next(data(json!([chunk("a", 0, json!({"type": "text-delta", "delta": "Wor"}))]))), held());
        let running = Update::Message { message: message("Wor", MessageStatus::Streaming) };
        assert_eq!(feed.next(up_to_date()), sent(vec![running]));
        let next = feed.next(data(json!([chunk("a", 1, json!({"type": "text-delta", "delta": "king"}))])));
        assert_eq!(next, sent(vec![Update::Delta { id: "a".into(), text: "king".into() }]));
    }

    /// What a reconnect catches up comes as one batch of the messages it changed.
    #[test]
    fn after_a_reconnect_what_was_missed_comes_in_one_batch() {
        let mut feed = live();
        feed.next(data(json!([user("q", "Hello?"), chunk("a", 0, json!({"type": "text-delta", "delta": "Hi"}))])));
        let reconnecting = Some(Ok(StreamEvent::Reconnecting {
            after: Duration::from_secs(1),
            outage: Outage::Dropped,
            reason: "the server ended the connection".into(),
        }));
        assert!(matches!(feed.next(reconnecting), Some(Step { send, last: false })
            if matches!(&send[..], [ChatFeed::Error { retrying: true, .. }])));
        let missed = json!([
            chunk("a", 1, json!({"type": "text-delta", "delta": " there"})),
            chunk("a", 2, json!({"type": "message-end"})),
        ]);
        assert_eq!(feed.next(data(missed)), held());
        let mut done = message("Hi there", MessageStatus::Complete);
        done.parent_id = Some("q".into());
        assert_eq!(feed.next(up_to_date()), sent(vec![Update::Message { message: done }]));
    }

    /// A stream that started over while the feed caught up from a replica: the UI drops
    /// the replica's messages, then gets the new history whole.
    #[test]
    fn a_reset_during_a_catch_up_replaces_what_is_shown() {
        let (mut feed, _) = Feed::from_replica(&[user("old", "Before")]);
        assert_eq!(feed.next(data(json!([{"headers": {"control": "reset"}}, user("new", "After")]))), held());
        let Some(Step { send, .. }) = feed.next(up_to_date()) else { panic!("expected a batch") };
        let [ChatFeed::Updates { updates }] = &send[..] else { panic!("one batch expected: {send:?}") };
        assert_eq!(updates[0], Update::Reset);
        assert!(matches!(&updates[1..], [Update::Message { message }] if message.id == "new"), "{updates:?}");
    }

    #[test]
    fn the_subscription_state_becomes_status_items() {
        let mut feed = Feed::default();
        assert_eq!(feed.next(up_to_date()), sent(vec![]));
        let reconnecting = Some(Ok(StreamEvent::Reconnecting {
            after: Duration::from_millis(4_200),
            outage: Outage::Dropped,
            reason: "the server ended the connection".into(),
        }));
        let error = ChatFeed::Error {
            message: "The connection to the server dropped.".into(),
            detail: Some("the server ended the connection".into()),
            retrying: true,
            retry_in_secs: Some(5),
        };
        assert_eq!(feed.next(reconnecting), Some(Step::one(error, false)));
        // Closed while catching up after the reconnect: the (empty) catch-up, then the end.
        let closed = Step { send: vec![ChatFeed::Updates { updates: vec![] }, ChatFeed::Closed], last: true };
        assert_eq!(feed.next(Some(Ok(StreamEvent::Closed { offset: "2".into() }))), Some(closed));
        let broken = feed.next(Some(Ok(StreamEvent::Data { data: "[{".into(), offset: "3".into() })));
        assert!(matches!(broken, Some(Step { send, last: true })
            if matches!(&send[..], [ChatFeed::Error { retrying: false, .. }])));
        let failed = feed.next(Some(Err(ClientError::AuthRequired)));
        assert!(matches!(failed, Some(Step { send, last: true })
            if matches!(&send[..], [ChatFeed::Error { retrying: false, retry_in_secs: None, .. }])));
        assert_eq!(feed.next(None), None);
    }

    /// A closed stream never says it is up to date: its history still shows, then the end.
    #[test]
    fn a_closed_streams_history_shows_before_the_end() {
        let mut feed = Feed::default();
        assert_eq!(feed.next(data(json!([user("q", "Last words")]))), held());
        let Some(Step { send, last: true }) = feed.next(Some(Ok(StreamEvent::Closed { offset: "2".into() }))) else {
            panic!("expected the end");
        };
        assert!(
            matches!(&send[..], [ChatFeed::Updates { updates }, ChatFeed::Closed] if updates.len() == 1),
            "{send:?}"
        );
    }

    #[test]
    fn a_replica_is_shown_in_one_batch_and_its_events_are_not_shown_again() {
        let history = vec![
            chunk("a", 0, json!({"type": "text-delta", "delta": "Hi"})),
            chunk("a", 1, json!({"type": "message-end"})),
        ];
        let (mut feed, shown) = Feed::from_replica(&history);
        let updates = vec![Update::Message { message: message("Hi", MessageStatus::Complete) }];
        assert_eq!(shown, ChatFeed::Updates { updates });
        assert_eq!(feed.next(data(json!([chunk("a", 1, json!({"type": "message-end"}))]))), held());
        assert_eq!(feed.next(up_to_date()), sent(vec![]));
    }

    /// The servers down (nothing listens on the port): the feed says so in words and
    /// when it tries again; the cause is the detail, and neither has the stream's URL
    /// or offset (the old banner read "error sending request for url (http://...
    /// ?offset=...&live=sse)").
    #[tokio::test]
    async fn with_the_servers_down_the_feed_says_it_cannot_reach_them() {
        let (_home, manager) = crate::error::tests::manager_on_a_closed_port();
        let mut subscription = manager.subscribe("sessions/abc", "-1");
        let mut feed = Feed::default();
        let event = tokio::time::timeout(Duration::from_secs(10), subscription.next()).await.unwrap();
        let Some(Step { send, last: false }) = feed.next(event) else { panic!("expected a retrying error") };
        let [ChatFeed::Error { message, detail, retrying, retry_in_secs }] = &send[..] else {
            panic!("expected a retrying error: {send:?}");
        };
        let (message, detail, retrying, retry_in_secs) = (message.clone(), detail.clone(), *retrying, *retry_in_secs);
        assert_eq!(message, "Can't reach the server.");
        assert!(retrying);
        assert!(retry_in_secs.is_some_and(|s| (1..=30).contains(&s)), "{retry_in_secs:?}");
        let detail = detail.unwrap();
        assert!(detail.starts_with("cannot connect") && detail.contains("refused"), "{detail}");
        for raw in ["http", "127.0.0.1", "offset", "live=sse", "sessions/abc"] {
            assert!(!detail.contains(raw) && !message.contains(raw), "{raw} in {message:?} / {detail:?}");
        }
        let wire = serde_json::to_value(ChatFeed::Error { message, detail: None, retrying, retry_in_secs }).unwrap();
        assert_eq!(wire["retryInSecs"], serde_json::json!(retry_in_secs), "camelCase for the UI: {wire}");
    }
}
