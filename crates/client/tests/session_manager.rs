//! The session manager against the real streams and auth servers: the Bearer token on
//! every request and SSE connection, exactly-once delivery across cut connections,
//! 401 -> signed out with an auth-required event, 503 -> retried, still signed in.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::http_proxy::RecordingProxy;
use common::servers::{Options, Stack};
use superset_client::servers::ServerUrls;
use superset_client::subscription::json_messages;
use superset_client::{
    AuthEvent, ClientError, Outage, RetryPolicy, SessionManager, StoredToken, StreamEvent, TokenStore,
};
use superset_testkit::{TcpProxy, TestDatabase};
use url::Url;

const JSON: &str = "application/json";

fn fast_retries() -> RetryPolicy {
    RetryPolicy { first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(200), max_attempts: 4 }
}

/// A signed-in manager talking to `streams` (the server, or a proxy in front of it).
async fn signed_in(stack: &Stack, streams: &Url, token: &str) -> (tempfile::TempDir, SessionManager) {
    let home = tempfile::tempdir().unwrap();
    let store = TokenStore::new(home.path());
    store.save(&StoredToken::new(token, None)).unwrap();
    let urls = ServerUrls { api: stack.api.clone(), streams: streams.clone() };
    (home, SessionManager::new(urls, store, fast_retries()))
}

/// Collects a subscription's messages until the stream closes.
async fn messages_until_closed(
    subscription: &mut superset_client::Subscription,
) -> (Vec<serde_json::Value>, Vec<String>) {
    let (mut messages, mut offsets) = (Vec::new(), Vec::new());
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), subscription.next())
            .await
            .expect("the subscription went quiet")
            .expect("the subscription ended without Closed");
        match event.expect("no error") {
            StreamEvent::Data { data, offset } => {
                messages.extend(json_messages(&data).unwrap());
                offsets.push(offset);
            }
            StreamEvent::Closed { .. } => return (messages, offsets),
            StreamEvent::UpToDate { .. } | StreamEvent::Reconnecting { .. } => {}
        }
    }
}

