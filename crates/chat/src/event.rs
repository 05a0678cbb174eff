//! Events as they appear in a session's stream.
//!
//! ```json
//! {"type":"chunk","key":"<messageId>:<seq>",
//!  "value":{"messageId","actorId","role","seq","chunk":{"type":"text-delta","delta":"Hi"},"createdAt"},
//!  "headers":{"operation":"insert","txid":"..."}}
//! {"type":"session","key":"<sessionId>","value":{"sessionId","title","actorId","updatedAt"},
//!  "headers":{"operation":"update"}}
//! {"headers":{"control":"reset"}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Who a message is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Role {
    User,
    Assistant,
    System,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// One piece of a message (`chunk.type`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Chunk {
    /// A whole message at once (what a person types).
    WholeMessage { content: String },
    /// The next piece of a streamed reply.
    TextDelta { delta: String },
    /// The message is complete.
    MessageEnd,
    /// Generating the message failed; the text says why, for people.
    Error { message: String },
    /// Someone asked the running generation to stop.
    Stop,
}

/// The `value` of a chunk event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkRecord {
    pub message_id: String,
    pub actor_id: String,
    pub role: Role,
    pub seq: u64,
    pub chunk: Chunk,
    /// RFC 3339, set by the server.
    pub created_at: String,
    /// The message this one follows in its thread, written on a message's first chunk:
    /// for a user message the last message of the thread it was typed under (none for
    /// a first message), for a reply the user message it answers. Regenerating or
    /// editing adds a message with the same parent, which is how a turn gets versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// On a reply's first chunk: the model that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The `value` of a session event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub actor_id: String,
    pub updated_at: String,
}

/// A message of a session's stream, as far as a conversation is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Chunk {
        record: ChunkRecord,
        txid: Option<String>,
    },
    Session(SessionRecord),
    Reset,
    /// Anything this version does not know (a newer writer, a snapshot marker):
    /// skipped, so old clients keep working.
    Other,
}

impl Event {
    /// The stream key of a chunk: unique per message and position.
    pub fn chunk_key(message_id: &str, seq: u64) -> String {
        format!("{message_id}:{seq}")
    }

    /// Reads one message of the stream.
    pub fn from_json(value: &Value) -> Event {
        if value.pointer("/headers/control").and_then(Value::as_str) == Some("reset") {
            return Event::Reset;
        }
        let parsed = match value.get("type").and_then(Value::as_str) {
            Some("chunk") => serde_json::from_value(value["value"].clone()).ok().map(|record| Event::Chunk {
                record,
                txid: value.pointer("/headers/txid").and_then(Value::as_str).map(str::to_owned),
            }),
            Some("session") => serde_json::from_value(value["value"].clone()).ok().map(Event::Session),
            _ => None,
        };
        parsed.unwrap_or(Event::Other)
    }

    /// The State Protocol message for this event.
    pub fn to_json(&self) -> Value {
        match self {
            Event::Chunk { record, txid } => {
                let mut headers = json!({"operation": "insert"});
                if let Some(txid) = txid {
                    headers["txid"] = json!(txid);
                }
                json!({
                    "type": "chunk",
                    "key": Event::chunk_key(&record.message_id, record.seq),
                    "value": record,
                    "headers": headers,
                })
            }
            Event::Session(record) => json!({
                "type": "session",
                "key": record.session_id,
                "value": record,
                "headers": {"operation": "update"},
            }),
            Event::Reset => json!({"headers": {"control": "reset"}}),
            Event::Other => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_events_have_the_documented_shape() {
        let event = Event::Chunk {
            record: ChunkRecord {
                message_id: "m1".into(),
                actor_id: "u1".into(),
                role: Role::Assistant,
                seq: 3,
                chunk: Chunk::TextDelta { delta: "Hi".into() },
                created_at: "2026-01-01T00:00:00Z".into(),
                parent_id: None,
                model: None,
            },
            txid: Some("t1".into()),
        };
        let json = event.to_json();
        assert_eq!(
            json,
            json!({"type":"chunk","key":"m1:3","value":{"messageId":"m1","actorId":"u1","role":"assistant","seq":3,
                "chunk":{"type":"text-delta","delta":"Hi"},"createdAt":"2026-01-01T00:00:00Z"},
                "headers":{"operation":"insert","txid":"t1"}})
        );
        assert_eq!(Event::from_json(&json), event);
    }

    #[test]
    fn parent_and_model_are_written_only_when_present() {
        let value = json!({"messageId":"a","actorId":"assistant","role":"assistant","seq":0,
            "chunk":{"type":"text-delta","delta":"Hi"},"createdAt":"2026-01-01T00:00:00Z",
            "parentId":"q","model":"gpt-4o"});
        let record: ChunkRecord = serde_json::from_value(value.clone()).unwrap();
        assert_eq!((record.parent_id.as_deref(), record.model.as_deref()), (Some("q"), Some("gpt-4o")));
        assert_eq!(serde_json::to_value(&record).unwrap(), value);
    }

    #[test]
    fn control_and_unknown_messages() {
        assert_eq!(Event::from_json(&json!({"headers":{"control":"reset"}})), Event::Reset);
        assert_eq!(Event::from_json(&json!({"headers":{"control":"snapshot-start"}})), Event::Other);
        assert_eq!(Event::from_json(&json!({"type":"reaction","key":"r","value":{}})), Event::Other);
        assert_eq!(Event::from_json(&json!({"type":"chunk","value":{"messageId":"m"}})), Event::Other);
        assert_eq!(Role::parse("assistant"), Some(Role::Assistant));
        assert_eq!(Role::parse("robot"), None);
    }
}
