//! Responses that run on for minutes (SSE) sent outside hyper. hyper keeps a read and
//! a write buffer of 8 KiB each for as long as a connection is open, and a connection
//! task sized for any request; for a thousand idle subscribers that is most of the
//! server's memory. A response marked [`Detach`] leaves hyper once the handler returns
//! it: its head and body go straight to the socket from a small task of its own
//! (chunked over HTTP/1.1, as they come over HTTP/1.0), and the connection closes when
//! the body ends. Either way a client that stops reading is cut off.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::response::Parts;
use http::HeaderValue;
use http_body_util::BodyExt;
use tokio::net::TcpStream;

/// Put in a response's extensions to send it outside hyper (see the module's doc).
/// Only for long bodies of `GET` over HTTP/1.x; others are sent as usual. The
/// response is its connection's last: a request pipelined behind it goes unanswered.
#[derive(Clone, Copy, Debug)]
pub struct Detach {
    /// A client that takes no bytes for this long while some wait for it is cut off.
    pub stall_timeout: Duration,
}

/// Writes `head` and then `body` to `socket` (in chunks if `chunked`), until the body
/// ends, the client goes away, or a write makes no progress for `stall_timeout`.
pub(crate) async fn send(socket: TcpStream, head: Vec<u8>, mut body: Body, chunked: bool, stall_timeout: Duration) {
    // The head goes at once: a subscriber knows it is subscribed before any event.
    if write(&socket, &[&head, b"", b""], stall_timeout).await.is_err() {
        return;
    }
    drop(head); // its memory, for the rest of a long response
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            () = client_gone(&socket) => return,
        };
        let data = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
            // The body failed: no last chunk, so the client sees the response cut short.
            Some(Err(_)) => return,
            None if chunked => {
                let _ = write(&socket, &[b"0\r\n\r\n", b"", b""], stall_timeout).await;
                return;
            }
            // HTTP/1.0: the body ends where the connection does.
            None => return,
        };
        let written = if chunked {
            let mut size = [0; 18];
            write(&socket, &[chunk_size(data.len(), &mut size), &data, b"\r\n"], stall_timeout).await
        } else {
            write(&socket, &[&data, b"", b""], stall_timeout).await
        };
        if written.is_err() {
            return;
        }
    }
}

/// A chunk's size line, `{len:x}\r\n`, written into `buf`: made for every event sent to
/// every subscriber, so without an allocation.
fn chunk_size(mut len: usize, buf: &mut [u8; 18]) -> &[u8] {
    let mut at = 16;
    buf[16..].copy_from_slice(b"\r\n");
    loop {
        at -= 1;
        buf[at] = b"0123456789abcdef"[len & 15];
        len >>= 4;
        if len == 0 {
            return &buf[at..];
        }
    }
}

/// The status line and headers, with the framing this connection uses: chunked (or,
/// over HTTP/1.0, none), and closed after the body.
pub(crate) fn head(parts: Parts, chunked: bool) -> Vec<u8> {
    let mut headers = parts.headers;
    headers.remove(CONTENT_LENGTH);
    if chunked {
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    }
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    if !headers.contains_key(DATE) {
        let now = httpdate::fmt_http_date(SystemTime::now());
        headers.insert(DATE, HeaderValue::from_str(&now).expect("an HTTP date is a valid header value"));
    }
    let status = parts.status;
    let version = if chunked { "HTTP/1.1" } else { "HTTP/1.0" };
    let reason = status.canonical_reason().unwrap_or("");
    let mut out = format!("{version} {} {reason}\r\n", status.as_str()).into_bytes();
    for (name, value) in &headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes all of `parts`, failing if the client stops taking bytes for `stall_timeout`.
async fn write(socket: &TcpStream, parts: &[&[u8]; 3], stall_timeout: Duration) -> io::Result<()> {
    let mut slices = parts.map(IoSlice::new);
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match tokio::time::timeout(stall_timeout, poll_fn(|cx| socket.poll_write_ready(cx))).await {
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
            Ok(ready) => ready?,
        }
        match socket.try_write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Resolves when the client closes its side or the connection fails. Anything it
/// sends meanwhile is read and ignored: the response is the connection's last.
///
/// Readiness is polled (`poll_*_ready`, not `readable()`) so that this task's waker
/// replaces the one hyper's connection task left on the socket, which would otherwise
/// keep that finished task's memory for as long as the socket is open.
async fn client_gone(socket: &TcpStream) {
    let mut scratch = [0u8; 64];
    loop {
        if poll_fn(|cx| socket.poll_read_ready(cx)).await.is_err() {
            return;
        }
        match socket.try_read(&mut scratch) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_size;

    #[test]
    fn chunk_sizes_are_hex_lines() {
        let mut buf = [0; 18];
        for len in [0, 9, 10, 255, 4096, 0x1234_abcd, usize::MAX] {
            assert_eq!(chunk_size(len, &mut buf), format!("{len:x}\r\n").as_bytes());
        }
    }
}
