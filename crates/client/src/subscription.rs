//! A live subscription to a stream over SSE (Durable Streams §5.8), resumed by this
//! client, not by the SSE library: Durable Streams does not resume through
//! `Last-Event-ID`, and the server may end a connection at any time (about every
//! minute). So the library's own retry is off, and each connection asks for
//! `?offset=<last streamNextOffset>&live=sse`.
//!
//! Exactly once: a `data` event is handed on only when the `control` event after it
//! arrives with the offset that follows it. A connection lost between the two drops
//! the data, and the next connection reads it again from the last offset delivered.
//! `streamClosed` ends the subscription; nothing else does but a refused sign-in, a
//! stream that is gone, or dropping the [`Subscription`].
//!
//! Reconnections go through the client's circuit breaker like every request. When the
//! machine wakes from sleep (checked every [`WAKE_CHECK`]) the connection, probably
//! dead, is dropped and a new one asked for at once from the last offset; a
//! connection silent for [`IDLE_LIMIT`] is taken for dead too.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest_eventsource::{retry::Never, Error as SseError, Event, EventSource};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use url::Url;

use crate::backoff::Backoff;
use crate::outage::Outage;
use crate::session_manager::{is_refusal, is_unavailable, retry_after, ClientError, SessionManager};

/// How often a live subscription checks whether the machine slept.
pub const WAKE_CHECK: Duration = Duration::from_secs(1);

/// A live connection that delivers nothing for this long is reconnected (the server
/// ends its connections well before, about every minute).
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);

/// What a subscription yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// A batch of the stream's content (for a JSON stream, an array of messages; see
    /// [`json_messages`]) and the offset right after it.
    Data { data: String, offset: String },
    /// Everything written so far has been delivered; more may come.
    UpToDate { offset: String },
    /// The connection is lost and is retried after `after`, from the last offset.
    /// `outage` says why in words; `reason` is the technical account (no URL).
    Reconnecting { after: Duration, outage: Outage, reason: String },
    /// The stream is closed: nothing more will ever come. The subscription ends.
    Closed { offset: String },
}

/// The messages of a JSON stream's `data` batch.
pub fn json_messages(data: &str) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    match serde_json::from_str(data)? {
        serde_json::Value::Array(messages) => Ok(messages),
        single => Ok(vec![single]),
    }
}

/// A live subscription; events arrive through [`next`](Self::next). Dropping it
/// stops it.
pub struct Subscription {
    events: mpsc::Receiver<Result<StreamEvent, ClientError>>,
    _stop: DropGuard,
}

impl Subscription {
    pub(crate) fn start(manager: SessionManager, url: Url, offset: String) -> Self {
        let (sender, events) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let follower = Follower { manager, url, offset, sender, stop: stop.clone() };
        tokio::spawn(follower.run());
        Subscription { events, _stop: stop.drop_guard() }
    }

    /// The next event; `None` once the subscription has ended (after `Closed` or an
    /// error, which is the last item).
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ClientError>> {
        self.events.recv().await
    }
}

/// The `control` event's fields that matter here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Control {
    stream_next_offset: String,
    #[serde(default)]
    up_to_date: bool,
    #[serde(default)]
    stream_closed: bool,
}

/// How one connection ended.
enum Ending {
    /// The stream is closed, the consumer is gone, or an error was reported: stop.
    Finished,
    /// Connection lost; `progressed` if it delivered anything.
    Dropped { outage: Outage, reason: String, server_asked: Option<Duration>, progressed: bool },
}

struct Follower {
    manager: SessionManager,
    url: Url,
    offset: String,
    sender: mpsc::Sender<Result<StreamEvent, ClientError>>,
    stop: CancellationToken,
}

