//! Each user's list of chat sessions, kept as a JSON stream of small change records at
//! `sessions/_index` in the user's namespace: creations, renames, activity, deletions.
//! A server replays it once and then follows it incrementally, which also picks up
//! what other instances wrote.

use std::collections::HashMap;

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;

use super::{for_each_message, stream_key, Sessions, STREAM_PREFIX};
use crate::store::{Append, CreateStream, ReadFrom, StoreError, StreamKey};

/// What the API shows of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMeta {
    pub session_id: String,
    pub title: Option<String>,
    pub created_at: String,
    pub last_activity_at: String,
    pub stream_url: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Record {
    Create { id: String, title: Option<String>, at: String },
    Rename { id: String, title: String, at: String },
    Touch { id: String, at: String },
    Delete { id: String, at: String },
}

#[derive(Default)]
pub struct Index {
    /// Offset up to which the index stream has been applied.
    next: Option<u64>,
    sessions: HashMap<String, SessionMeta>,
}

impl Index {
    pub fn contains(&self, id: &str) -> bool {
        self.sessions.contains_key(id)
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Create { id, title, at } => {
                self.sessions.entry(id.clone()).or_insert_with(|| SessionMeta {
                    stream_url: format!("/v1/stream/{STREAM_PREFIX}{id}"),
                    session_id: id,
                    title,
                    created_at: at.clone(),
                    last_activity_at: at,
                });
            }
            Record::Rename { id, title, at } => {
                if let Some(meta) = self.sessions.get_mut(&id) {
                    meta.title = Some(title);
                    meta.last_activity_at = at;
                }
            }
            Record::Touch { id, at } => {
                if let Some(meta) = self.sessions.get_mut(&id) {
                    meta.last_activity_at = at;
                }
            }
            Record::Delete { id, .. } => {
                self.sessions.remove(&id);
            }
        }
    }
}

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn index_key(owner: &str) -> StreamKey {
    stream_key(owner, "_index")
}

impl Sessions {
    /// The owner's sessions, newest activity first.
    pub async fn list(&self, owner: &str) -> Result<Vec<SessionMeta>, StoreError> {
        let index = self.index(owner);
        let mut index = index.lock().await;
        self.catch_up_index(owner, &mut index).await?;
        let mut sessions: Vec<_> = index.sessions.values().cloned().collect();
        sessions.sort_by(|a, b| {
            (&b.last_activity_at, &b.created_at, &b.session_id).cmp(&(
                &a.last_activity_at,
                &a.created_at,
                &a.session_id,
            ))
        });
        Ok(sessions)
    }

    /// The owner's index, caught up, held for the creation of a session: while it is
    /// held no other session of the owner is created through this instance, so the
    /// creation's checks (is the id free, is there room) cannot race another's.
    pub async fn hold_index(&self, owner: &str) -> Result<OwnedMutexGuard<Index>, StoreError> {
        let mut index = self.index(owner).lock_owned().await;
        self.catch_up_index(owner, &mut index).await?;
        Ok(index)
    }

    /// Whether a new session may join the owner's `index`.
    pub fn has_room(&self, index: &Index) -> bool {
        (index.sessions.len() as u64) < self.max_sessions
    }

    pub async fn meta(&self, owner: &str, id: &str) -> Result<Option<SessionMeta>, StoreError> {
        let index = self.index(owner);
        let mut index = index.lock().await;
        self.catch_up_index(owner, &mut index).await?;
        Ok(index.sessions.get(id).cloned())
    }

    /// Whether the owner has this session, for routes that go on to write its stream. A
    /// session this process already knows is not looked up again: had it been deleted
    /// meanwhile (here or by another instance), the write finds its stream gone and the
    /// answer is 404 just the same. An id not known yet is looked up, so a session just
    /// created through another instance is found.
    pub async fn has(&self, owner: &str, id: &str) -> Result<bool, StoreError> {
        let index = self.index(owner);
        let mut index = index.lock().await;
        if !index.sessions.contains_key(id) {
            self.catch_up_index(owner, &mut index).await?;
        }
        Ok(index.sessions.contains_key(id))
    }

    pub(super) async fn record_create(&self, owner: &str, id: &str, title: Option<String>) -> Result<(), StoreError> {
        self.record(owner, Record::Create { id: id.to_owned(), title, at: now() }).await
    }

    pub(super) async fn record_rename(&self, owner: &str, id: &str, title: String) -> Result<(), StoreError> {
        self.record(owner, Record::Rename { id: id.to_owned(), title, at: now() }).await
    }

    pub(super) async fn record_activity(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        self.record(owner, Record::Touch { id: id.to_owned(), at: now() }).await
    }

    pub(super) async fn record_delete(&self, owner: &str, id: &str) -> Result<(), StoreError> {
        self.record(owner, Record::Delete { id: id.to_owned(), at: now() }).await
    }

    async fn record(&self, owner: &str, record: Record) -> Result<(), StoreError> {
        let value = serde_json::to_value(&record).expect("records serialize");
        let key = index_key(owner);
        match self.store.append(&key, Append::json(&value)).await {
            Err(StoreError::NotFound) => {
                self.store.create(&key, CreateStream::new("application/json")).await?;
                self.store.append(&key, Append::json(&value)).await?;
            }
            other => {
                other?;
            }
        }
        Ok(())
    }

    async fn catch_up_index(&self, owner: &str, index: &mut Index) -> Result<(), StoreError> {
        let from = index.next.map_or(ReadFrom::Start, ReadFrom::At);
        let read = for_each_message(&*self.store, &index_key(owner), from, |message| {
            match serde_json::from_value(message.value) {
                Ok(record) => index.apply(record),
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable session index record"),
            }
        })
        .await;
        // Records are applied as they are read, so what a failed read did apply must
        // be read again from where it started: from scratch.
        match read {
            Ok(next) => index.next = Some(next),
            Err(StoreError::NotFound) => {}
            Err(e) => {
                *index = Index::default();
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_replay_into_metadata() {
        let mut index = Index::default();
        index.apply(Record::Create { id: "a".into(), title: None, at: "1".into() });
        index.apply(Record::Create { id: "b".into(), title: Some("B".into()), at: "2".into() });
        index.apply(Record::Rename { id: "a".into(), title: "A".into(), at: "3".into() });
        index.apply(Record::Touch { id: "b".into(), at: "4".into() });
        index.apply(Record::Delete { id: "x".into(), at: "5".into() });
        assert_eq!(index.sessions["a"].title.as_deref(), Some("A"));
        assert_eq!(index.sessions["a"].created_at, "1");
        assert_eq!(index.sessions["b"].last_activity_at, "4");
        assert_eq!(index.sessions["b"].stream_url, "/v1/stream/sessions/b");
        // A second create of an existing id changes nothing.
        index.apply(Record::Create { id: "a".into(), title: None, at: "9".into() });
        assert_eq!(index.sessions["a"].title.as_deref(), Some("A"));
        index.apply(Record::Delete { id: "a".into(), at: "6".into() });
        assert!(!index.sessions.contains_key("a"));
    }
}
