//! Assistant replies from each provider, written into a real session on the real
//! streams server: exact text, one `message-end`, gap-free `seq`; failures as `error`
//! chunks; stop from another device; the API key kept out of everything.

mod common;

use std::time::{Duration, Instant};

use common::http_proxy::RecordingProxy;
use common::providers::{anthropic_end, anthropic_error, anthropic_reply, openai_reply, FakeProvider, Script, Step};
use common::servers::Stack;
use common::CapturedLogs;
use serde_json::Value;
use superset_chat::{Chunk, Conversation, Event, MessageStatus};
use superset_client::assistant::anthropic::Anthropic;
use superset_client::assistant::echo::{self, Echo};
use superset_client::assistant::openai::OpenAi;
use superset_client::assistant::settings::ApiKey;
use superset_client::assistant::{generate, GenerationOptions, Outcome, Provider};
use superset_client::chats::chat_stream;
use superset_client::servers::ServerUrls;
use superset_client::subscription::json_messages;
use superset_client::{ClientError, RetryPolicy, SessionManager, StoredToken, TokenStore};
use tokio_util::sync::CancellationToken;
use url::Url;

const KEY: &str = "sk-ant-test-SECRET-4242";

struct Chat {
    stack: Stack,
    _home: tempfile::TempDir,
    manager: SessionManager,
    token: String,
    session: String,
    /// The user message the next reply answers.
    question: std::sync::Mutex<String>,
}

/// A signed-in user with a session holding one message, `question`.
async fn chat(question: &str) -> Chat {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.com").await;
    let streams = stack.streams.clone();
    chat_via(stack, token, streams, question).await
}

async fn chat_via(stack: Stack, token: String, streams: Url, question: &str) -> Chat {
    let (home, manager) = manager(&stack, &streams, &token);
    let session = uuid::Uuid::new_v4().to_string();
    manager.create_chat(&session).await.unwrap();
    let question = manager.send_message(&session, question, None).await.unwrap();
    Chat { stack, _home: home, manager, token, session, question: question.into() }
}

/// As [`chat`], with the streams server reached through a [`RecordingProxy`].
async fn chat_through_proxy(question: &str) -> (Chat, RecordingProxy) {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.com").await;
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let proxy_url = proxy.url.clone();
    (chat_via(stack, token, proxy_url, question).await, proxy)
}

fn manager(stack: &Stack, streams: &Url, token: &str) -> (tempfile::TempDir, SessionManager) {
    let home = tempfile::tempdir().unwrap();
    let store = TokenStore::new(home.path());
    store.save(&StoredToken::new(token, None)).unwrap();
    let retry =
        RetryPolicy { first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(100), max_attempts: 3 };
    (home, SessionManager::new(ServerUrls { api: stack.api.clone(), streams: streams.clone() }, store, retry))
}

impl Chat {
    async fn reply(&self, provider: &dyn Provider) -> superset_client::assistant::Generation {
        let question = self.question.lock().unwrap().clone();
        self.reply_to(&question, provider).await
    }

    async fn reply_to(&self, question: &str, provider: &dyn Provider) -> superset_client::assistant::Generation {
        let (options, cancel) = (GenerationOptions::default(), CancellationToken::new());
        generate(&self.manager, &self.session, question, provider, options, cancel).await.expect("the generation runs")
    }

    /// Sends `text` after `parent`, as the next question.
    async fn say_after(&self, parent: Option<&str>, text: &str) -> String {
        let id = self.manager.send_message(&self.session, text, parent).await.unwrap();
        *self.question.lock().unwrap() = id.clone();
        id
    }

    /// Sends `text` at the end of the thread shown by default.
    async fn say(&self, text: &str) -> String {
        let leaf = self.conversation().await.latest_leaf().map(str::to_owned);
        self.say_after(leaf.as_deref(), text).await
    }

    async fn events(&self) -> Vec<Value> {
        let (mut events, mut offset) = (Vec::new(), "-1".to_owned());
        loop {
            let read = self.manager.read(&chat_stream(&self.session), &offset).await.unwrap();
            let text = String::from_utf8(read.data.to_vec()).unwrap();
            if !text.trim().is_empty() {
                events.extend(json_messages(&text).unwrap());
            }
            offset = read.next_offset;
            if read.up_to_date {
                return events;
            }
        }
    }

