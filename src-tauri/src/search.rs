//! The search index of every chat of the account, kept here so a query never waits on
//! the network. Until chats have local replicas, the index is filled from the server
//! in the background whenever the chat list is read (after sign-in, at start-up, on
//! refresh), reading only chats that changed since, a few at a time; an open chat's
//! subscription keeps its entry current as messages arrive.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use superset_chat::Conversation;
use superset_client::assistant::generation::conversation;
use superset_client::chats::ChatInfo;
use superset_client::search::{Index, SearchHit};
use superset_client::SessionManager;

/// Chats read from the server at once while filling the index.
const CONCURRENT_READS: usize = 4;

#[derive(Default)]
pub struct Search {
    index: RwLock<Index>,
    /// By chat id, what the chat list last said of it.
    indexed: Mutex<HashMap<String, Listed>>,
}

/// A chat as the chat list showed it when it was indexed.
struct Listed {
    /// The `lastActivityAt` its indexed text is from.
    activity: String,
    /// Its title, for when the chat's stream holds none (an untitled start renamed later
    /// through the list is also in the stream; this covers older chats).
    title: Option<String>,
}

impl Search {
    pub fn query(&self, query: &str, limit: usize) -> Vec<SearchHit> {
        self.index.read().unwrap().query(query, limit)
    }

    /// A chat's conversation as it now stands (from its subscription).
    pub fn put(&self, chat_id: &str, conversation: &Conversation) {
        let listed = self.indexed.lock().unwrap().get(chat_id).and_then(|l| l.title.clone());
        let title = conversation.title.as_deref().or(listed.as_deref());
        self.index.write().unwrap().put(chat_id, title, conversation);
    }

    pub fn remove(&self, chat_id: &str) {
        self.index.write().unwrap().remove(chat_id);
        self.indexed.lock().unwrap().remove(chat_id);
    }

    /// Forgets everything (sign-out).
    pub fn clear(&self) {
        self.index.write().unwrap().clear();
        self.indexed.lock().unwrap().clear();
    }

    /// Brings the index in line with the account's chats, in the background: forgets
    /// deleted ones and reads those new or changed since they were indexed.
    pub fn refresh(self: &Arc<Self>, manager: SessionManager, chats: Vec<ChatInfo>) {
        let stale = self.forget_all_but(&chats);
        if stale.is_empty() {
            return;
        }
        let search = Arc::clone(self);
        tauri::async_runtime::spawn(async move {
            let reads = futures::stream::iter(stale).map(|chat| {
                let manager = &manager;
                async move { (conversation(manager, &chat.chat_id).await, chat) }
            });
            let mut reads = reads.buffer_unordered(CONCURRENT_READS);
            while let Some((read, chat)) = reads.next().await {
                match read {
                    Ok((conversation, _)) => search.put_read(&chat, &conversation),
                    Err(e) => {
                        tracing::info!(error = %e, "a chat could not be read for search; it is tried again later");
                        search.indexed.lock().unwrap().remove(&chat.chat_id);
                    }
                }
            }
        });
    }

    /// Removes chats not in `chats`; answers those to read, noted as indexed already so
    /// a refresh meanwhile does not read them again.
    fn forget_all_but(&self, chats: &[ChatInfo]) -> Vec<ChatInfo> {
        let mut indexed = self.indexed.lock().unwrap();
        let gone: Vec<String> = indexed.keys().filter(|id| !chats.iter().any(|c| &c.chat_id == *id)).cloned().collect();
        let mut index = self.index.write().unwrap();
        for id in gone {
            index.remove(&id);
            indexed.remove(&id);
        }
        let stale: Vec<ChatInfo> = chats
            .iter()
            .filter(|c| indexed.get(&c.chat_id).is_none_or(|l| l.activity != c.last_activity_at || l.title != c.title))
            .cloned()
            .collect();
        for chat in &stale {
            let listed = Listed { activity: chat.last_activity_at.clone(), title: chat.title.clone() };
            indexed.insert(chat.chat_id.clone(), listed);
        }
        stale
    }

    fn put_read(&self, chat: &ChatInfo, conversation: &Conversation) {
        self.index.write().unwrap().put(&chat.chat_id, chat.title.as_deref(), conversation);
    }
}

#[cfg(test)]
mod tests {
    use superset_chat::{Chunk, ChunkRecord, Event, Role};

    use super::*;

    fn chat(id: &str, activity: &str, title: Option<&str>) -> ChatInfo {
        ChatInfo {
            chat_id: id.into(),
            title: title.map(str::to_owned),
            created_at: "2026-01-01T00:00:00Z".into(),
            last_activity_at: activity.into(),
            stream_url: format!("http://127.0.0.1:1/v1/stream/sessions/{id}"),
        }
    }

    fn said(text: &str) -> Conversation {
        Conversation::from_events(&[Event::Chunk {
            record: ChunkRecord {
                message_id: "m1".into(),
                actor_id: "u1".into(),
                role: Role::User,
                seq: 0,
                chunk: Chunk::WholeMessage { content: text.into() },
                parent_id: None,
                model: None,
                created_at: "2026-01-01T00:00:00Z".into(),
            },
            txid: None,
        }])
    }

    #[test]
    fn a_refresh_reads_only_new_or_changed_chats_and_forgets_deleted_ones() {
        let search = Search::default();
        let (a, b) = (chat("a", "t1", Some("Alpha")), chat("b", "t1", None));
        let stale = search.forget_all_but(&[a.clone(), b.clone()]);
        assert_eq!(stale.len(), 2);
        search.put_read(&a, &said("apples"));
        search.put_read(&b, &said("bananas"));
        assert!(search.forget_all_but(&[a.clone(), b.clone()]).is_empty(), "nothing changed, nothing to read");

        let changed = chat("a", "t2", Some("Alpha"));
        let stale = search.forget_all_but(&[changed]);
        assert_eq!(stale.iter().map(|c| c.chat_id.as_str()).collect::<Vec<_>>(), ["a"]);
        assert!(search.query("bananas", 10).is_empty(), "a chat gone from the list is gone from search");
        assert_eq!(search.query("apples", 10).len(), 1);
    }

    #[test]
    fn a_subscription_update_keeps_the_listed_title() {
        let search = Search::default();
        let a = chat("a", "t1", Some("Shopping"));
        search.forget_all_but(std::slice::from_ref(&a));
        search.put_read(&a, &said("apples"));
        search.put("a", &said("apples and pears"));
        let hits = search.query("pears", 10);
        assert_eq!(hits[0].chat_title.as_deref(), Some("Shopping"));
        assert_eq!(search.query("shopping", 10)[0].message_id, None);
        search.clear();
        assert!(search.query("pears", 10).is_empty());
    }
}
