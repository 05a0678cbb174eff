//! One device's live subscription to its user's chat session: Durable Streams SSE
//! (`?offset=X&live=sse`), resumed from the last `streamNextOffset` whenever the
//! connection ends, as superset-client's subscription does. Data counts as delivered
//! when the control event after it arrives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use crate::caller::{retry_after, Backoff};
use crate::metrics::Metrics;
use crate::user::{Device, User};

/// Connection attempts of one subscription over the whole run; about one a minute is
/// routine, so this is only reached by a fault.
const MAX_CONNECTIONS: u32 = 5_000;

/// How one connection ended.
enum Ending {
    /// The subscription is over (stopped, refused, or failed).
    Finished,
    /// Cut; resume from the offset reached, at once if it `delivered` (got as far as a
    /// control event), else after what the server `asked` or a backoff.
    Dropped { delivered: bool, asked: Option<Duration> },
}

pub async fn follow(user: Arc<User>, device: Arc<Device>, metrics: Arc<Metrics>, stop: CancellationToken) {
    let mut follower = Follower { user, device, metrics, offset: "-1".into(), lost_at: None };
    let mut backoff = Backoff::default();
    for _ in 0..MAX_CONNECTIONS {
        let ending = tokio::select! {
            ending = follower.connect_once() => ending,
            () = stop.cancelled() => return,
        };
        match ending {
            Ending::Finished => return,
            Ending::Dropped { delivered, asked } => {
                follower.lost_at.get_or_insert_with(Instant::now);
                if delivered {
                    backoff.reset();
                } else {
                    let wait = asked.unwrap_or_else(|| backoff.next());
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
    }
    follower
        .metrics
        .failure(format!("user {}: the subscription reconnected {MAX_CONNECTIONS} times", follower.user.index));
}

struct Follower {
    user: Arc<User>,
    device: Arc<Device>,
    metrics: Arc<Metrics>,
    offset: String,
    /// When the last connection was lost, until the next one delivers.
    lost_at: Option<Instant>,
}

impl Follower {
    async fn connect_once(&mut self) -> Ending {
        let mut url = self.user.stream_url.clone();
        url.query_pairs_mut().append_pair("offset", &self.offset).append_pair("live", "sse");
        let sent = Instant::now();
        let response = match self.user.http.get(url).bearer_auth(self.user.token()).send().await {
            Ok(response) => response,
            Err(_) => {
                self.metrics.transport_error();
                return Ending::Dropped { delivered: false, asked: None };
            }
        };
        let status = response.status();
        self.metrics.answer("stream (SSE open)", status.as_u16(), sent.elapsed());
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                if !self.user.is_revoked() {
                    self.metrics.wrongly_signed_out(self.user.index, "its subscription");
                }
                *self.device.ended.lock().unwrap() = Some(Instant::now());
                return Ending::Finished;
            }
            s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                return Ending::Dropped { delivered: false, asked: retry_after(&response) };
            }
            s => {
                self.metrics.failure(format!("user {}: the subscription was answered {s}", self.user.index));
                return Ending::Finished;
            }
        }
        self.read_events(response).await
    }

    async fn read_events(&mut self, response: reqwest::Response) -> Ending {
        let mut body = response.bytes_stream();
        let mut parser = SseParser::default();
        let mut pending: Vec<String> = Vec::new();
        let mut delivered = false;
        while let Some(Ok(bytes)) = body.next().await {
            for (event, data) in parser.feed(&bytes) {
                match event.as_str() {
                    "data" => pending.push(data),
                    "control" => {
                        let Ok(control) = serde_json::from_str::<serde_json::Value>(&data) else {
                            self.metrics.failure(format!("user {}: unreadable control event", self.user.index));
                            return Ending::Finished;
                        };
                        self.deliver(pending.drain(..));
                        if let Some(next) = control["streamNextOffset"].as_str() {
                            self.offset = next.to_owned();
                        }
                        if let Some(lost_at) = self.lost_at.take() {
                            self.metrics.reconnected(lost_at.elapsed());
                        }
                        delivered = true;
                    }
                    _ => {}
                }
            }
        }
        Ending::Dropped { delivered, asked: None }
    }

    /// Records the chunk events of `batches` (JSON arrays of State Protocol messages).
    fn deliver(&self, batches: impl Iterator<Item = String>) {
        let mut received = self.device.received.lock().unwrap();
        for batch in batches {
            for key in chunk_keys(&batch) {
                received.set.insert(key.clone());
                received.keys.push(key);
            }
        }
    }
}

/// The `key`s of the chunk events in a JSON batch, in order.
pub fn chunk_keys(batch: &str) -> Vec<String> {
    let events = match serde_json::from_str(batch) {
        Ok(serde_json::Value::Array(events)) => events,
        Ok(single) => vec![single],
        Err(_) => return Vec::new(),
    };
    events.iter().filter(|e| e["type"] == "chunk").filter_map(|e| e["key"].as_str().map(str::to_owned)).collect()
}

/// Splits a byte stream into SSE events `(event name, data)`.
#[derive(Default)]
struct SseParser {
    line: Vec<u8>,
    event: String,
    data: Option<String>,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        let mut events = Vec::new();
        for &byte in bytes {
            if byte != b'\n' {
                self.line.push(byte);
                continue;
            }
            let line = String::from_utf8_lossy(&self.line).trim_end_matches('\r').to_owned();
            self.line.clear();
            if line.is_empty() {
                if let Some(data) = self.data.take() {
                    events.push((std::mem::take(&mut self.event), data));
                }
                self.event.clear();
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = value.to_owned(),
                "data" => match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_reads_are_joined() {
        let mut parser = SseParser::default();
        assert!(parser.feed(b"event: data\ndata: [{\"type\":\"chunk\",").is_empty());
        let events = parser.feed(b"\"key\":\"m:0\"}]\n\n: comment\n\nevent: control\r\ndata: {}\r\n\r\n");
        assert_eq!(events[0].0, "data");
        assert_eq!(chunk_keys(&events[0].1), ["m:0"]);
        assert_eq!(events[1], ("control".to_owned(), "{}".to_owned()));
        assert_eq!(events.len(), 2);
    }
}
