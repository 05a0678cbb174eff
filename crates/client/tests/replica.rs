//! The local replica against the real servers: written while following, resumed from
//! its offset without reading anything old, rebuilt when damaged, and the outbox sent
//! in order and exactly once across a restart and a lost answer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::http_proxy::RecordingProxy;
use common::servers::Stack;
use serde_json::Value;
use superset_chat::{Conversation, Event};
use superset_client::chats::chat_stream;
use superset_client::replica::sync::Following;
use superset_client::replica::{Flushed, Outgoing, Replicas};
use superset_client::servers::ServerUrls;
use superset_client::subscription::json_messages;
use superset_client::{ClientError, RetryPolicy, SessionManager, StoredToken, StreamEvent, TokenStore};
use url::Url;

fn fast_retries() -> RetryPolicy {
    RetryPolicy { first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(200), max_attempts: 4 }
}

/// A signed-in client whose streams server is `streams` (the server, a proxy, or
/// nothing at all), with its replicas.
struct Client {
    home: tempfile::TempDir,
    manager: SessionManager,
    replicas: Arc<Replicas>,
}

impl Client {
    fn new(stack: &Stack, streams: &Url, token: &str) -> Client {
        let home = tempfile::tempdir().unwrap();
        Self::in_home(home, stack, streams, token)
    }

    fn in_home(home: tempfile::TempDir, stack: &Stack, streams: &Url, token: &str) -> Client {
        let store = TokenStore::new(home.path());
        store.save(&StoredToken::new(token, None)).unwrap();
        let urls = ServerUrls { api: stack.api.clone(), streams: streams.clone() };
        let manager = SessionManager::new(urls, store, fast_retries());
        let replicas = Arc::new(Replicas::open(home.path(), "user-1").unwrap());
        Client { home, manager, replicas }
    }

    /// The same home after a restart: a new manager and new replicas over the same files.
    fn restarted(self, stack: &Stack, streams: &Url, token: &str) -> Client {
        Self::in_home(self.home, stack, streams, token)
    }
}

/// A new chat with these user messages.
async fn chat_with(manager: &SessionManager, texts: &[&str]) -> String {
    let chat = uuid::Uuid::new_v4().to_string();
    manager.create_chat(&chat).await.unwrap();
    for text in texts {
        manager.send_message(&chat, text, None).await.unwrap();
    }
    chat
}

/// The chat as the server has it.
async fn server_texts(manager: &SessionManager, chat: &str) -> Vec<String> {
    let read = manager.read(&chat_stream(chat), "-1").await.unwrap();
    let messages = json_messages(std::str::from_utf8(&read.data).unwrap()).unwrap();
    texts(&conversation(&messages))
}

fn conversation(messages: &[Value]) -> Conversation {
    let events: Vec<Event> = messages.iter().map(Event::from_json).collect();
    Conversation::from_events(&events)
}

fn texts(conversation: &Conversation) -> Vec<String> {
    conversation.messages.iter().map(|m| m.text.clone()).collect()
}

/// The messages a subscription delivers until it is up to date.
async fn until_up_to_date(following: &mut Following) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), following.next())
            .await
            .expect("the subscription went quiet")
            .expect("the subscription ended");
        match event.expect("no error") {
            StreamEvent::Data { data, .. } => messages.extend(json_messages(&data).unwrap()),
            StreamEvent::UpToDate { .. } => return messages,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// A streams URL where nothing listens: the servers are unreachable.
async fn nowhere() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    url
}

#[tokio::test]
async fn following_writes_the_replica_and_the_next_follow_resumes_from_its_offset() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let client = Client::new(&stack, &proxy.url, &token);
    let chat = chat_with(&client.manager, &["one", "two"]).await;

    let (replica, mut following) = client.replicas.follow(&client.manager, &chat).unwrap();
    assert!(replica.is_none());
    let first = until_up_to_date(&mut following).await;
    drop(following);
    let replica = client.replicas.load(&chat).unwrap().expect("written while following");
    assert_eq!(replica.messages, first);
    assert_eq!(texts(&replica.conversation()), ["one", "two"]);

    client.manager.send_message(&chat, "three", None).await.unwrap();
    let (replica, mut following) = client.replicas.follow(&client.manager, &chat).unwrap();
    let resumed_at = replica.unwrap().offset;
    let second = until_up_to_date(&mut following).await;
    assert_eq!(texts(&conversation(&second)), ["three"], "only what the replica did not have");
    let sse: Vec<_> = proxy.seen().into_iter().filter(|s| s.is_sse()).collect();
    assert_eq!(sse.last().unwrap().query("offset").as_deref(), Some(resumed_at.as_str()));
    assert_eq!(texts(&client.replicas.load(&chat).unwrap().unwrap().conversation()), ["one", "two", "three"]);
}