    async fn conversation(&self) -> Conversation {
        let events: Vec<Event> = self.events().await.iter().map(Event::from_json).collect();
        Conversation::from_events(&events)
    }

    /// The chunks of `message_id`, in stream order.
    async fn chunks(&self, message_id: &str) -> Vec<(u64, Chunk)> {
        self.events()
            .await
            .iter()
            .filter_map(|e| match Event::from_json(e) {
                Event::Chunk { record, .. } if record.message_id == message_id => Some((record.seq, record.chunk)),
                _ => None,
            })
            .collect()
    }

    /// Asserts the reply holds exactly `text`, ends once, with seq 0..n-1.
    async fn assert_reply(&self, message_id: &str, text: &str, status: MessageStatus) {
        let conversation = self.conversation().await;
        let message = conversation.message(message_id).expect("the reply is in the session");
        assert_eq!(message.text, text);
        assert_eq!(message.status, status);
        let chunks = self.chunks(message_id).await;
        let seqs: Vec<u64> = chunks.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (0..chunks.len() as u64).collect::<Vec<_>>(), "gap-free seq");
        let ends = chunks.iter().filter(|(_, c)| *c == Chunk::MessageEnd).count();
        assert_eq!(ends, 1, "exactly one message-end");
        assert_eq!(chunks.last().unwrap().1, Chunk::MessageEnd, "message-end comes last");
    }
}

fn anthropic(provider: &FakeProvider) -> Anthropic {
    Anthropic::new(provider.url.clone(), ApiKey::new(KEY), "claude-test")
}

#[tokio::test]
async fn anthropic_stream_becomes_the_reply() {
    let chat = chat("Hi there").await;
    let deltas = ["Hello", ", wor", "ld", "! ✓ ünïcode"];
    let mut steps = anthropic_reply(&deltas, Duration::from_millis(10));
    steps.extend(anthropic_end());
    let provider = FakeProvider::start(Script::stream(steps)).await;
    let reply = chat.reply(&anthropic(&provider)).await;
    assert_eq!(reply.outcome, Outcome::Complete);
    assert_eq!(reply.text, deltas.concat());
    chat.assert_reply(&reply.message_id, &deltas.concat(), MessageStatus::Complete).await;

    let received = provider.received.lock().unwrap()[0].clone();
    assert_eq!(received.headers["x-api-key"], KEY);
    assert_eq!(received.headers["anthropic-version"], "2023-06-01");
    assert_eq!(received.body["stream"], true);
    assert_eq!(received.body["model"], "claude-test");
    assert_eq!(received.body["messages"], serde_json::json!([{"role": "user", "content": "Hi there"}]));
}

#[tokio::test]
async fn openai_compatible_stream_becomes_the_reply_with_history() {
    let chat = chat("First question").await;
    let first = chat.reply(&Echo { pace: Duration::ZERO }).await;
    chat.say("Second question").await;
    let deltas = ["Sure", " thing", "\nwith a newline", " and \"quotes\""];
    let provider = FakeProvider::start(Script::stream(openai_reply(&deltas))).await;
    // A local server needs no key: none is sent.
    let reply = chat.reply(&OpenAi::new(provider.url.clone(), None, "llama3")).await;
    assert_eq!(reply.outcome, Outcome::Complete);
    chat.assert_reply(&reply.message_id, &deltas.concat(), MessageStatus::Complete).await;

    let received = provider.received.lock().unwrap()[0].clone();
    assert!(!received.headers.contains_key("authorization"));
    assert_eq!(
        received.body["messages"],
        serde_json::json!([
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": first.text},
            {"role": "user", "content": "Second question"},
        ])
    );
    // With a key, it goes as a bearer token.
    let provider = FakeProvider::start(Script::stream(openai_reply(&["ok"]))).await;
    chat.reply(&OpenAi::new(provider.url.clone(), Some(ApiKey::new("sk-openai")), "gpt")).await;
    assert_eq!(provider.received.lock().unwrap()[0].headers["authorization"], "Bearer sk-openai");
}

