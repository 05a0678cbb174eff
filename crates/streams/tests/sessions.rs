//! The chat-session API on both storage backends (PostgreSQL, and the file store with
//! SQLite for auth), with two users.

mod support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use superset_auth_db::AuthDb;
use superset_chat::{Conversation, Event, MessageStatus};
use superset_streams::StorageKind;
use superset_testkit::{user_with_session, Backend, TestDatabase};
use support::TestServer;
use uuid::Uuid;

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
        mod file {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
    };
}

on_both_backends!(
    users_see_only_their_own_sessions,
    another_users_session_is_404_on_every_route_and_unchanged,
    conversation_survives_a_restart_and_replays_identically,
    concurrent_chunks_get_gap_free_seq,
    a_chunk_retried_with_its_seq_is_written_once,
    fork_copies_exactly_the_prefix,
    bad_input_is_400_naming_the_field,
    rename_stop_reset_and_delete,
    live_subscribers_from_the_start_and_mid_way_agree,
    session_streams_are_read_only_through_the_raw_api,
    parents_and_models_are_stored_and_branch_the_conversation,
);

struct Setup {
    db: TestDatabase,
    data: tempfile::TempDir,
    alice: String,
    alice_id: String,
    bob: String,
}

async fn setup(backend: Backend) -> Setup {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.unwrap();
    let (alice_id, alice) = user_with_session(&auth, "alice@example.com").await;
    let (_, bob) = user_with_session(&auth, "bob@example.com").await;
    Setup { db, data: tempfile::tempdir().unwrap(), alice, alice_id, bob }
}

impl Setup {
    /// A server on this setup's storage: PostgreSQL for the PostgreSQL backend, the
    /// file store (in a directory that outlives restarts) for SQLite.
    async fn server(&self) -> TestServer {
        let postgres = self.db.backend() == Backend::Postgres;
        let dir = self.data.path().to_owned();
        TestServer::start_with(self.db.url(), move |c| {
            c.storage = if postgres { StorageKind::Postgres } else { StorageKind::File };
            c.data_dir = dir;
        })
        .await
    }
}

async fn call(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server.client.request(method, server.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn new_session(server: &TestServer, token: &str) -> String {
    let id = Uuid::new_v4().to_string();
    let (status, body) = call(server, token, Method::PUT, &format!("/v1/sessions/{id}"), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"sessionId": id, "streamUrl": format!("/v1/stream/sessions/{id}")}));
    id
}

/// Writes one turn: a user message, an assistant reply in deltas, its end.
async fn write_turn(server: &TestServer, token: &str, id: &str, question: &str, answer: &[&str]) -> (String, String) {
    let (status, body) =
        call(server, token, Method::POST, &format!("/v1/sessions/{id}/messages"), Some(json!({"content": question})))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let question_id = body["messageId"].as_str().unwrap().to_owned();
    let reply = Uuid::new_v4().to_string();
    let path = |p: &str| format!("/v1/sessions/{id}/{p}");
    assert_eq!(
        call(server, token, Method::POST, &path("generations/start"), Some(json!({"messageId": reply}))).await.0,
        200
    );
    for delta in answer {
        let chunk = json!({"messageId": reply, "role": "assistant", "chunk": {"type": "text-delta", "delta": delta}});
        assert_eq!(call(server, token, Method::POST, &path("chunks"), Some(chunk)).await.0, 200);
    }
    assert_eq!(
        call(server, token, Method::POST, &path("generations/finish"), Some(json!({"messageId": reply}))).await.0,
        200
    );
    (question_id, reply)
}

