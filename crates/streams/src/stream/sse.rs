//! `GET ?live=sse`: the stream as Server-Sent Events. Each batch of data is one `data`
//! event followed by a `control` event carrying the next offset; the connection ends
//! when the stream closes, after about a minute (clients reconnect from the last
//! offset), at shutdown, when the session ends (revoked or expired), or when the client
//! goes away.
//!
//! The events are produced as the response body is polled: the connection's own task
//! reads the store when it can take more, so an idle subscriber holds no task or
//! channel of its own, and a client that stops reading holds no more than its
//! connection's write buffer (the store is not read for it until that drains).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::headers::STREAM_SSE_DATA_ENCODING;
use super::read::{read_from, render, ReadQuery};
use super::{cursor, offset, respond, set};
use crate::api_error::ApiError;
use crate::limits::ReaderSlot;
use crate::store::{is_json, ReadBatch, ReadFrom, StreamKey, Watch};
use crate::AppState;

/// Data per event.
const EVENT_LIMIT: usize = 64 << 10;
/// Connections are closed after this, so CDNs can collapse clients (protocol §10.2).
const RECONNECT_AFTER: Duration = Duration::from_secs(60);

/// How data events carry a stream's bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Text,
    Base64,
}

/// What a subscriber does once it has sent what it read.
#[derive(Clone, Copy)]
enum After {
    /// Read on: the stream has more.
    Read,
    /// Wait for the stream to change: the subscriber is up to date.
    Wait,
    /// End the events: the stream is closed and all of it sent.
    End,
}

/// Subscribes to the stream; the events end when `live` is cancelled (shutdown, or the
/// session ended), and `live` is cancelled when they end. The subscriber holds `slot`,
/// the caller's place among their live reads, until then.
pub async fn subscribe(
    state: &AppState,
    key: StreamKey,
    query: ReadQuery,
    live: CancellationToken,
    slot: ReaderSlot,
) -> Result<Response, ApiError> {
    let done = live.clone().drop_guard();
    let watch = state.store.watch(&key).await?;
    let first = state.store.read(&key, read_from(query.offset), EVENT_LIMIT).await?;
    let content_type = first.info.content_type.to_ascii_lowercase();
    let encoding = if is_json(&content_type) {
        Encoding::Json
    } else if content_type.starts_with("text/") {
        Encoding::Text
    } else {
        Encoding::Base64
    };
    let subscriber = Subscriber {
        state: state.clone(),
        key,
        watch,
        encoding,
        cursor: query.cursor,
        id: first.info.id,
        pos: first.from,
        announced: None,
        deadline: Instant::now() + RECONNECT_AFTER,
        first: Some(first),
        after: After::Read,
        live,
        _done: done,
        _slot: slot,
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if encoding == Encoding::Base64 {
        set(&mut headers, STREAM_SSE_DATA_ENCODING, "base64");
    }
    let events = futures::stream::unfold(subscriber, |mut subscriber| async move {
        let event = subscriber.next_event().await?;
        Some((Ok::<Bytes, Infallible>(event), subscriber))
    });
    Ok(respond(StatusCode::OK, headers, Body::from_stream(events)))
}

struct Subscriber {
    state: AppState,
    key: StreamKey,
    watch: Watch,
    encoding: Encoding,
    cursor: Option<String>,
    /// The stream read: a stream deleted and created again under the key ends the events.
    id: u64,
    /// Where the next read starts.
    pos: u64,
    /// The position and closure last announced in a control event.
    announced: Option<(u64, bool)>,
    deadline: Instant,
    /// The batch read when subscribing, not sent yet.
    first: Option<ReadBatch>,
    after: After,
    /// Cancelled at shutdown or when the session ends.
    live: CancellationToken,
    /// Cancels `live` when the events end, which stops its session watch.
    _done: DropGuard,
    _slot: ReaderSlot,
}

impl Subscriber {
    /// The next event, or `None` when the connection should close.
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            if self.live.is_cancelled() {
                return None;
            }
            let batch = match self.first.take() {
                Some(batch) => batch,
                None => self.next_batch().await?,
            };
            self.after = if batch.at_end() {
                After::End
            } else if batch.up_to_date() {
                After::Wait
            } else {
                After::Read
            };
            if let Some(event) = self.events(&batch) {
                return Some(event);
            }
        }
    }

    /// The next batch from the store, once there is one to read.
    async fn next_batch(&mut self) -> Option<ReadBatch> {
        let ready = match self.after {
            After::End => false,
            After::Wait => self.wait().await,
            After::Read => true,
        };
        if !ready {
            return None;
        }
        match self.state.store.read(&self.key, ReadFrom::At(self.pos), EVENT_LIMIT).await {
            Ok(batch) if batch.info.id == self.id => Some(batch),
            _ => None,
        }
    }

    /// Waits for the stream to change; false when the connection should end instead.
    async fn wait(&mut self) -> bool {
        tokio::select! {
            changed = self.watch.changed() => changed.is_ok() && !self.watch.borrow().gone,
            () = tokio::time::sleep_until(self.deadline) => false,
            () = self.live.cancelled() => false,
        }
    }

    /// What `batch` makes known: its data then a control event (in one piece, so a
    /// reader never sees data without the control after it), or only a control event
    /// if the position or closure changed, or nothing.
    fn events(&mut self, batch: &ReadBatch) -> Option<Bytes> {
        let mut out = String::new();
        if !batch.slices.is_empty() {
            self.pos = batch.next;
            self.data_event(batch, &mut out);
        } else if self.announced == Some((self.pos, batch.at_end())) {
            return None;
        }
        self.announced = Some((self.pos, batch.at_end()));
        self.control(batch, &mut out);
        Some(out.into())
    }

    fn data_event(&self, batch: &ReadBatch, out: &mut String) {
        let payload = match self.encoding {
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(render(batch, false)),
            Encoding::Text => String::from_utf8_lossy(&render(batch, false)).into_owned(),
            Encoding::Json => String::from_utf8_lossy(&render(batch, true)).into_owned(),
        };
        event("data", &payload, out);
    }

    fn control(&self, batch: &ReadBatch, out: &mut String) {
        let mut control = serde_json::Map::new();
        control.insert("streamNextOffset".into(), offset::format(batch.next).into());
        if batch.at_end() {
            control.insert("streamClosed".into(), true.into());
        } else {
            control.insert("streamCursor".into(), cursor::next(self.cursor.as_deref()).into());
        }
        if batch.up_to_date() {
            control.insert("upToDate".into(), true.into());
        }
        event("control", &serde_json::Value::Object(control).to_string(), out);
    }
}

/// One SSE event. Every line of the payload (split at CR, LF or CRLF) gets its own
/// `data:` field, so payload text can never end the event or start another; a line
/// that begins with a space gets one more, which the client's parser strips.
fn event(name: &str, payload: &str, out: &mut String) {
    out.reserve(payload.len() + 32);
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    for line in lines(payload) {
        out.push_str("data:");
        if line.starts_with(' ') {
            out.push(' ');
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            None => {
                rest = None;
                Some(current)
            }
            Some(i) => {
                let skip = if current[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&current[i + skip..]);
                Some(&current[..i])
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_lines_cannot_forge_events() {
        let mut e = String::new();
        event("data", "a\r\n\r\nevent: control\rdata: x\n b", &mut e);
        assert_eq!(e.as_bytes(), b"event: data\ndata:a\ndata:\ndata:event: control\ndata:data: x\ndata:  b\n\n");
    }
}
