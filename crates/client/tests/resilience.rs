//! A client that never signs a person out by mistake and never storms the server,
//! against the real servers behind a test proxy that drops, delays, 503s, 429s (with
//! `Retry-After`), answers 401 without the server's challenge, or freezes live
//! connections the way a suspended laptop's sockets die.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use common::servers::Stack;
use futures::StreamExt;
use superset_client::servers::ServerUrls;
use superset_client::subscription::json_messages;
use superset_client::wake::Clock;
use superset_client::{AuthEvent, ClientError, RetryPolicy, SessionManager, StoredToken, StreamEvent, TokenStore};
use tokio_util::sync::CancellationToken;
use url::Url;

const JSON: &str = "application/json";

fn policy() -> RetryPolicy {
    RetryPolicy { first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(200), max_attempts: 4 }
}

/// What the proxy does to each request.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Pass,
    /// Passes after this long.
    Slow(Duration),
    /// The connection closes without an answer.
    Drop,
    /// 503 after 100 ms.
    Slow503,
    Unavailable,
    TooMany {
        retry_after: u64,
    },
    /// A 401 without `WWW-Authenticate: Bearer`: a captive portal, not our server.
    Bare401,
}

#[derive(Clone)]
struct Shared {
    upstream: Url,
    fault: Arc<Mutex<Fault>>,
    /// Request paths, in order.
    seen: Arc<Mutex<Vec<String>>>,
    /// Cancelled (and replaced) to freeze every response body in progress: no more
    /// bytes, no close, as a socket dead after a suspend.
    live: Arc<Mutex<CancellationToken>>,
    http: reqwest::Client,
}

struct FaultProxy {
    url: Url,
    shared: Shared,
}

impl FaultProxy {
    async fn start(upstream: Url) -> Self {
        let shared = Shared {
            upstream,
            fault: Arc::new(Mutex::new(Fault::Pass)),
            seen: Arc::default(),
            live: Arc::default(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FaultProxy { url, shared }
    }

    fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
    }

    fn requests(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    fn requests_to(&self, path: &str) -> usize {
        self.shared.seen.lock().unwrap().iter().filter(|p| *p == path).count()
    }

    fn freeze_live(&self) {
        let mut live = self.shared.live.lock().unwrap();
        live.cancel();
        *live = CancellationToken::new();
    }
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    shared.seen.lock().unwrap().push(request.uri().path().to_owned());
    let fault = *shared.fault.lock().unwrap();
    let status = |code: StatusCode| Response::builder().status(code);
    match fault {
        Fault::Pass => {}
        Fault::Slow(delay) => tokio::time::sleep(delay).await,
        // Ends this connection's task without an answer.
        Fault::Drop => std::panic::resume_unwind(Box::new("the test proxy drops this request")),
        Fault::Slow503 => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return status(StatusCode::SERVICE_UNAVAILABLE).body(Body::empty()).unwrap();
        }
        Fault::Unavailable => return status(StatusCode::SERVICE_UNAVAILABLE).body(Body::empty()).unwrap(),
        Fault::TooMany { retry_after } => {
            let response = status(StatusCode::TOO_MANY_REQUESTS).header("retry-after", retry_after.to_string());
            return response.body(Body::empty()).unwrap();
        }
        Fault::Bare401 => return status(StatusCode::UNAUTHORIZED).body(Body::from("sign in to the Wi-Fi")).unwrap(),
    }
    let target = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let url = shared.upstream.join(target.trim_start_matches('/')).unwrap();
    let mut outgoing = shared.http.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(answer) = outgoing.send().await else {
        return status(StatusCode::BAD_GATEWAY).body(Body::empty()).unwrap();
    };
    let mut response = status(StatusCode::from_u16(answer.status().as_u16()).unwrap());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(HeaderName::from_bytes(name.as_ref()).unwrap(), value.as_bytes());
        }
    }
    let live = shared.live.lock().unwrap().clone();
    let frozen = live.clone();
    // Frozen: the body neither goes on nor ends.
    let hang_if_frozen = futures::stream::once(async move {
        if frozen.is_cancelled() {
            futures::future::pending::<()>().await;
        }
    })
    .filter_map(|()| async { None::<std::io::Result<axum::body::Bytes>> });
    let body = answer
        .bytes_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other))
        .take_until(live.cancelled_owned())
        .chain(hang_if_frozen);
    response.body(Body::from_stream(body)).unwrap()
}