/// Every event of a session's stream, by catch-up reads from the start.
async fn events(server: &TestServer, token: &str, id: &str) -> Vec<Value> {
    let mut offset = "-1".to_owned();
    let mut all = Vec::new();
    loop {
        let response = server
            .client
            .get(server.url(&format!("/v1/stream/sessions/{id}?offset={offset}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let next = response.headers()["stream-next-offset"].to_str().unwrap().to_owned();
        let up_to_date = response.headers().contains_key("stream-up-to-date");
        let batch: Vec<Value> = response.json().await.unwrap();
        all.extend(batch);
        if up_to_date {
            return all;
        }
        offset = next;
    }
}

fn materialize(events: &[Value]) -> Conversation {
    let events: Vec<Event> = events.iter().map(Event::from_json).collect();
    Conversation::from_events(&events)
}

async fn users_see_only_their_own_sessions(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let a1 = new_session(&server, &s.alice).await;
    let a2 = new_session(&server, &s.alice).await;
    let b1 = new_session(&server, &s.bob).await;
    write_turn(&server, &s.alice, &a1, "first", &["ok"]).await;

    let (_, list) = call(&server, &s.alice, Method::GET, "/v1/sessions", None).await;
    let ids: Vec<&str> =
        list["sessions"].as_array().unwrap().iter().map(|m| m["sessionId"].as_str().unwrap()).collect();
    assert_eq!(ids, [a1.as_str(), a2.as_str()], "newest activity first");
    let (_, list) = call(&server, &s.bob, Method::GET, "/v1/sessions", None).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(list["sessions"][0]["sessionId"], b1);
    // PUT is idempotent for the owner.
    assert_eq!(call(&server, &s.alice, Method::PUT, &format!("/v1/sessions/{a2}"), None).await.0, StatusCode::OK);
    server.stop().await;
}

async fn another_users_session_is_404_on_every_route_and_unchanged(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    let (_, reply) = write_turn(&server, &s.alice, &id, "mine", &["all ", "mine"]).await;
    let before = events(&server, &s.alice, &id).await;

    let message = Uuid::new_v4().to_string();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/sessions/{id}"), None),
        (Method::PATCH, format!("/v1/sessions/{id}"), Some(json!({"title": "hijacked"}))),
        (Method::DELETE, format!("/v1/sessions/{id}"), None),
        (Method::POST, format!("/v1/sessions/{id}/messages"), Some(json!({"content": "hi"}))),
        (Method::POST, format!("/v1/sessions/{id}/generations/start"), Some(json!({"messageId": message}))),
        (
            Method::POST,
            format!("/v1/sessions/{id}/chunks"),
            Some(json!({"messageId": reply, "role": "assistant", "chunk": {"type": "text-delta", "delta": "x"}})),
        ),
        (Method::POST, format!("/v1/sessions/{id}/generations/finish"), Some(json!({"messageId": message}))),
        (Method::POST, format!("/v1/sessions/{id}/stop"), Some(json!({}))),
        (Method::POST, format!("/v1/sessions/{id}/reset"), None),
        (Method::POST, format!("/v1/sessions/{id}/fork"), Some(json!({}))),
        (Method::GET, format!("/v1/stream/sessions/{id}?offset=-1"), None),
        (Method::HEAD, format!("/v1/stream/sessions/{id}"), None),
        (Method::POST, format!("/v1/sessions/{id}/chunks"), Some(json!({"bad": "body"}))),
    ];
    for (method, path, body) in routes {
        let (status, _) = call(&server, &s.bob, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    assert_eq!(events(&server, &s.alice, &id).await, before, "bob changed alice's session");
    let (status, meta) = call(&server, &s.alice, Method::GET, &format!("/v1/sessions/{id}"), None).await;
    assert_eq!((status, &meta["title"]), (StatusCode::OK, &Value::Null));
    // Bob's PUT of the same id makes a session of his own; Alice's is untouched.
    assert_eq!(call(&server, &s.bob, Method::PUT, &format!("/v1/sessions/{id}"), None).await.0, StatusCode::CREATED);
    assert!(events(&server, &s.bob, &id).await.is_empty());
    assert_eq!(events(&server, &s.alice, &id).await, before);
    server.stop().await;
}

async fn conversation_survives_a_restart_and_replays_identically(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    let (question, reply) = write_turn(&server, &s.alice, &id, "What is 2+2?", &["It ", "is ", "4."]).await;
    let before = materialize(&events(&server, &s.alice, &id).await);
    assert_eq!(before.messages.len(), 2);
    assert_eq!(before.message(&question).unwrap().actor_id, s.alice_id);
    assert_eq!(before.message(&reply).unwrap().text, "It is 4.");
    assert_eq!(before.message(&reply).unwrap().actor_id, "assistant");
    assert_eq!(before.message(&reply).unwrap().status, MessageStatus::Complete);
    server.stop().await;

    let server = s.server().await;
    assert_eq!(materialize(&events(&server, &s.alice, &id).await), before);
    // Every route works on a session made before the restart, and seq carries on.
    let (_, list) = call(&server, &s.alice, Method::GET, "/v1/sessions", None).await;
    assert_eq!(list["sessions"][0]["sessionId"], id);
    let (q2, r2) = write_turn(&server, &s.alice, &id, "And 3+3?", &["6."]).await;
    let (status, _) = call(
        &server,
        &s.alice,
        Method::POST,
        &format!("/v1/sessions/{id}/chunks"),
        Some(json!({"messageId": reply, "role": "assistant", "chunk": {"type": "text-delta", "delta": "late"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "an ended message takes no more chunks");
    let after = materialize(&events(&server, &s.alice, &id).await);
    assert_eq!(after.messages.len(), 4);
    assert_eq!(after.message(&q2).unwrap().text, "And 3+3?");
    assert_eq!(after.message(&r2).unwrap().text, "6.");
    server.stop().await;
}

/// `n` chunks of one new assistant message of session `id`, all sent at once, spread
/// over `servers`: every seq 0..n answered exactly once, and stored in that order.
async fn race_chunks(servers: std::sync::Arc<Vec<TestServer>>, token: &str, id: &str, n: u64) {
    let reply = Uuid::new_v4().to_string();
    let writers: Vec<_> = (0..n)
        .map(|i| {
            let (servers, token, id, reply) = (servers.clone(), token.to_owned(), id.to_owned(), reply.clone());
            tokio::spawn(async move {
                let server = &servers[i as usize % servers.len()];
                let chunk = json!({"messageId": reply, "role": "assistant", "txid": format!("t{i}"),
                    "chunk": {"type": "text-delta", "delta": format!("<{i}>")}});
                let (status, body) =
                    call(server, &token, Method::POST, &format!("/v1/sessions/{id}/chunks"), Some(chunk)).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body["seq"].as_u64().unwrap()
            })
        })
        .collect();
    let mut answered = BTreeSet::new();
    for writer in writers {
        assert!(answered.insert(writer.await.unwrap()), "a seq was handed out twice");
    }
    assert_eq!(answered, (0..n).collect());
    let stored: Vec<u64> =
        events(servers.last().unwrap(), token, id).await.iter().map(|e| e["value"]["seq"].as_u64().unwrap()).collect();
    assert_eq!(stored, (0..n).collect::<Vec<_>>(), "in stream order, gap-free");
}

async fn concurrent_chunks_get_gap_free_seq(backend: Backend) {
    let s = setup(backend).await;
    let servers = std::sync::Arc::new(vec![s.server().await]);
    let id = new_session(&servers[0], &s.alice).await;
    const N: u64 = 40;
    race_chunks(servers.clone(), &s.alice, &id, N).await;
    let events = events(&servers[0], &s.alice, &id).await;
    let txids: BTreeSet<&str> = events.iter().map(|e| e["headers"]["txid"].as_str().unwrap()).collect();
    assert_eq!(txids.len(), N as usize, "txid passed through");
}

/// A writer that lost the answer to a chunk sends it again with the same `seq`: it is
/// answered as the first time and stored once. A `seq` that is not a retry's is only an
/// expectation: the chunk is written at the next seq.
async fn a_chunk_retried_with_its_seq_is_written_once(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    let path = format!("/v1/sessions/{id}/chunks");
    let reply = Uuid::new_v4().to_string();
    let delta = |text: &str, seq: u64| json!({"messageId": reply, "role": "assistant", "seq": seq, "chunk": {"type": "text-delta", "delta": text}});
    for (body, status, seq) in [
        (delta("Hel", 0), StatusCode::OK, Some(0)),
        (delta("Hel", 0), StatusCode::OK, Some(0)),
        (delta("lo", 1), StatusCode::OK, Some(1)),
        (delta("lo", 1), StatusCode::OK, Some(1)),
        (delta("!", 7), StatusCode::OK, Some(2)),
        (delta("!", 2), StatusCode::OK, Some(2)),
    ] {
        let (got, answer) = call(&server, &s.alice, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(got, status, "{body} -> {answer}");
        assert_eq!(answer["seq"].as_u64(), seq, "{body} -> {answer}");
    }
    let negative =
        json!({"messageId": reply, "role": "assistant", "seq": -1, "chunk": {"type": "text-delta", "delta": "x"}});
    let (bad, answer) = call(&server, &s.alice, Method::POST, &path, Some(negative)).await;
    assert_eq!(bad, StatusCode::BAD_REQUEST);
    assert!(answer.to_string().contains("`seq`"), "{answer}");

    let conversation = materialize(&events(&server, &s.alice, &id).await);
    assert_eq!(conversation.message(&reply).unwrap().text, "Hello!", "each chunk stored once");
    // A chunk equal to the last but expecting the next seq is new, not a retry.
    let (_, answer) = call(&server, &s.alice, Method::POST, &path, Some(delta("!", 3))).await;
    assert_eq!(answer["seq"], 3);
}

async fn fork_copies_exactly_the_prefix(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    write_turn(&server, &s.alice, &id, "one", &["1"]).await;
    let (_, middle) = write_turn(&server, &s.alice, &id, "two", &["2"]).await;
    write_turn(&server, &s.alice, &id, "three", &["3"]).await;
    let source = events(&server, &s.alice, &id).await;
    let cut = source.iter().rposition(|e| e["value"]["messageId"] == middle.as_str()).unwrap();

    let fork_id = Uuid::new_v4().to_string();
    let (status, body) = call(
        &server,
        &s.alice,
        Method::POST,
        &format!("/v1/sessions/{id}/fork"),
        Some(json!({"atMessageId": middle, "newSessionId": fork_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["sessionId"], fork_id);
    assert_eq!(events(&server, &s.alice, &fork_id).await, source[..=cut]);
    assert_eq!(materialize(&events(&server, &s.alice, &fork_id).await).messages.len(), 4);
    // The fork takes new turns of its own; deleting it leaves the source intact.
    write_turn(&server, &s.alice, &fork_id, "fork only", &["f"]).await;
    assert_eq!(call(&server, &s.alice, Method::DELETE, &format!("/v1/sessions/{fork_id}"), None).await.0, 204);
    assert_eq!(events(&server, &s.alice, &id).await, source);
    assert_eq!(call(&server, &s.alice, Method::GET, &format!("/v1/sessions/{fork_id}"), None).await.0, 404);
    // A fork without a message holds everything.
    let (_, whole) = call(&server, &s.alice, Method::POST, &format!("/v1/sessions/{id}/fork"), Some(json!({}))).await;
    let whole = whole["sessionId"].as_str().unwrap();
    assert_eq!(events(&server, &s.alice, whole).await, source);
    // A fork shares its source's data, which outlives the source's deletion.
    assert_eq!(call(&server, &s.alice, Method::DELETE, &format!("/v1/sessions/{id}"), None).await.0, 204);
    assert_eq!(events(&server, &s.alice, whole).await, source);
    write_turn(&server, &s.alice, whole, "after the source", &["s"]).await;
    server.stop().await;
}

async fn bad_input_is_400_naming_the_field(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    let reply = Uuid::new_v4().to_string();
    let big = "x".repeat(1024 * 1024 + 1);
    let cases: Vec<(String, Value, &str)> = vec![
        (format!("/v1/sessions/{id}/messages"), json!({}), "content"),
        (format!("/v1/sessions/{id}/messages"), json!({"content": 5}), "content"),
        (format!("/v1/sessions/{id}/messages"), json!({"content": big}), "content"),
        (format!("/v1/sessions/{id}/messages"), json!({"content": "hi", "messageId": "42"}), "messageId"),
        (
            format!("/v1/sessions/{id}/chunks"),
            json!({"messageId": reply, "role": "robot", "chunk": {"type": "stop"}}),
            "role",
        ),
        (format!("/v1/sessions/{id}/chunks"), json!({"messageId": reply, "role": "assistant"}), "chunk"),
        (
            format!("/v1/sessions/{id}/chunks"),
            json!({"messageId": reply, "role": "assistant", "chunk": {"type": "dance"}}),
            "chunk",
        ),
        (format!("/v1/sessions/{id}/chunks"), json!({"role": "assistant", "chunk": {"type": "stop"}}), "messageId"),
        (format!("/v1/sessions/{id}/generations/start"), json!({"messageId": "not-a-uuid"}), "messageId"),
        (format!("/v1/sessions/{id}/fork"), json!({"atMessageId": reply}), "atMessageId"),
        ("/v1/sessions/not-a-uuid/messages".to_owned(), json!({"content": "hi"}), "sessionId"),
        (format!("/v1/sessions/{id}/messages"), json!({"content": "hi", "parentId": "q1"}), "parentId"),
        (format!("/v1/sessions/{id}/messages"), json!({"content": "hi", "parentId": reply}), "parentId"),
        (
            format!("/v1/sessions/{id}/chunks"),
            json!({"messageId": reply, "role": "assistant", "chunk": {"type": "stop"}, "parentId": 7}),
            "parentId",
        ),
        (
            format!("/v1/sessions/{id}/chunks"),
            json!({"messageId": reply, "role": "assistant", "chunk": {"type": "stop"}, "model": "m".repeat(201)}),
            "model",
        ),
        (
            format!("/v1/sessions/{id}/chunks"),
            json!({"messageId": reply, "role": "assistant", "chunk": {"type": "stop"}, "model": ""}),
            "model",
        ),
    ];
    for (path, body, field) in cases {
        let (status, answer) = call(&server, &s.alice, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(&format!("`{field}`")), "{message:?} should name {field}");
    }
    let response = server
        .client
        .post(server.url(&format!("/v1/sessions/{id}/messages")))
        .bearer_auth(&s.alice)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("not valid JSON"));
    // Nothing was written by any of that.
    assert!(events(&server, &s.alice, &id).await.is_empty());
    server.stop().await;
}

async fn rename_stop_reset_and_delete(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    let (status, meta) =
        call(&server, &s.alice, Method::PATCH, &format!("/v1/sessions/{id}"), Some(json!({"title": "Trip plans"})))
            .await;
    assert_eq!((status, &meta["title"]), (StatusCode::OK, &json!("Trip plans")));

    let reply = Uuid::new_v4().to_string();
    let path = |p: &str| format!("/v1/sessions/{id}/{p}");
    call(&server, &s.alice, Method::POST, &path("generations/start"), Some(json!({"messageId": reply}))).await;
    let chunk = json!({"messageId": reply, "role": "assistant", "chunk": {"type": "text-delta", "delta": "Let me"}});
    call(&server, &s.alice, Method::POST, &path("chunks"), Some(chunk)).await;
    let (status, stopped) = call(&server, &s.alice, Method::POST, &path("stop"), Some(json!({}))).await;
    assert_eq!((status, stopped), (StatusCode::OK, json!({"stopped": [reply]})));
    call(&server, &s.alice, Method::POST, &path("generations/finish"), Some(json!({"messageId": reply}))).await;

    let conversation = materialize(&events(&server, &s.alice, &id).await);
    assert_eq!(conversation.title.as_deref(), Some("Trip plans"));
    assert_eq!(conversation.message(&reply).unwrap().status, MessageStatus::Stopped);
    assert_eq!(conversation.message(&reply).unwrap().text, "Let me");

    assert_eq!(call(&server, &s.alice, Method::POST, &path("reset"), None).await.0, StatusCode::OK);
    let all = events(&server, &s.alice, &id).await;
    assert_eq!(all.last().unwrap(), &json!({"headers": {"control": "reset"}}));
    assert!(materialize(&all).messages.is_empty());

    assert_eq!(call(&server, &s.alice, Method::DELETE, &format!("/v1/sessions/{id}"), None).await.0, 204);
    assert_eq!(call(&server, &s.alice, Method::GET, &format!("/v1/sessions/{id}"), None).await.0, 404);
    let (_, list) = call(&server, &s.alice, Method::GET, "/v1/sessions", None).await;
    assert!(list["sessions"].as_array().unwrap().is_empty());
    let stream =
        server.client.get(server.url(&format!("/v1/stream/sessions/{id}"))).bearer_auth(&s.alice).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

/// Follows a session's stream over SSE from `-1` until a message-end for `until`
/// arrives, returning every event received. `established` is told once the subscriber
/// has caught up: from then on, what it gets comes through the live path.
async fn follow(
    server: &TestServer,
    token: &str,
    id: &str,
    until: &str,
    established: tokio::sync::oneshot::Sender<()>,
) -> Vec<Value> {
    use futures::StreamExt;
    let response = server
        .client
        .get(server.url(&format!("/v1/stream/sessions/{id}?offset=-1&live=sse")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let (mut buffer, mut events) = (String::new(), Vec::new());
    let mut established = Some(established);
    while let Some(bytes) = body.next().await {
        buffer.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut kind, mut data) = ("", Vec::new());
            for line in block.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if kind == "control" {
                let control: Value = serde_json::from_str(&data.join("\n")).unwrap();
                if control["upToDate"] == true {
                    if let Some(established) = established.take() {
                        established.send(()).unwrap();
                    }
                }
            }
            if kind == "data" {
                let batch: Vec<Value> = serde_json::from_str(&data.join("\n")).unwrap();
                events.extend(batch);
                let done = events
                    .iter()
                    .any(|e| e["value"]["messageId"] == until && e["value"]["chunk"]["type"] == "message-end");
                if done {
                    return events;
                }
            }
        }
    }
    panic!("the SSE stream ended before {until} did");
}

/// A follower of the session (see [`follow`]), once it has caught up.
async fn subscribed(
    server: std::sync::Arc<TestServer>,
    token: String,
    id: String,
    until: String,
) -> tokio::task::JoinHandle<Vec<Value>> {
    let (established, caught_up) = tokio::sync::oneshot::channel();
    let follower = tokio::spawn(async move { follow(&server, &token, &id, &until, established).await });
    caught_up.await.expect("the subscriber catches up");
    follower
}

/// Two subscribers, one from before the first write and one joining mid-way, each
/// caught up before the writes it must see live: both get the same events.
async fn live_subscribers_from_the_start_and_mid_way_agree(backend: Backend) {
    let s = setup(backend).await;
    let server = std::sync::Arc::new(s.server().await);
    let id = new_session(&server, &s.alice).await;
    let reply = Uuid::new_v4().to_string();
    let subscribe = || subscribed(server.clone(), s.alice.clone(), id.clone(), reply.clone());
    let post = async |p: &str, body: Value| {
        let (status, reply) =
            call(&server, &s.alice, Method::POST, &format!("/v1/sessions/{id}/{p}"), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{p}: {reply}");
    };
    let delta =
        |word: &str| json!({"messageId": reply, "role": "assistant", "chunk": {"type": "text-delta", "delta": word}});
    let early = subscribe().await;
    post("messages", json!({"content": "Tell me a story"})).await;
    for word in ["Once ", "upon "] {
        post("chunks", delta(word)).await;
    }
    let late = subscribe().await;
    for word in ["a ", "time."] {
        post("chunks", delta(word)).await;
    }
    post("generations/finish", json!({"messageId": reply})).await;

    let (early, late) = (early.await.unwrap(), late.await.unwrap());
    assert_eq!(early, late, "both subscribers saw the same events");
    let conversation = materialize(&early);
    assert_eq!(conversation, materialize(&events(&server, &s.alice, &id).await));
    assert_eq!(conversation.message(&reply).unwrap().text, "Once upon a time.");
}

async fn session_streams_are_read_only_through_the_raw_api(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    let stream = server.url(&format!("/v1/stream/sessions/{id}"));
    let forged = json!({"type": "chunk", "key": "x:0", "value": {"actorId": "someone-else"}, "headers": {"operation": "insert"}});
    let attempts = [
        server.client.post(&stream).json(&forged),
        server.client.put(&stream).json(&forged),
        server.client.delete(&stream),
        server
            .client
            .post(server.url("/v1/stream/sessions/_index"))
            .json(&json!({"op": "delete", "id": id, "at": "0"})),
        // Percent-encoded, the path names the same streams.
        server.client.post(server.url(&format!("/v1/stream/%73essions/{id}"))).json(&forged),
        server.client.post(server.url(&format!("/v1/stream/sessions%2F{id}"))).json(&forged),
        server.client.delete(server.url(&format!("/v1/stream/%73essions/{id}"))),
    ];
    for attempt in attempts {
        let response = attempt.bearer_auth(&s.alice).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    assert!(events(&server, &s.alice, &id).await.is_empty());
    assert_eq!(call(&server, &s.alice, Method::GET, &format!("/v1/sessions/{id}"), None).await.0, StatusCode::OK);
    server.stop().await;
}

/// Two server instances on one PostgreSQL database, chunks for one message racing
/// through both: seq is still 0..n-1, each once, in stream order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_on_one_message_keep_seq_gap_free() {
    let s = setup(Backend::Postgres).await;
    let servers = std::sync::Arc::new(vec![s.server().await, s.server().await]);
    let id = new_session(&servers[0], &s.alice).await;
    race_chunks(servers, &s.alice, &id, 30).await;
}

/// Each instance keeps its own view of a user's session index; what another instance
/// created or deleted a moment ago must still be answered right.
#[tokio::test]
async fn sessions_created_or_deleted_on_another_instance_are_seen_at_once() {
    let s = setup(Backend::Postgres).await;
    let (a, b) = (s.server().await, s.server().await);
    let known = new_session(&a, &s.alice).await;
    assert_eq!(call(&a, &s.alice, Method::GET, "/v1/sessions", None).await.0, StatusCode::OK);
    let chunk =
        || json!({"messageId": Uuid::new_v4(), "role": "assistant", "chunk": {"type": "text-delta", "delta": "x"}});
    assert_eq!(
        call(&a, &s.alice, Method::POST, &format!("/v1/sessions/{known}/chunks"), Some(chunk())).await.0,
        StatusCode::OK
    );

    let fresh = new_session(&b, &s.alice).await;
    let (status, body) = call(&a, &s.alice, Method::POST, &format!("/v1/sessions/{fresh}/chunks"), Some(chunk())).await;
    assert_eq!(status, StatusCode::OK, "a session created through the other instance: {body}");

    let path = format!("/v1/sessions/{known}");
    assert_eq!(call(&b, &s.alice, Method::DELETE, &path, None).await.0, StatusCode::NO_CONTENT);
    for (method, route, body) in [
        // Those that may write nothing first: a failed write makes the instance re-read.
        (Method::POST, format!("{path}/generations/start"), Some(json!({"messageId": Uuid::new_v4()}))),
        (Method::POST, format!("{path}/stop"), Some(json!({}))),
        (Method::POST, format!("{path}/chunks"), Some(chunk())),
        (Method::GET, path.clone(), None),
        (Method::DELETE, path.clone(), None),
    ] {
        let (status, reply) = call(&a, &s.alice, method.clone(), &route, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {route} after deletion elsewhere: {reply}");
    }
}

/// A regenerated reply and an edited question: each names its parent (and a reply its
/// model), which the stream keeps, so every device sees the same branches.
async fn parents_and_models_are_stored_and_branch_the_conversation(backend: Backend) {
    let s = setup(backend).await;
    let server = s.server().await;
    let id = new_session(&server, &s.alice).await;
    let path = |p: &str| format!("/v1/sessions/{id}/{p}");
    let post = |p: String, body: Value| {
        let (server, token) = (&server, &s.alice);
        async move {
            let (status, answer) = call(server, token, Method::POST, &p, Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer
        }
    };
    let (question, first) = write_turn(&server, &s.alice, &id, "Name a colour", &["Red"]).await;
    let second = Uuid::new_v4().to_string();
    let delta = json!({"type": "text-delta", "delta": "Blue"});
    post(
        path("chunks"),
        json!({"messageId": second, "role": "assistant", "chunk": delta, "parentId": question, "model": "gpt-4o"}),
    )
    .await;
    post(path("generations/finish"), json!({"messageId": second})).await;
    let edited = post(path("messages"), json!({"content": "Name a fruit", "parentId": null})).await;
    let edited = edited["messageId"].as_str().unwrap().to_owned();
    let follow_up = post(path("messages"), json!({"content": "Another?", "parentId": second})).await;
    let follow_up = follow_up["messageId"].as_str().unwrap().to_owned();

    let all = events(&server, &s.alice, &id).await;
    let second_start = all.iter().find(|e| e["value"]["messageId"] == second.as_str()).unwrap();
    assert_eq!(second_start["value"]["parentId"], question.as_str());
    assert_eq!(second_start["value"]["model"], "gpt-4o");
    let end = all.iter().rfind(|e| e["value"]["messageId"] == second.as_str()).unwrap();
    assert!(end["value"].get("parentId").is_none(), "only the first chunk carries the parent: {end}");

    let conversation = materialize(&all);
    assert_eq!(conversation.versions(&first), [first.as_str(), second.as_str()]);
    assert_eq!(conversation.versions(&question), [question.as_str(), edited.as_str()]);
    let thread: Vec<_> = conversation.thread(&follow_up).iter().map(|m| m.id.clone()).collect();
    assert_eq!(thread, [question.clone(), second.clone(), follow_up.clone()]);
    assert_eq!(conversation.latest_leaf(), Some(edited.as_str()), "the edited question is the newest first message");
    assert_eq!(conversation.message(&second).unwrap().model.as_deref(), Some("gpt-4o"));
    server.stop().await;
}