impl Follower {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.manager.retry_policy());
        loop {
            if let Err(wait) = self.manager.breaker().admit() {
                let reason = "not tried: the client waits after repeated failures".to_owned();
                let event = StreamEvent::Reconnecting { after: wait, outage: self.manager.last_outage(), reason };
                if !self.emit(Ok(event)).await || !self.pause(wait).await {
                    return;
                }
                continue;
            }
            let (outage, reason, server_asked) = match self.connect_once().await {
                Ending::Finished => return,
                // The server ending a connection that was delivering is routine
                // (about every minute): resume at once.
                Ending::Dropped { progressed: true, .. } => {
                    backoff.reset();
                    continue;
                }
                Ending::Dropped { outage, reason, server_asked, progressed: false } => (outage, reason, server_asked),
            };
            self.manager.breaker().failure(server_asked);
            self.manager.set_last_outage(outage);
            let after = backoff.next_delay(server_asked);
            tracing::info!(%reason, ?after, "the stream's connection failed; reconnecting");
            if !self.emit(Ok(StreamEvent::Reconnecting { after, outage, reason })).await || !self.pause(after).await {
                return;
            }
        }
    }

    /// Waits `after`, or less if the machine wakes meanwhile. False when stopped.
    async fn pause(&self, after: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(after) => true,
            () = self.manager.woken() => true,
            () = self.stop.cancelled() => false,
        }
    }

    /// One SSE connection from the current offset, until it ends.
    async fn connect_once(&mut self) -> Ending {
        let Some(token) = self.manager.token().await else {
            self.emit(Err(ClientError::SignedOut)).await;
            return Ending::Finished;
        };
        let mut url = self.url.clone();
        url.query_pairs_mut().append_pair("offset", &self.offset).append_pair("live", "sse");
        let request = self.manager.http().get(url).bearer_auth(token.secret());
        let mut source = EventSource::new(request).expect("a GET without a body can be cloned");
        source.set_retry_policy(Box::new(Never));

        let mut pending: Vec<String> = Vec::new();
        let mut progressed = false;
        let mut wake_check = tokio::time::interval(WAKE_CHECK);
        wake_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let woke = || Ending::Dropped {
            outage: Outage::Dropped,
            reason: "the machine woke from sleep".into(),
            server_asked: None,
            progressed: true,
        };
        loop {
            let item = tokio::select! {
                item = tokio::time::timeout(IDLE_LIMIT, source.next()) => match item {
                    Ok(item) => item,
                    Err(_) => return Ending::Dropped {
                        outage: Outage::Dropped,
                        reason: "the connection went silent".into(),
                        server_asked: None,
                        progressed: true,
                    },
                },
                () = self.manager.woken() => return woke(),
                _ = wake_check.tick() => {
                    if self.manager.check_wake() {
                        return woke();
                    }
                    continue;
                }
                () = self.stop.cancelled() => return Ending::Finished,
            };
            let dropped =
                |outage, reason: String, server_asked| Ending::Dropped { outage, reason, server_asked, progressed };
            match item {
                Some(Ok(Event::Open)) => self.manager.breaker().success(),
                Some(Ok(Event::Message(message))) => match message.event.as_str() {
                    "data" => pending.push(message.data),
                    "control" => match self.on_control(&message.data, &mut pending).await {
                        Some(ending) => return ending,
                        None => progressed = true,
                    },
                    other => tracing::debug!(event = other, "ignoring an unknown SSE event"),
                },
                None | Some(Err(SseError::StreamEnded)) => {
                    return dropped(Outage::Dropped, "the server ended the connection".into(), None)
                }
                Some(Err(SseError::InvalidStatusCode(status, response))) => {
                    if is_refusal(status, response.headers()) {
                        self.manager.refused(&token).await;
                        self.emit(Err(ClientError::AuthRequired)).await;
                        return Ending::Finished;
                    }
                    if is_unavailable(status) || status == StatusCode::UNAUTHORIZED {
                        let reason = format!("the server answered {status}");
                        return dropped(Outage::of_status(status), reason, retry_after(&response));
                    }
                    let body = response.text().await.unwrap_or_default();
                    let path = self.url.path().to_owned();
                    self.emit(Err(ClientError::Status { method: reqwest::Method::GET, path, status, body })).await;
                    return Ending::Finished;
                }
                Some(Err(SseError::InvalidContentType(..))) => {
                    self.emit(Err(ClientError::BadAnswer(format!("{} (not an event stream)", self.url.path())))).await;
                    return Ending::Finished;
                }
                Some(Err(SseError::Transport(e))) => {
                    let (outage, reason) = Outage::of_transport(&e);
                    return dropped(outage, reason, None);
                }
                Some(Err(e)) => return dropped(Outage::Dropped, e.to_string(), None),
            }
        }
    }

    /// Hands on the data the control event vouches for. `Some` when the
    /// subscription is over.
    async fn on_control(&mut self, data: &str, pending: &mut Vec<String>) -> Option<Ending> {
        let Ok(control) = serde_json::from_str::<Control>(data) else {
            self.emit(Err(ClientError::BadAnswer(format!("{} (unreadable control event)", self.url.path())))).await;
            return Some(Ending::Finished);
        };
        for data in pending.drain(..) {
            let event = StreamEvent::Data { data, offset: control.stream_next_offset.clone() };
            if !self.emit(Ok(event)).await {
                return Some(Ending::Finished);
            }
        }
        self.offset = control.stream_next_offset;
        if control.stream_closed {
            self.emit(Ok(StreamEvent::Closed { offset: self.offset.clone() })).await;
            return Some(Ending::Finished);
        }
        if control.up_to_date && !self.emit(Ok(StreamEvent::UpToDate { offset: self.offset.clone() })).await {
            return Some(Ending::Finished);
        }
        None
    }

    /// False when nobody listens any more.
    async fn emit(&self, event: Result<StreamEvent, ClientError>) -> bool {
        self.sender.send(event).await.is_ok()
    }
}