#[tokio::test]
async fn echo_needs_nothing_and_streams_word_by_word() {
    let chat = chat("streams back my words").await;
    let reply = chat.reply(&Echo { pace: Duration::from_millis(30) }).await;
    let expected = echo::reply_to("streams back my words");
    assert_eq!(reply.text, expected);
    chat.assert_reply(&reply.message_id, &expected, MessageStatus::Complete).await;
    let deltas =
        chat.chunks(&reply.message_id).await.iter().filter(|(_, c)| matches!(c, Chunk::TextDelta { .. })).count();
    assert!(deltas > 1, "the reply arrived in pieces, not at once ({deltas})");
}

#[tokio::test]
async fn a_fast_model_is_batched_into_few_requests() {
    let chat = chat("go fast").await;
    let words: Vec<String> = (0..400).map(|i| format!("w{i} ")).collect();
    let deltas: Vec<&str> = words.iter().map(String::as_str).collect();
    let provider = FakeProvider::start(Script::stream(openai_reply(&deltas))).await;
    let reply = chat.reply(&OpenAi::new(provider.url.clone(), None, "fast")).await;
    chat.assert_reply(&reply.message_id, &deltas.concat(), MessageStatus::Complete).await;
    let writes = chat.chunks(&reply.message_id).await.len();
    assert!(writes < 40, "400 deltas took {writes} chunk writes");
}

