//! `GET ?live=sse`: the stream as Server-Sent Events. Each batch of data is one `data`
//! event followed by a `control` event carrying the next offset; the connection ends
//! when the stream closes, after about a minute (clients reconnect from the last
//! offset), at shutdown, when the session ends (revoked or expired), or when a client
//! stops reading.
//!
//! A task per subscriber reads from the store at its own pace and hands events to the
//! response through a small channel. A client that does not take an event within
//! [`SLOW_CONSUMER`] is dropped, so a stalled reader holds a bounded amount of memory.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use tokio::sync::mpsc;
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
/// Events buffered per subscriber.
const BUFFER: usize = 8;
/// How long an event may wait for a client that is not reading.
const SLOW_CONSUMER: Duration = Duration::from_secs(10);
/// Connections are closed after this, so CDNs can collapse clients (protocol §10.2).
const RECONNECT_AFTER: Duration = Duration::from_secs(60);

/// How data events carry a stream's bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Text,
    Base64,
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
    let (tx, rx) = mpsc::channel(BUFFER);
    let subscriber = Subscriber {
        state: state.clone(),
        key,
        watch,
        tx,
        encoding,
        cursor: query.cursor,
        live,
        _done: done,
        _slot: slot,
    };
    tokio::spawn(subscriber.run(first));
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if encoding == Encoding::Base64 {
        set(&mut headers, STREAM_SSE_DATA_ENCODING, "base64");
    }
    let events =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok::<Bytes, Infallible>(e), rx)) });
    Ok(respond(StatusCode::OK, headers, Body::from_stream(events)))
}

struct Subscriber {
    state: AppState,
    key: StreamKey,
    watch: Watch,
    tx: mpsc::Sender<Bytes>,
    encoding: Encoding,
    cursor: Option<String>,
    /// Cancelled at shutdown or when the session ends.
    live: CancellationToken,
    /// Cancels `live` when the events end, which stops its session watch.
    _done: DropGuard,
    _slot: ReaderSlot,
}

impl Subscriber {
    /// Sends events until the stream ends or the connection should close.
    async fn run(mut self, mut batch: ReadBatch) {
        let deadline = Instant::now() + RECONNECT_AFTER;
        let id = batch.info.id;
        let mut pos = batch.from;
        // The position and closure last announced in a control event.
        let mut announced = None;
        loop {
            if self.live.is_cancelled() {
                return;
            }
            if !batch.slices.is_empty() {
                // One write, so a reader never sees data without the control after it.
                let events = [self.data_event(&batch), self.control(&batch)].concat();
                if !self.send(events.into()).await {
                    return;
                }
                pos = batch.next;
                announced = Some((pos, batch.at_end()));
            } else if announced != Some((pos, batch.at_end())) {
                if !self.send(self.control(&batch)).await {
                    return;
                }
                announced = Some((pos, batch.at_end()));
            }
            if batch.at_end() {
                return;
            }
            if batch.up_to_date() && !self.wait(deadline).await {
                return;
            }
            batch = match self.state.store.read(&self.key, ReadFrom::At(pos), EVENT_LIMIT).await {
                Ok(batch) if batch.info.id == id => batch,
                _ => return,
            };
        }
    }

    /// Waits for the stream to change; false when the connection should end instead.
    async fn wait(&mut self, deadline: Instant) -> bool {
        tokio::select! {
            changed = self.watch.changed() => changed.is_ok() && !self.watch.borrow().gone,
            () = tokio::time::sleep_until(deadline) => false,
            () = self.live.cancelled() => false,
            () = self.tx.closed() => false,
        }
    }

    async fn send(&self, event: Bytes) -> bool {
        matches!(tokio::time::timeout(SLOW_CONSUMER, self.tx.send(event)).await, Ok(Ok(())))
    }

    fn data_event(&self, batch: &ReadBatch) -> Bytes {
        let payload = match self.encoding {
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(render(batch, false)),
            Encoding::Text => String::from_utf8_lossy(&render(batch, false)).into_owned(),
            Encoding::Json => String::from_utf8_lossy(&render(batch, true)).into_owned(),
        };
        event("data", &payload)
    }

    fn control(&self, batch: &ReadBatch) -> Bytes {
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
        event("control", &serde_json::Value::Object(control).to_string())
    }
}

/// One SSE event. Every line of the payload (split at CR, LF or CRLF) gets its own
/// `data:` field, so payload text can never end the event or start another; a line
/// that begins with a space gets one more, which the client's parser strips.
fn event(name: &str, payload: &str) -> Bytes {
    let mut out = String::with_capacity(payload.len() + 32);
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
    out.into()
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
        let e = event("data", "a\r\n\r\nevent: control\rdata: x\n b");
        assert_eq!(&e[..], b"event: data\ndata:a\ndata:\ndata:event: control\ndata:data: x\ndata:  b\n\n");
    }
}