/// A wall clock that can jump ahead, as it does across a suspend; the monotonic clock
/// does not.
#[derive(Default)]
struct JumpingClock {
    ahead_secs: AtomicU64,
}

impl JumpingClock {
    fn sleep_for(&self, how_long: Duration) {
        self.ahead_secs.fetch_add(how_long.as_secs(), Ordering::SeqCst);
    }
}

impl Clock for JumpingClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.ahead_secs.load(Ordering::SeqCst))
    }
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

struct Client {
    manager: SessionManager,
    api: FaultProxy,
    streams: FaultProxy,
    home: tempfile::TempDir,
    _stack: Stack,
}

impl Client {
    async fn start(email: &str, expires_at: Option<DateTime<Utc>>, clock: Arc<dyn Clock>) -> Client {
        let stack = Stack::start().await;
        let token = stack.user(email).await;
        let (api, streams) =
            (FaultProxy::start(stack.api.clone()).await, FaultProxy::start(stack.streams.clone()).await);
        let home = tempfile::tempdir().unwrap();
        let store = TokenStore::new(home.path());
        store.save(&StoredToken::new(token, expires_at)).unwrap();
        let urls = ServerUrls { api: api.url.clone(), streams: streams.url.clone() };
        let manager = SessionManager::with_clock(urls, store, policy(), clock);
        Client { manager, api, streams, home, _stack: stack }
    }

    fn set(&self, fault: Fault) {
        self.api.set(fault);
        self.streams.set(fault);
    }

    fn requests(&self) -> usize {
        self.api.requests() + self.streams.requests()
    }

    fn signed_in(&self) -> bool {
        self.home.path().join("auth-token.enc").exists()
    }
}

/// The next message of a subscription's data, skipping the other events.
async fn next_message(subscription: &mut superset_client::Subscription) -> serde_json::Value {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), subscription.next())
            .await
            .expect("the subscription went quiet")
            .expect("the subscription ended");
        match event.expect("no error") {
            StreamEvent::Data { data, .. } => return json_messages(&data).unwrap().remove(0),
            StreamEvent::UpToDate { .. } | StreamEvent::Reconnecting { .. } => {}
            StreamEvent::Closed { .. } => panic!("closed"),
        }
    }
}