/// Each way a provider fails ends the reply with a readable `error` chunk and one
/// `message-end`; the session takes the next turn as usual.
#[tokio::test]
async fn provider_failures_become_error_chunks_and_the_session_stays_usable() {
    let mut mid_stream = anthropic_reply(&["Par", "tial"], Duration::ZERO);
    mid_stream.push(anthropic_error("Overloaded"));
    let mut dropped = anthropic_reply(&["cut ", "off"], Duration::ZERO);
    dropped.push(Step::Drop);
    let cases = [
        (Script::stream(mid_stream), "Partial", "Overloaded"),
        (Script::stream(dropped), "cut off", "Lost the connection to Anthropic. Check"),
        (
            Script::error(
                401,
                r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
            ),
            "",
            "refused the API key",
        ),
        (
            Script {
                headers: vec![("content-type", "application/json".into()), ("retry-after", "7".into())],
                ..Script::error(429, r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#)
            },
            "",
            "retry after 7 s",
        ),
        (
            Script::error(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
            "",
            "answered 529: Overloaded",
        ),
    ];
    let chat = chat("Tell me").await;
    for (script, partial, says) in cases {
        let provider = FakeProvider::start(script).await;
        let reply = chat.reply(&anthropic(&provider)).await;
        let Outcome::Failed(error) = &reply.outcome else { panic!("expected a failure, got {:?}", reply.outcome) };
        assert!(error.to_string().contains(says), "{error} should say {says:?}");
        assert!(!error.to_string().contains("http"), "no address in what people read: {error}");
        chat.assert_reply(&reply.message_id, partial, MessageStatus::Failed).await;
        let conversation = chat.conversation().await;
        let shown = conversation.message(&reply.message_id).unwrap().error.clone().unwrap();
        assert!(shown.contains(says), "{shown}");
        assert!(!shown.contains(KEY));

        chat.say("again").await;
        let next = chat.reply(&Echo { pace: Duration::ZERO }).await;
        assert_eq!(next.outcome, Outcome::Complete, "the session stays usable");
    }
    // An OpenAI-style error mid-stream, and a 5xx.
    let mut steps = openai_reply(&["half"]);
    steps.truncate(3);
    steps
        .push(Step::Send("data: {\"error\":{\"message\":\"The model crashed\",\"type\":\"server_error\"}}\n\n".into()));
    for (script, says) in [
        (Script::stream(steps), "The model crashed"),
        (Script::error(500, r#"{"error":{"message":"The server had an error","type":"server_error"}}"#), "500"),
    ] {
        let provider = FakeProvider::start(script).await;
        let reply = chat.reply(&OpenAi::new(provider.url.clone(), None, "m")).await;
        assert!(matches!(&reply.outcome, Outcome::Failed(e) if e.to_string().contains(says)), "{:?}", reply.outcome);
        chat.assert_reply(&reply.message_id, &reply.text, MessageStatus::Failed).await;
    }
}

fn slow_anthropic() -> Script {
    let words: Vec<String> = (0..200).map(|i| format!("word{i} ")).collect();
    let deltas: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut steps = anthropic_reply(&deltas, Duration::from_millis(50));
    steps.extend(anthropic_end());
    Script::stream(steps)
}

/// Waits until the reply being generated shows some text in the session.
async fn until_streaming(chat: &Chat) -> String {
    for _ in 0..200 {
        if let Some(message) = chat.conversation().await.streaming().filter(|m| !m.text.is_empty()) {
            return message.id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the reply never started streaming");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_from_another_device_ends_the_reply_within_a_second() {
    let chat = std::sync::Arc::new(chat("Write a long essay").await);
    let provider = FakeProvider::start(slow_anthropic()).await;
    let generation = {
        let (chat, provider) = (chat.clone(), anthropic(&provider));
        tokio::spawn(async move { chat.reply(&provider).await })
    };
    let message_id = until_streaming(&chat).await;

    // Another device of the same user asks to stop.
    let (_home, other) = manager(&chat.stack, &chat.stack.streams, &chat.token);
    let stopped_at = Instant::now();
    let stop = reqwest::Client::new()
        .post(chat.stack.streams.join(&format!("v1/sessions/{}/stop", chat.session)).unwrap())
        .bearer_auth(other.token().await.unwrap().secret())
        .json(&serde_json::json!({"messageId": message_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 200);
    let reply = tokio::time::timeout(Duration::from_secs(1), generation).await.expect("stopped within 1 s").unwrap();
    assert!(stopped_at.elapsed() < Duration::from_secs(1));
    assert_eq!(reply.outcome, Outcome::Stopped);
    assert!(*provider.abandoned.lock().unwrap(), "the provider request was abandoned");

    let conversation = chat.conversation().await;
    let message = conversation.message(&message_id).unwrap();
    assert_eq!(message.status, MessageStatus::Stopped);
    assert_eq!(message.text, reply.text, "what was written before the stop is kept");
    let chunks = chat.chunks(&message_id).await;
    assert_eq!(chunks.iter().filter(|(_, c)| *c == Chunk::Stop).count(), 1);
    assert_eq!(chunks.last().unwrap().1, Chunk::MessageEnd);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_cancel_ends_the_reply_within_a_second() {
    let chat = std::sync::Arc::new(chat("Another long one").await);
    let provider = FakeProvider::start(slow_anthropic()).await;
    let cancel = CancellationToken::new();
    let generation = {
        let (chat, provider, cancel) = (chat.clone(), anthropic(&provider), cancel.clone());
        tokio::spawn(async move {
            let question = chat.question.lock().unwrap().clone();
            generate(&chat.manager, &chat.session, &question, &provider, GenerationOptions::default(), cancel)
                .await
                .unwrap()
        })
    };
    let message_id = until_streaming(&chat).await;
    cancel.cancel();
    let reply = tokio::time::timeout(Duration::from_secs(1), generation).await.expect("ended within 1 s").unwrap();
    assert_eq!(reply.outcome, Outcome::Stopped);
    chat.assert_reply(&message_id, &reply.text, MessageStatus::Complete).await;
}

/// The key goes to the provider and nowhere else: not into any event, not into any
/// request to the streams server, not into a log line, even when the provider fails.
#[tokio::test]
async fn the_api_key_never_leaves_for_anywhere_but_the_provider() {
    let (logs, _guard) = CapturedLogs::start();
    let (chat, proxy) = chat_through_proxy("Keep my secrets").await;

    let mut steps = anthropic_reply(&["fine"], Duration::ZERO);
    steps.extend(anthropic_end());
    for script in [Script::stream(steps), Script::error(401, r#"{"type":"error","error":{"message":"bad key"}}"#)] {
        let provider = FakeProvider::start(script).await;
        chat.reply(&anthropic(&provider)).await;
        assert_eq!(provider.received.lock().unwrap()[0].headers["x-api-key"], KEY, "the provider did get it");
    }
    let events = serde_json::to_string(&chat.events().await).unwrap();
    assert!(!events.contains(KEY), "the key is in the session");
    let seen = proxy.seen();
    assert!(seen.len() > 5, "the proxy saw the generation's requests");
    for request in seen {
        assert!(!format!("{request:?}").contains(KEY), "the key went to the streams server: {request:?}");
    }
    assert!(!logs.text().contains(KEY), "the key is in the logs");
}

/// The connection drops after a chunk (or the finish) reached the server and before its
/// answer: it is sent again (a chunk carries its seq) and stored once, and the reply
/// completes.
#[tokio::test]
async fn a_chunk_whose_answer_was_lost_is_sent_again_and_stored_once() {
    let (chat, proxy) = chat_through_proxy("say it once").await;

    proxy.lose_answers("/chunks", 2);
    proxy.lose_answers("/generations/finish", 1);
    let reply = chat.reply(&Echo { pace: Duration::from_millis(30) }).await;
    let expected = echo::reply_to("say it once");
    assert_eq!(reply.text, expected);
    chat.assert_reply(&reply.message_id, &expected, MessageStatus::Complete).await;
    let chunk_posts = proxy.seen().iter().filter(|s| s.method == "POST" && s.target.ends_with("/chunks")).count();
    let stored = chat.chunks(&reply.message_id).await.len();
    assert_eq!(chunk_posts, stored + 2, "two chunks were sent twice, and stored once");
    let finishes = proxy.seen().iter().filter(|s| s.target.ends_with("/generations/finish")).count();
    assert_eq!(finishes, 2, "the finish was sent again");
}

/// The answer to a user's message is lost: the send is repeated with the same message
/// id, the server's "already have it" counts as sent, and the message is there once.
#[tokio::test]
async fn a_message_whose_answer_was_lost_is_sent_once() {
    let (chat, proxy) = chat_through_proxy("first").await;

    proxy.lose_answers("/messages", 1);
    let first = chat.question.lock().unwrap().clone();
    let id =
        chat.manager.send_message(&chat.session, "second", Some(&first)).await.expect("sent despite the lost answer");
    let conversation = chat.conversation().await;
    let texts: Vec<&str> = conversation.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["first", "second"]);
    assert!(conversation.message(&id).is_some(), "the id returned is the stored message's");
    let posts = proxy.seen().iter().filter(|s| s.target.ends_with("/messages")).count();
    assert_eq!(posts, 3, "first, second, and second again");
}

/// A provider that says which model it is, as the configured ones do.
struct Named<P>(P, &'static str);

#[async_trait::async_trait]
impl<P: Provider> Provider for Named<P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn model(&self) -> Option<&str> {
        Some(self.1)
    }

    async fn reply(
        &self,
        history: &[superset_client::assistant::Turn],
    ) -> Result<superset_client::assistant::Deltas, superset_client::assistant::ProviderError> {
        self.0.reply(history).await
    }
}

/// Regenerating a reply and editing a question keep every version in the one chat:
/// each version names its parent (and a reply its model), the threads are right, and
/// the provider is shown the system prompt and the thread being answered, not the
/// other versions.
#[tokio::test]
async fn regenerate_and_edit_make_versions_and_the_provider_sees_only_the_thread() {
    let chat = chat("First question").await;
    let q1 = chat.question.lock().unwrap().clone();
    let a1 = chat.reply(&Echo { pace: Duration::ZERO }).await;
    let system = serde_json::json!({"messageId": uuid::Uuid::new_v4().to_string(), "role": "system",
        "chunk": {"type": "whole-message", "content": "Answer in French."}});
    let url = chat.stack.streams.join(&format!("v1/sessions/{}/chunks", chat.session)).unwrap();
    let answer = reqwest::Client::new().post(url).bearer_auth(&chat.token).json(&system).send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.text().await.unwrap());
    let q2 = chat.say("Second question").await;

    let openai = |text: &'static str| async move {
        let provider = FakeProvider::start(Script::stream(openai_reply(&[text]))).await;
        let named = Named(OpenAi::new(provider.url.clone(), None, "llama3"), "llama3");
        (provider, named)
    };
    let (fake, provider) = openai("Deux").await;
    let a2 = chat.reply(&provider).await;
    let (fake_again, provider) = openai("Deux, encore").await;
    let a2b = chat.reply_to(&q2, &provider).await;
    assert_eq!(a2b.outcome, Outcome::Complete);
    let expected_history = serde_json::json!([
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": a1.text},
        {"role": "user", "content": "Second question"},
    ]);
    assert_eq!(fake.received.lock().unwrap()[0].body["messages"], expected_history);
    assert_eq!(
        fake_again.received.lock().unwrap()[0].body["messages"],
        expected_history,
        "the first version of the reply is not part of the regenerated one's history"
    );

    let conversation = chat.conversation().await;
    assert_eq!(conversation.versions(&a2.message_id), [a2.message_id.as_str(), a2b.message_id.as_str()]);
    assert_eq!(conversation.latest_leaf(), Some(a2b.message_id.as_str()));
    let thread = |leaf: &str| -> Vec<String> { conversation.thread(leaf).iter().map(|m| m.text.clone()).collect() };
    assert_eq!(thread(&a2.message_id), ["First question", a1.text.as_str(), "Second question", "Deux"]);
    assert_eq!(thread(&a2b.message_id), ["First question", a1.text.as_str(), "Second question", "Deux, encore"]);
    assert_eq!(conversation.message(&a2b.message_id).unwrap().model.as_deref(), Some("llama3"));
    assert_eq!(conversation.message(&a1.message_id).unwrap().model.as_deref(), Some("echo"), "echo names itself");
    let events = chat.events().await;
    let first_chunk = events.iter().find(|e| e["value"]["messageId"] == a2b.message_id.as_str()).unwrap();
    assert_eq!(first_chunk["value"]["seq"], 0);
    assert_eq!(
        (&first_chunk["value"]["parentId"], &first_chunk["value"]["model"]),
        (&q2.clone().into(), &"llama3".into())
    );
    let later = events.iter().filter(|e| e["value"]["messageId"] == a2b.message_id.as_str()).skip(1);
    assert!(later.into_iter().all(|e| e["value"].get("parentId").is_none()), "only the first chunk says it");

    // Editing the first question: a new first message, whose reply sees only it.
    let q1b = chat.say_after(None, "First question, edited").await;
    let (fake_edit, provider) = openai("Un").await;
    let a1b = chat.reply(&provider).await;
    assert_eq!(
        fake_edit.received.lock().unwrap()[0].body["messages"],
        serde_json::json!([
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "First question, edited"},
        ])
    );
    let conversation = chat.conversation().await;
    assert_eq!(conversation.versions(&q1), [q1.as_str(), q1b.as_str()]);
    assert_eq!(conversation.latest_leaf(), Some(a1b.message_id.as_str()));
    let thread: Vec<&str> = conversation.thread(&a2.message_id).iter().map(|m| m.id.as_str()).collect();
    assert_eq!(thread, [q1.as_str(), a1.message_id.as_str(), q2.as_str(), a2.message_id.as_str()], "still reachable");

    // A reply to a message that is not there is refused before anything is written.
    let error = generate(
        &chat.manager,
        &chat.session,
        &uuid::Uuid::new_v4().to_string(),
        &Echo { pace: Duration::ZERO },
        GenerationOptions::default(),
        CancellationToken::new(),
    )
    .await
    .err()
    .expect("refused");
    assert!(matches!(error, ClientError::NoSuchMessage(_)), "{error}");
    assert!(error.to_string().contains("no longer in this chat"), "{error}");
}

/// A chat's system prompt is a whole `system` message in the session: Anthropic gets
/// it as its top-level `system`, an OpenAI-compatible server as a `system` message,
/// and the reply records the model that wrote it.
#[tokio::test]
async fn the_system_prompt_reaches_each_provider_its_way() {
    let chat = chat("Who are you?").await;
    let prompt = "You are a terse pirate.";
    let id = chat.manager.set_system_prompt(&chat.session, prompt).await.unwrap();
    let conversation = chat.conversation().await;
    let system = conversation.message(&id).expect("the prompt is in the session");
    assert_eq!((system.role, system.text.as_str()), (superset_chat::Role::System, prompt));

    let mut steps = anthropic_reply(&["Arr."], Duration::ZERO);
    steps.extend(anthropic_end());
    let provider = FakeProvider::start(Script::stream(steps)).await;
    let claude = anthropic(&provider);
    assert_eq!(claude.model(), Some("claude-test"));
    chat.reply(&claude).await;
    let body = provider.received.lock().unwrap()[0].body.clone();
    assert_eq!(body["system"], prompt);
    assert!(body["messages"].as_array().unwrap().iter().all(|m| m["role"] != "system"), "{body}");

    let provider = FakeProvider::start(Script::stream(openai_reply(&["Arr."]))).await;
    chat.reply(&OpenAi::new(provider.url.clone(), None, "llama3")).await;
    let body = provider.received.lock().unwrap()[0].body.clone();
    let messages = body["messages"].as_array().unwrap();
    assert!(messages.contains(&serde_json::json!({"role": "system", "content": prompt})), "{body}");
}