#[tokio::test]
async fn cut_sse_connections_lose_and_repeat_nothing_and_every_request_carries_the_token() {
    let stack = Stack::start().await;
    let token = stack.user("ada@example.test").await;
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let (_home, manager) = signed_in(&stack, &proxy.url, &token).await;

    manager.create_stream("chat/cuts", JSON).await.unwrap();
    for n in 0..10 {
        manager.append("chat/cuts", JSON, format!(r#"{{"n":{n}}}"#)).await.unwrap();
    }
    // Cut each of the first connections after 1, 2 or 3 whole events and a few bytes
    // of the next: sometimes between a data event and its control event.
    proxy.cut_sse_after([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
    let mut subscription = manager.subscribe("chat/cuts", "-1");
    let writer = manager.clone();
    let appends = tokio::spawn(async move {
        for n in 10..40 {
            writer.append("chat/cuts", JSON, format!(r#"{{"n":{n}}}"#)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        writer.close_stream("chat/cuts").await.unwrap();
    });
    let (messages, delivered_offsets) = messages_until_closed(&mut subscription).await;
    appends.await.unwrap();

    let numbers: Vec<i64> = messages.iter().map(|m| m["n"].as_i64().unwrap()).collect();
    assert_eq!(numbers, (0..40).collect::<Vec<_>>(), "every message exactly once, in order");

    let seen = proxy.seen();
    let sse: Vec<_> = seen.iter().filter(|s| s.is_sse()).collect();
    assert!(sse.len() >= 4, "the planned cuts forced reconnections: {} connections", sse.len());
    assert_eq!(sse[0].query("offset").as_deref(), Some("-1"));
    assert_eq!(
        sse[1].query("offset").as_deref(),
        Some("-1"),
        "the first connection was cut between its data and control events: its data is read again"
    );
    let delivered: HashSet<&String> = delivered_offsets.iter().collect();
    for again in &sse[1..] {
        let offset = again.query("offset").unwrap();
        assert!(offset == "-1" || delivered.contains(&offset), "reconnected from {offset}, never delivered");
    }

    let bearer = format!("Bearer {token}");
    assert!(seen.iter().all(|s| s.authorization.as_deref() == Some(bearer.as_str())), "{seen:#?}");
    let count = |method: &str| seen.iter().filter(|s| s.method == method && !s.is_sse()).count();
    assert_eq!(count("PUT"), 1);
    assert_eq!(count("POST"), 41, "40 appends and the close");
    assert_eq!(seen.len(), 1 + 41 + sse.len(), "nothing else was sent: {seen:#?}");
}

#[tokio::test]
async fn reads_and_deletes_carry_the_token_too() {
    let stack = Stack::start().await;
    let token = stack.user("bo@example.test").await;
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let (_home, manager) = signed_in(&stack, &proxy.url, &token).await;
    manager.create_stream("notes/a", JSON).await.unwrap();
    manager.append("notes/a", JSON, r#"[{"a":1},{"a":2}]"#).await.unwrap();
    let chunk = manager.read("notes/a", "-1").await.unwrap();
    assert_eq!(json_messages(std::str::from_utf8(&chunk.data).unwrap()).unwrap().len(), 2);
    assert!(chunk.up_to_date && !chunk.closed);
    manager.delete_stream("notes/a").await.unwrap();
    let gone = manager.read("notes/a", "-1").await.unwrap_err();
    assert!(matches!(gone, ClientError::Status { status, .. } if status == 404), "{gone:?}");

    let seen = proxy.seen();
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|s| s.authorization.as_deref() == Some(format!("Bearer {token}").as_str())));
}

#[tokio::test]
async fn a_revoked_session_signs_out_with_an_auth_required_event() {
    let stack = Stack::with(TestDatabase::sqlite(), Options { no_auth_cache: true, ..Options::default() }).await;
    let token = stack.user("cy@example.test").await;
    let (home, manager) = signed_in(&stack, &stack.streams, &token).await;
    manager.create_stream("chat/r", JSON).await.unwrap();
    assert_eq!(manager.me().await.unwrap().user.email, "cy@example.test");
    // After the expiry update me() brought.
    let mut events = manager.auth_events();

    stack.revoke(&token).await;
    let err = manager.append("chat/r", JSON, "{}").await.unwrap_err();
    assert!(matches!(err, ClientError::AuthRequired), "{err:?}");
    // Refused before its local expiry: it was ended (revoked), it did not expire.
    assert_eq!(events.try_recv().unwrap(), AuthEvent::Required { expired: false });
    assert!(!home.path().join("auth-token.enc").exists(), "the token file is removed");
    assert!(events.try_recv().is_err(), "one event, not one per request");

    let next = manager.append("chat/r", JSON, "{}").await.unwrap_err();
    assert!(matches!(next, ClientError::SignedOut), "{next:?}");
}

/// A token whose expiry on this machine had passed when the server refused it ran out:
/// the prompt says "expired", not "ended".
#[tokio::test]
async fn a_session_refused_after_its_local_expiry_expired() {
    let stack = Stack::with(TestDatabase::sqlite(), Options { no_auth_cache: true, ..Options::default() }).await;
    let token = stack.user("fay@example.test").await;
    let home = tempfile::tempdir().unwrap();
    let store = TokenStore::new(home.path());
    let past = chrono::Utc::now() - chrono::Duration::days(1);
    store.save(&StoredToken::new(&token, Some(past))).unwrap();
    let urls = ServerUrls { api: stack.api.clone(), streams: stack.streams.clone() };
    let manager = SessionManager::new(urls, store, fast_retries());
    let mut events = manager.auth_events();
    stack.revoke(&token).await;
    let err = manager.create_stream("chat/x", JSON).await.unwrap_err();
    assert!(matches!(err, ClientError::AuthRequired), "{err:?}");
    assert_eq!(events.try_recv().unwrap(), AuthEvent::Required { expired: true });
}

#[tokio::test]
async fn a_live_subscription_whose_session_is_revoked_ends_with_auth_required() {
    let stack = Stack::with(TestDatabase::sqlite(), Options { no_auth_cache: true, ..Options::default() }).await;
    let token = stack.user("di@example.test").await;
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let (home, manager) = signed_in(&stack, &proxy.url, &token).await;
    let mut events = manager.auth_events();
    manager.create_stream("chat/live", JSON).await.unwrap();
    manager.append("chat/live", JSON, r#"{"n":0}"#).await.unwrap();

    let mut subscription = manager.subscribe("chat/live", "-1");
    let first = subscription.next().await.unwrap().unwrap();
    assert!(matches!(first, StreamEvent::Data { .. }), "{first:?}");
    stack.revoke(&token).await;
    proxy.cut_live_now();
    let mut last = None;
    while let Some(event) = subscription.next().await {
        last = Some(event);
    }
    assert!(matches!(last, Some(Err(ClientError::AuthRequired))), "{last:?}");
    assert_eq!(events.recv().await.unwrap(), AuthEvent::Required { expired: false });
    assert!(!home.path().join("auth-token.enc").exists());
}

#[tokio::test]
async fn a_database_outage_is_retried_and_keeps_the_user_signed_in() {
    let db = TestDatabase::postgres().await;
    let db_proxy = TcpProxy::start(db.server_addr()).await;
    let streams_db_url = db.url_via(db_proxy.addr());
    let stack = Stack::with(db, Options { streams_db_url: Some(streams_db_url), no_auth_cache: true }).await;
    let token = stack.user("ed@example.test").await;
    let proxy = RecordingProxy::start(stack.streams.clone()).await;
    let (home, manager) = signed_in(&stack, &proxy.url, &token).await;
    let mut events = manager.auth_events();
    manager.create_stream("chat/outage", JSON).await.unwrap();

    db_proxy.cut();
    let before = proxy.seen().len();
    let err = manager.append("chat/outage", JSON, r#"{"n":0}"#).await.unwrap_err();
    assert!(matches!(err, ClientError::Unavailable { outage: Outage::Unavailable, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "The server is unavailable for the moment. You're still signed in; try again in a moment."
    );
    let detail = err.detail().unwrap();
    // The 503's Retry-After holds the next try back: the detail says so, the words stay the 503's.
    assert!(detail.starts_with("POST /v1/stream/chat/outage: not tried, the client waits"), "{detail}");
    assert_eq!(
        proxy.seen().len() - before,
        1,
        "the 503's Retry-After (1 s, longer than this policy's max_delay) holds the retries back"
    );
    assert!(home.path().join("auth-token.enc").exists(), "a 503 never signs out");

    let mut subscription = manager.subscribe("chat/outage", "-1");
    for _ in 0..2 {
        let event = subscription.next().await.unwrap().unwrap();
        assert!(matches!(event, StreamEvent::Reconnecting { outage: Outage::Unavailable, .. }), "{event:?}");
    }
    db_proxy.restore();
    let restored = std::time::Instant::now();
    while let Err(e) = manager.append("chat/outage", JSON, r#"{"n":1}"#).await {
        assert!(matches!(e, ClientError::Unavailable { .. }) && restored.elapsed() < Duration::from_secs(20), "{e:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loop {
        match subscription.next().await.unwrap().unwrap() {
            StreamEvent::Data { data, .. } => {
                assert_eq!(json_messages(&data).unwrap(), vec![serde_json::json!({"n": 1})]);
                break;
            }
            StreamEvent::Reconnecting { .. } | StreamEvent::UpToDate { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(events.try_recv().is_err(), "no auth event through the outage");
    assert!(manager.token().await.is_some());
}

#[tokio::test]
async fn sign_out_revokes_on_the_server_then_removes_the_token() {
    let stack = Stack::with(TestDatabase::sqlite(), Options { no_auth_cache: true, ..Options::default() }).await;
    let token = stack.user("fa@example.test").await;
    let (home, manager) = signed_in(&stack, &stack.streams, &token).await;
    let mut events = manager.auth_events();
    let out = manager.sign_out().await.unwrap();
    assert!(out.was_signed_in && out.revoked_on_server, "{out:?}");
    assert!(!home.path().join("auth-token.enc").exists());
    assert_eq!(events.try_recv().unwrap(), AuthEvent::Changed { signed_in: false, expires_at: None });
    let refused =
        reqwest::Client::new().get(stack.streams.join("v1/me").unwrap()).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the server no longer accepts the token");
    let again = manager.sign_out().await.unwrap();
    assert!(!again.was_signed_in);
}

#[tokio::test]
async fn sign_out_removes_the_token_even_when_the_auth_server_is_unreachable() {
    let stack = Stack::start().await;
    let token = stack.user("gu@example.test").await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = Url::parse(&format!("http://{}/", closed.local_addr().unwrap())).unwrap();
    drop(closed);
    let home = tempfile::tempdir().unwrap();
    let store = TokenStore::new(home.path());
    store.save(&StoredToken::new(token, None)).unwrap();
    let manager =
        SessionManager::new(ServerUrls { api: nowhere, streams: stack.streams.clone() }, store, fast_retries());
    let out = manager.sign_out().await.unwrap();
    assert!(out.was_signed_in && !out.revoked_on_server, "{out:?}");
    assert!(!home.path().join("auth-token.enc").exists());
}

/// The streams server goes away long enough for the circuit breaker to hold requests
/// back; once it answers `/health` again, `back_online` says so and the next request
/// goes through at once instead of sitting out the breaker's wait.
#[tokio::test]
async fn back_online_lets_requests_through_as_soon_as_the_server_answers() {
    let stack = Stack::start().await;
    let token = stack.user("bo@example.test").await;
    let proxy = TcpProxy::start(stack.streams_addr).await;
    let via_proxy = Url::parse(&format!("http://{}/", proxy.addr())).unwrap();
    let (_home, manager) = signed_in(&stack, &via_proxy, &token).await;
    manager.create_stream("chat/back", JSON).await.unwrap();

    proxy.cut();
    for _ in 0..6 {
        let _ = manager.append("chat/back", JSON, "{}").await;
    }
    assert!(!manager.back_online().await, "nothing answers yet");
    let held = manager.append("chat/back", JSON, "{}").await.unwrap_err();
    assert!(held.detail().unwrap_or_default().contains("not tried"), "the breaker holds requests back: {held:?}");

    proxy.restore();
    assert!(manager.back_online().await, "the server answers again");
    manager.append("chat/back", JSON, "{}").await.expect("let through at once");
}
