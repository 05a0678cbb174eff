//! `GET ?live=sse`: the stream as Server-Sent Events. Each batch of data is one `data`
//! event followed by a `control` event carrying the next offset; the connection ends
//! when the stream closes, after about a minute (clients reconnect from the last
//! offset), at shutdown, when the session ends (revoked or expired), or when a client
//! stops reading.
//!
//! The response body reads from the store as the client takes events, and is sent
//! outside hyper ([`Detach`]): an idle subscriber is this body, its socket and a small
//! task, a few KiB. A client that takes no bytes for [`SLOW_CONSUMER`] is dropped, so a
//! stalled reader holds a bounded amount of memory.

use std::convert::Infallible;
use std::fmt::Write;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use superset_edge::Detach;
use tokio::time::{Instant, Sleep};

use super::headers::STREAM_SSE_DATA_ENCODING;
use super::read::{read_from, ReadQuery};
use super::{cursor, offset, respond, set};
use crate::api_error::ApiError;
use crate::auth::SessionWatch;
use crate::limits::ReaderSlot;
use crate::store::{is_json, ReadBatch, StreamKey, Watch};
use crate::AppState;

/// Data per event.
const EVENT_LIMIT: usize = 64 << 10;
/// How long a client may take no bytes while an event waits for it.
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

/// Subscribes to the stream; the events end at shutdown or when `session` ends. The
/// subscriber holds `slot`, the caller's place among their live reads, until then.
pub async fn subscribe(
    state: &AppState,
    key: StreamKey,
    query: ReadQuery,
    session: SessionWatch,
    slot: ReaderSlot,
) -> Result<Response, ApiError> {
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
    let deadline = Instant::now() + RECONNECT_AFTER;
    let subscriber = Subscriber {
        state: state.clone(),
        key,
        watch,
        encoding,
        cursor: query.cursor,
        session,
        deadline,
        timer: Box::pin(tokio::time::sleep_until(deadline)),
        id: first.info.id,
        pos: first.from,
        announced: None,
        next: Next::Send(first),
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
    let mut response = respond(StatusCode::OK, headers, Body::from_stream(events));
    response.extensions_mut().insert(Detach { stall_timeout: SLOW_CONSUMER });
    Ok(response)
}

struct Subscriber {
    state: AppState,
    key: StreamKey,
    watch: Watch,
    encoding: Encoding,
    cursor: Option<String>,
    session: SessionWatch,
    /// When the connection closes for the client to reconnect.
    deadline: Instant,
    /// Wakes [`wait`](Self::wait) at the deadline or the session's next check. Kept
    /// rather than made per wait: registering a timer and clearing it again for every
    /// event was 2% of the server's CPU in a fan-out to 1,000 subscribers.
    timer: Pin<Box<Sleep>>,
    id: u64,
    /// Where the next read starts.
    pos: u64,
    /// The position and closure last announced in a control event.
    announced: Option<(u64, bool)>,
    next: Next,
    _slot: ReaderSlot,
}

/// What the subscriber does next.
enum Next {
    /// Send this batch's events.
    Send(ReadBatch),
    /// Read on from `pos` (after waiting for more, when the last batch was all there was).
    Read {
        up_to_date: bool,
    },
    Done,
}

impl Subscriber {
    /// The next events to send; `None` when the stream ends or the connection should close.
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            if self.state.shutdown.is_cancelled()
                || (Instant::now() >= self.session.next_check() && !self.session.check().await)
            {
                return None;
            }
            match std::mem::replace(&mut self.next, Next::Done) {
                Next::Done => return None,
                Next::Send(batch) => {
                    let at_end = batch.at_end();
                    if !at_end {
                        self.next = Next::Read { up_to_date: batch.up_to_date() };
                    }
                    if !batch.is_empty() {
                        self.pos = batch.next;
                        self.announced = Some((self.pos, at_end));
                        return Some(self.events(&batch, true));
                    }
                    if self.announced != Some((self.pos, at_end)) {
                        self.announced = Some((self.pos, at_end));
                        return Some(self.events(&batch, false));
                    }
                }
                Next::Read { up_to_date } => {
                    if up_to_date && !self.wait().await {
                        return None;
                    }
                    match self.state.store.read_live(&self.key, self.pos, EVENT_LIMIT).await {
                        Ok(batch) if batch.info.id == self.id => self.next = Next::Send(batch),
                        _ => return None,
                    }
                }
            }
        }
    }

    /// Waits for the stream to change; false when the connection should end instead.
    async fn wait(&mut self) -> bool {
        loop {
            let wake = self.deadline.min(self.session.next_check());
            if self.timer.deadline() != wake {
                self.timer.as_mut().reset(wake);
            }
            tokio::select! {
                changed = self.watch.changed() => return changed.is_ok() && !self.watch.borrow().gone,
                () = self.timer.as_mut() => {
                    if Instant::now() >= self.deadline || !self.session.check().await {
                        return false;
                    }
                }
                () = self.state.shutdown.cancelled() => return false,
            }
        }
    }

    /// The batch's control event, after its data event when `data`: one write, so a
    /// reader never sees data without the control after it.
    fn events(&self, batch: &ReadBatch, data: bool) -> Bytes {
        let mut out = String::new();
        if data {
            self.data_event(batch, &mut out);
        }
        self.control(batch, &mut out);
        out.into()
    }

    fn data_event(&self, batch: &ReadBatch, out: &mut String) {
        match self.encoding {
            Encoding::Base64 => {
                event(out, "data", &base64::engine::general_purpose::STANDARD.encode(batch.render(false)));
            }
            Encoding::Text | Encoding::Json => {
                let body = batch.render(self.encoding == Encoding::Json);
                event(out, "data", &String::from_utf8_lossy(&body));
            }
        }
    }

    /// Written out by hand: its values are digits (and one underscore), and building it
    /// as a `serde_json` map took a quarter of the CPU spent making events in a fan-out.
    fn control(&self, batch: &ReadBatch, out: &mut String) {
        let mut json = String::with_capacity(112);
        json.push('{');
        if batch.at_end() {
            json.push_str(r#""streamClosed":true,"#);
        } else {
            let _ = write!(json, r#""streamCursor":"{}","#, cursor::next(self.cursor.as_deref()));
        }
        let _ = write!(json, r#""streamNextOffset":"{}""#, offset::format(batch.next));
        if batch.up_to_date() {
            json.push_str(r#","upToDate":true"#);
        }
        json.push('}');
        event(out, "control", &json);
    }
}

/// Appends one SSE event to `out`. Every line of the payload (split at CR, LF or CRLF)
/// gets its own `data:` field, so payload text can never end the event or start
/// another; a line that begins with a space gets one more, which the client's parser
/// strips.
fn event(out: &mut String, name: &str, payload: &str) {
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
        event(&mut e, "data", "a\r\n\r\nevent: control\rdata: x\n b");
        assert_eq!(e.as_bytes(), b"event: data\ndata:a\ndata:\ndata:event: control\ndata:data: x\ndata:  b\n\n");
    }
}
