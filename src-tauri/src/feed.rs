//! A chat's subscription as the UI receives it: superset-chat reads the stream's
//! events into the conversation here, and only what changed goes to the UI.

use superset_chat::{Conversation, Event, Update};
use superset_client::outage::seconds;
use superset_client::subscription::json_messages;
use superset_client::{ClientError, StreamEvent};

use crate::contract::ChatFeed;

/// One subscription's conversation, from the start of the chat's stream.
#[derive(Default)]
pub struct Feed {
    conversation: Conversation,
}

impl Feed {
    /// A feed that starts from a chat's replica, and the one batch that shows it: the
    /// title and every message as they stand.
    pub fn from_replica(messages: &[serde_json::Value]) -> (Feed, ChatFeed) {
        let events: Vec<Event> = messages.iter().map(Event::from_json).collect();
        let conversation = Conversation::from_events(&events);
        let title = conversation.title.clone().map(|title| Update::Title { title });
        let shown = conversation.messages.iter().map(|m| Update::Message { message: m.clone() });
        let updates = title.into_iter().chain(shown).collect();
        (Feed { conversation }, ChatFeed::Updates { updates })
    }

    /// The conversation as the events so far make it.
    pub fn conversation(&self) -> &Conversation {
        &self.conversation
    }

    /// What to send the UI for the subscription's next event (`None`: it ended), and
    /// whether that is the last thing to send.
    pub fn next(&mut self, event: Option<Result<StreamEvent, ClientError>>) -> Option<(ChatFeed, bool)> {
        Some(match event? {
            Ok(StreamEvent::Data { data, .. }) => match json_messages(&data) {
                Ok(messages) => {
                    let events = messages.iter().map(Event::from_json);
                    let updates = events.filter_map(|event| self.conversation.apply(&event)).collect();
                    (ChatFeed::Updates { updates }, false)
                }
                Err(e) => failed(
                    "This chat's history can't be read.".into(),
                    Some(format!("invalid JSON in the stream: {e}")),
                ),
            },
            Ok(StreamEvent::Reconnecting { after, outage, reason }) => {
                tracing::info!(%reason, ?after, "a chat's subscription is reconnecting");
                let message = outage.to_string();
                (
                    ChatFeed::Error {
                        message,
                        detail: Some(reason),
                        retrying: true,
                        retry_in_secs: Some(seconds(after)),
                    },
                    false,
                )
            }
            // Caught up (also after a reconnect): an empty batch clears "reconnecting".
            Ok(StreamEvent::UpToDate { .. }) => (ChatFeed::Updates { updates: Vec::new() }, false),
            Ok(StreamEvent::Closed { .. }) => (ChatFeed::Closed, true),
            Err(e) => failed(e.to_string(), e.detail()),
        })
    }
}

/// The subscription ended with this failure: the UI says so and retries on its own.
fn failed(message: String, detail: Option<String>) -> (ChatFeed, bool) {
    tracing::warn!(%message, detail = detail.as_deref().unwrap_or(""), "a chat's subscription failed");
    (ChatFeed::Error { message, detail, retrying: false, retry_in_secs: None }, true)
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

    #[test]
    fn stream_events_become_conversation_updates() {
        let mut feed = Feed::default();
        let first = feed.next(data(json!([
            chunk("a", 0, json!({"type": "text-delta", "delta": "Hi"})),
            chunk("a", 1, json!({"type": "text-delta", "delta": " there"})),
            {"type": "reaction", "key": "r", "value": {}},
        ])));
        let updates = vec![
            Update::Message { message: message("Hi", MessageStatus::Streaming) },
            Update::Delta { id: "a".into(), text: " there".into() },
        ];
        assert_eq!(first, Some((ChatFeed::Updates { updates }, false)));
        // The same events again (a re-delivery) change nothing; the end completes it.
        let again = feed.next(data(json!([
            chunk("a", 1, json!({"type": "text-delta", "delta": " there"})),
            chunk("a", 2, json!({"type": "message-end"})),
            {"type": "session", "key": "s", "value": {"sessionId": "s", "title": "Hello", "actorId": "u",
                "updatedAt": "2026-01-01T00:00:00Z"}, "headers": {"operation": "update"}},
            {"headers": {"control": "reset"}},
        ])));
        let updates = vec![
            Update::Message { message: message("Hi there", MessageStatus::Complete) },
            Update::Title { title: "Hello".into() },
            Update::Reset,
        ];
        assert_eq!(again, Some((ChatFeed::Updates { updates }, false)));
    }

    #[test]
    fn the_subscription_state_becomes_status_items() {
        let mut feed = Feed::default();
        let up_to_date = feed.next(Some(Ok(StreamEvent::UpToDate { offset: "1".into() })));
        assert_eq!(up_to_date, Some((ChatFeed::Updates { updates: vec![] }, false)));
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
        assert_eq!(feed.next(reconnecting), Some((error, false)));
        assert_eq!(feed.next(Some(Ok(StreamEvent::Closed { offset: "2".into() }))), Some((ChatFeed::Closed, true)));
        let broken = feed.next(Some(Ok(StreamEvent::Data { data: "[{".into(), offset: "3".into() })));
        assert!(matches!(broken, Some((ChatFeed::Error { retrying: false, .. }, true))));
        let failed = feed.next(Some(Err(ClientError::AuthRequired)));
        assert!(matches!(failed, Some((ChatFeed::Error { retrying: false, retry_in_secs: None, .. }, true))));
        assert_eq!(feed.next(None), None);
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
        let again = feed.next(data(json!([chunk("a", 1, json!({"type": "message-end"}))])));
        assert_eq!(again, Some((ChatFeed::Updates { updates: vec![] }, false)));
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
        let Some((ChatFeed::Error { message, detail, retrying, retry_in_secs }, false)) = feed.next(event) else {
            panic!("expected a retrying error");
        };
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
