//! Server-sent events as providers send them (the WHATWG `text/event-stream` rules):
//! `event:` and `data:` fields, multi-line data joined with `\n`, comment lines
//! (keep-alives) ignored, LF or CRLF line ends, an event dispatched by a blank line.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::{Deltas, ProviderError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Splits a response body into events. A body error ends the stream with `Err`.
pub fn events<S>(body: S) -> impl Stream<Item = Result<SseEvent, String>> + Send
where
    S: Stream<Item = reqwest::Result<Bytes>> + Send + Unpin + 'static,
{
    let state = (body, Parser::default(), std::collections::VecDeque::new(), false);
    futures::stream::unfold(state, |(mut body, mut parser, mut ready, mut done)| async move {
        loop {
            if let Some(event) = ready.pop_front() {
                return Some((Ok(event), (body, parser, ready, done)));
            }
            if done {
                return None;
            }
            match body.next().await {
                Some(Ok(bytes)) => ready.extend(parser.feed(&bytes)),
                Some(Err(e)) => {
                    done = true;
                    return Some((Err(e.to_string()), (body, parser, ready, done)));
                }
                None => done = true,
            }
        }
    })
}

/// What one event of a provider's stream means.
pub enum Step {
    Text(String),
    Skip,
    /// The reply is complete.
    Stop,
}

/// The text of a provider's streamed reply: each event read by `read`, until it says
/// [`Step::Stop`]. A stream that ends before that was cut off, which is an error.
pub fn deltas(
    provider: &'static str,
    response: reqwest::Response,
    read: fn(SseEvent) -> Result<Step, ProviderError>,
) -> Deltas {
    let events = Box::pin(events(response.bytes_stream()));
    Box::pin(futures::stream::unfold(Some(events), move |events| async move {
        let mut events = events?;
        let network = |reason: String| ProviderError::Network { provider: provider.into(), reason };
        loop {
            let step = match events.next().await {
                None => Err(network("the reply was cut off before it finished".into())),
                Some(Err(reason)) => Err(network(reason)),
                Some(Ok(event)) => read(event),
            };
            match step {
                Ok(Step::Text(text)) if !text.is_empty() => return Some((Ok(text), Some(events))),
                Ok(Step::Text(_) | Step::Skip) => continue,
                Ok(Step::Stop) => return None,
                Err(e) => return Some((Err(e), None)),
            }
        }
    }))
}

#[derive(Default)]
struct Parser {
    line: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(&line)).into_owned();
                out.extend(self.line_done(&line));
            } else {
                self.line.push(b);
            }
        }
        out
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = self.event.take();
            if self.data.is_empty() {
                return None;
            }
            return Some(SseEvent { event, data: std::mem::take(&mut self.data).join("\n") });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&str]) -> Vec<SseEvent> {
        let mut parser = Parser::default();
        chunks.iter().flat_map(|c| parser.feed(c.as_bytes())).collect()
    }

    #[test]
    fn multi_line_data_comments_and_crlf() {
        let events = parse(&[": ping\n\nevent: a\r\ndata: one\r\ndata:two\r\n\r\n", "data: {\"x\"", ":1}\n\n"]);
        assert_eq!(
            events,
            vec![
                SseEvent { event: Some("a".into()), data: "one\ntwo".into() },
                SseEvent { event: None, data: "{\"x\":1}".into() },
            ]
        );
    }

    #[test]
    fn split_anywhere_gives_the_same_events() {
        let text = "event: content_block_delta\ndata: {\"a\":\"b\"}\n\n: keep-alive\n\ndata: [DONE]\n\n";
        let whole = parse(&[text]);
        for cut in 0..text.len() {
            assert_eq!(parse(&[&text[..cut], &text[cut..]]), whole, "cut at {cut}");
        }
        assert_eq!(whole.len(), 2);
    }
}