#[tokio::test]
async fn a_background_sync_reads_every_chat_once_and_then_only_what_is_new() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let client = Client::new(&stack, &proxy.url, &token);
    let mut chats = Vec::new();
    for n in 0..6 {
        chats.push(chat_with(&client.manager, &[&format!("hello {n}")]).await);
    }

    let outcomes = client.replicas.catch_up_all(&client.manager, chats.clone()).await;
    assert_eq!(outcomes.len(), 6);
    assert!(outcomes.iter().all(|(_, read)| read.as_ref().is_ok_and(|&n| n == 1)), "{outcomes:?}");
    for (n, chat) in chats.iter().enumerate() {
        let replica = client.replicas.load(chat).unwrap().unwrap();
        assert_eq!(texts(&replica.conversation()), [format!("hello {n}")]);
    }

    client.manager.send_message(&chats[2], "more", None).await.unwrap();
    let before = proxy.seen().len();
    let outcomes = client.replicas.catch_up_all(&client.manager, chats.clone()).await;
    let new: usize = outcomes.iter().map(|(_, read)| *read.as_ref().unwrap()).sum();
    assert_eq!(new, 1, "only the new message was read");
    let reads: Vec<_> = proxy.seen()[before..].iter().filter(|s| s.method == "GET").cloned().collect();
    assert_eq!(reads.len(), 6);
    assert!(reads.iter().all(|s| s.query("offset").is_some_and(|o| o != "-1")), "{reads:?}");
    assert_eq!(texts(&client.replicas.load(&chats[2]).unwrap().unwrap().conversation()), ["hello 2", "more"]);
}

#[tokio::test]
async fn a_torn_last_line_resumes_before_it_and_a_damaged_replica_is_read_again() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let client = Client::new(&stack, &stack.streams, &token);
    let chat = chat_with(&client.manager, &["one"]).await;
    client.replicas.catch_up(&client.manager, &chat).await.unwrap();
    client.manager.send_message(&chat, "two", None).await.unwrap();
    let path = client.home.path().join(format!("replicas/user-1/{chat}.jsonl"));

    // A crash in the middle of writing "two": the torn line is dropped, and "two" read
    // again from the offset before it.
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, [whole.as_slice(), br#"{"offset":"9999","messages":[{"ty"#].concat()).unwrap();
    assert_eq!(client.replicas.catch_up(&client.manager, &chat).await.unwrap(), 1);
    assert_eq!(texts(&client.replicas.load(&chat).unwrap().unwrap().conversation()), ["one", "two"]);

    // Damage before the end: never shown, read again from the start.
    let whole = std::fs::read(&path).unwrap();
    std::fs::write(&path, [b"{\"offset\":\"1\",\"messages\":[]}\ngarbage\n".as_slice(), whole.as_slice()].concat())
        .unwrap();
    assert!(client.replicas.load(&chat).unwrap().is_none());
    assert_eq!(client.replicas.catch_up(&client.manager, &chat).await.unwrap(), 2);
    assert_eq!(texts(&client.replicas.load(&chat).unwrap().unwrap().conversation()), ["one", "two"]);
}

#[tokio::test]
async fn a_deleted_chat_loses_its_replica() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let client = Client::new(&stack, &stack.streams, &token);
    let chat = chat_with(&client.manager, &["one"]).await;
    client.replicas.catch_up(&client.manager, &chat).await.unwrap();
    client.manager.delete_chat(&chat).await.unwrap();
    client.replicas.catch_up(&client.manager, &chat).await.unwrap();
    assert!(client.replicas.load(&chat).unwrap().is_none());
}