/// Two callers hammer the servers every 10 ms and one subscription follows a stream
/// through 6 s of every kind of failure (standing for minutes: the delays are scaled
/// down with the policy). The circuit breaker bounds what they send together:
/// `max_attempts` to open it, one per concurrent caller already in flight, then one
/// probe per cool-down (at least `max_delay`): 4 + 3 + 6 s / 200 ms + 1 = 38, where
/// the callers alone would otherwise send over a thousand.
#[tokio::test]
async fn a_long_outage_costs_a_bounded_number_of_requests_signs_nobody_out_and_heals() {
    let client = Client::start("ada@example.test", None, Arc::new(superset_client::wake::SystemClock)).await;
    let manager = client.manager.clone();
    let mut events = manager.auth_events();
    manager.create_stream("chat/outage", JSON).await.unwrap();
    let mut subscription = manager.subscribe("chat/outage", "-1");
    manager.append("chat/outage", JSON, r#"{"n":0}"#).await.unwrap();
    assert_eq!(next_message(&mut subscription).await["n"], 0);

    let before = client.requests();
    let outage = CancellationToken::new();
    let callers: Vec<_> = (0..2)
        .map(|caller| {
            let (manager, outage) = (manager.clone(), outage.clone());
            tokio::spawn(async move {
                let mut refusals = 0;
                while !outage.is_cancelled() {
                    let result = if caller == 0 {
                        manager.read("chat/outage", "-1").await.map(drop)
                    } else {
                        manager.me().await.map(drop)
                    };
                    if matches!(result, Err(ClientError::AuthRequired | ClientError::SignedOut)) {
                        refusals += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                refusals
            })
        })
        .collect();
    let faults = [
        Fault::Drop,
        Fault::Slow503,
        Fault::Unavailable,
        Fault::TooMany { retry_after: 1 },
        Fault::Bare401,
        Fault::Drop,
    ];
    for fault in faults {
        client.set(fault);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    outage.cancel();
    let during = client.requests() - before;
    for caller in callers {
        assert_eq!(caller.await.unwrap(), 0, "no caller was told to sign in again");
    }
    let bound = 4 + 3 + 6_000 / 200 + 1;
    eprintln!("{during} requests during the 6 s outage; bound {bound}");
    assert!(during <= bound, "{during} requests in the outage, more than the bound of {bound}");
    assert!(during >= 6, "the outage was tried now and then: {during} requests");

    client.set(Fault::Pass);
    let healed = Instant::now();
    loop {
        match manager.append("chat/outage", JSON, r#"{"n":1}"#).await {
            Ok(_) => break,
            Err(ClientError::Unavailable { .. }) if healed.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("not healed: {e}"),
        }
    }
    assert_eq!(next_message(&mut subscription).await["n"], 1, "the subscription resumed where it was");
    assert!(client.signed_in(), "still signed in");
    while let Ok(event) = events.try_recv() {
        assert!(!matches!(event, AuthEvent::Required { .. }), "no sign-in prompt");
    }
}

/// A laptop sleeps for 8 hours: its live connection is dead (frozen, not closed) and
/// its wall clock jumps. On waking the subscription reconnects from its last offset at
/// once, the first request re-validates the session once, and nobody is asked to sign
/// in.
#[tokio::test]
async fn waking_from_sleep_resumes_without_a_prompt_and_validates_once() {
    let clock = Arc::new(JumpingClock::default());
    let client = Client::start("bo@example.test", None, clock.clone()).await;
    let manager = client.manager.clone();
    let mut events = manager.auth_events();
    manager.create_stream("chat/sleep", JSON).await.unwrap();
    let mut subscription = manager.subscribe("chat/sleep", "-1");
    manager.append("chat/sleep", JSON, r#"{"n":0}"#).await.unwrap();
    assert_eq!(next_message(&mut subscription).await["n"], 0);
    assert_eq!(client.api.requests_to("/api/me"), 0);

    client.streams.freeze_live();
    clock.sleep_for(Duration::from_secs(8 * 3600));
    manager.append("chat/sleep", JSON, r#"{"n":1}"#).await.unwrap();
    assert_eq!(next_message(&mut subscription).await["n"], 1, "resumed from the last offset, nothing repeated");
    manager.append("chat/sleep", JSON, r#"{"n":2}"#).await.unwrap();
    assert_eq!(next_message(&mut subscription).await["n"], 2);
    assert_eq!(client.api.requests_to("/api/me"), 1, "the session was validated once after waking");
    assert!(client.signed_in());
    let events: Vec<AuthEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert!(events.iter().all(|e| matches!(e, AuthEvent::Changed { signed_in: true, .. })), "{events:?}");
}

/// Twenty callers asking about the session at once cost the server one request.
#[tokio::test]
async fn concurrent_validations_share_one_request() {
    let client = Client::start("cy@example.test", None, Arc::new(superset_client::wake::SystemClock)).await;
    client.api.set(Fault::Slow(Duration::from_millis(300)));
    let askers: Vec<_> = (0..20)
        .map(|_| {
            let manager = client.manager.clone();
            tokio::spawn(async move { manager.validate().await.map(|me| me.user.email) })
        })
        .collect();
    for asker in askers {
        assert_eq!(asker.await.unwrap().unwrap(), "cy@example.test");
    }
    assert_eq!(client.api.requests_to("/api/me"), 1, "one validation request for twenty callers");
}

/// The desktop remembers an expiry that, on this machine's clock, has passed; the
/// server has renewed the session. The next request asks the server instead of
/// prompting, and the stored expiry (and the UI) follow the server's.
#[tokio::test]
async fn a_session_renewed_on_the_server_is_shown_with_its_new_expiry() {
    let stale = Utc::now() - chrono::Duration::minutes(1);
    let client = Client::start("du@example.test", Some(stale), Arc::new(superset_client::wake::SystemClock)).await;
    let mut events = client.manager.auth_events();
    client.manager.create_stream("chat/renewed", JSON).await.unwrap();
    assert_eq!(client.api.requests_to("/api/me"), 1, "validated before the request");
    let stored = TokenStore::new(client.home.path()).load().unwrap().expires_at.unwrap();
    let server = client.manager.me().await.unwrap().session.expires_at;
    assert_eq!(stored, server, "the token file follows the server's expiry");
    assert!(stored > Utc::now() + chrono::Duration::days(1));
    assert_eq!(events.try_recv().unwrap(), AuthEvent::Changed { signed_in: true, expires_at: Some(server) });
    client.manager.create_stream("chat/renewed-2", JSON).await.unwrap();
    assert_eq!(client.api.requests_to("/api/me"), 2, "no more validations once it is fresh (one more: the me() above)");
}