/// Typed offline, the messages wait in the outbox; once the servers are back they go
/// in order, each once: across a restart after a send whose dequeue never happened,
/// and across an answer lost on the way back.
#[tokio::test]
async fn queued_messages_are_sent_in_order_exactly_once_across_a_restart_and_a_lost_answer() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let online = Client::new(&stack, &stack.streams, &token);
    let chat = chat_with(&online.manager, &["before"]).await;
    drop(online);

    let offline = Client::new(&stack, &nowhere().await, &token);
    let queued: Vec<Outgoing> =
        ["first", "second", "third"].iter().map(|t| Outgoing::new(&chat, t, None, None)).collect();
    for message in &queued {
        offline.replicas.queue(message).unwrap();
    }
    let mut told = Vec::new();
    let flushed = offline.replicas.flush(&offline.manager, |f| told.push(f)).await;
    assert!(matches!(flushed, Err(ClientError::Unavailable { .. })), "{flushed:?}");
    assert!(told.is_empty());
    assert_eq!(offline.replicas.queued(), queued, "nothing lost, nothing reordered");

    // "first" reached the server, then the app stopped before taking it out.
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let back = offline.restarted(&stack, &proxy.url, &token);
    back.manager.send_message_with_id(&chat, &queued[0].message_id, "first", None).await.unwrap();
    assert_eq!(back.replicas.queued().len(), 3);
    // And the answer to "second" is lost after the server stored it.
    proxy.lose_answers("/messages", 1);
    let mut sent = Vec::new();
    back.replicas
        .flush(&back.manager, |f| match f {
            Flushed::Sent(m) => sent.push(m.content),
            Flushed::Refused(m, e) => panic!("{} refused: {e}", m.content),
        })
        .await
        .unwrap();
    assert_eq!(sent, ["first", "second", "third"]);
    assert!(back.replicas.queued().is_empty());
    assert_eq!(server_texts(&back.manager, &chat).await, ["before", "first", "second", "third"]);
    let posts = proxy.seen().iter().filter(|s| s.method == "POST" && s.target.ends_with("/messages")).count();
    assert_eq!(posts, 1 + 4, "first twice, second twice (its answer lost), third once");
}

#[tokio::test]
async fn a_queued_message_for_a_deleted_chat_is_refused_without_blocking_the_rest() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let client = Client::new(&stack, &stack.streams, &token);
    let gone = chat_with(&client.manager, &[]).await;
    let kept = chat_with(&client.manager, &[]).await;
    client.manager.delete_chat(&gone).await.unwrap();
    client.replicas.queue(&Outgoing::new(&gone, "lost", None, None)).unwrap();
    client.replicas.queue(&Outgoing::new(&kept, "kept", None, None)).unwrap();
    let mut outcomes = Vec::new();
    client.replicas.flush(&client.manager, |f| outcomes.push(matches!(f, Flushed::Sent(_)))).await.unwrap();
    assert_eq!(outcomes, [false, true]);
    assert_eq!(server_texts(&client.manager, &kept).await, ["kept"]);
}

/// Sign-out as the desktop does it: the token, then every replica, the outbox and the
/// cached user go.
#[tokio::test]
async fn sign_out_deletes_the_replicas_with_the_token() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let client = Client::new(&stack, &stack.streams, &token);
    let chat = chat_with(&client.manager, &["private"]).await;
    client.replicas.catch_up(&client.manager, &chat).await.unwrap();
    client.replicas.queue(&Outgoing::new(&chat, "unsent", None, None)).unwrap();
    let me = client.manager.me().await.unwrap();
    client.replicas.save_user(&me.user).unwrap();
    assert_eq!(Replicas::cached_user(client.home.path()).unwrap().email, "ada@example.test");

    let signed_out = client.manager.sign_out().await.unwrap();
    Replicas::clear_all(client.home.path()).unwrap();
    assert!(signed_out.was_signed_in && signed_out.revoked_on_server);
    assert!(client.manager.token().await.is_none());
    assert!(!client.home.path().join("replicas").exists());
    assert!(Replicas::cached_user(client.home.path()).is_none());
    assert!(client.replicas.load(&chat).unwrap().is_none());
    assert!(client.replicas.queued().is_empty());
}
