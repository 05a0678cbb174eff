//! The protocol's decisions, shared by both backends: given a stream's current state
//! and a request, what happens. Nothing here does I/O, so both stores answer alike.

use chrono::{DateTime, Utc};

use super::payload::{essence, is_json, split_messages};
use super::{Append, BodyError, CreateStream, Expiry, Payload, ProducerTag, Slice};

/// Why a create is refused (beyond the stream or its source not existing).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    #[error("a stream with a different configuration already exists at this path")]
    ConfigMismatch,
    #[error("this path belongs to a deleted stream still used by its forks")]
    PathInUse,
    #[error("the fork source was deleted")]
    SourceDeleted,
    #[error("content type {requested:?} differs from the fork source's {source_type:?}")]
    ForkContentType { requested: String, source_type: String },
    #[error("fork offset {0} is past the source's tail")]
    ForkOffsetPastTail(u64),
    #[error("fork offset {0} is not a message boundary of the JSON source")]
    ForkOffsetNotBoundary(u64),
    #[error("fork sub-offset {requested} is past the next data boundary ({available} available)")]
    SubOffsetTooFar { requested: u64, available: u64 },
    #[error("{0}")]
    Body(#[from] BodyError),
}

/// Why an append is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("stream is closed")]
    Closed { tail: u64 },
    #[error("content type {got:?} does not match the stream's {expected:?}")]
    ContentType { expected: String, got: String },
    #[error("Stream-Seq {got:?} is not greater than the last one, {last:?}")]
    StreamSeq { last: String, got: String },
    #[error("producer epoch is stale; current epoch is {current}")]
    StaleEpoch { current: u64 },
    #[error("a new producer epoch must start at Producer-Seq 0")]
    EpochMustStartAtZero,
    #[error("producer sequence gap: expected {expected}, received {received}")]
    SeqGap { expected: u64, received: u64 },
    #[error("{0}")]
    Body(#[from] BodyError),
}

/// What the store keeps per idempotent producer on a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerState {
    pub epoch: u64,
    pub last_seq: u64,
}

/// The parts of a stream an append is judged against.
pub struct AppendTarget<'a> {
    pub content_type: &'a str,
    pub closed: bool,
    pub closed_by: Option<&'a ProducerTag>,
    pub last_stream_seq: Option<&'a str>,
}

/// An accepted append.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendPlan {
    Write {
        payload: Option<Payload>,
        close: bool,
        /// The producer's state after this write.
        producer: Option<ProducerState>,
    },
    /// Already done: answer success, change nothing.
    Duplicate { producer: Option<ProducerState> },
}

/// Judges an append, in the protocol's order: closed stream, content type, producer
/// fencing and sequence, `Stream-Seq`, then the body itself.
pub fn plan_append(
    target: &AppendTarget<'_>,
    producer: Option<ProducerState>,
    request: &Append,
) -> Result<AppendPlan, AppendError> {
    if target.closed {
        if let (Some(tag), Some(closer)) = (&request.producer, target.closed_by) {
            if tag == closer {
                return Ok(AppendPlan::Duplicate {
                    producer: Some(ProducerState { epoch: tag.epoch, last_seq: tag.seq }),
                });
            }
        }
        if request.close && request.payload.is_none() {
            return Ok(AppendPlan::Duplicate { producer: producer.filter(|_| request.producer.is_some()) });
        }
        return Err(AppendError::Closed { tail: 0 });
    }
    if request.payload.is_some() {
        let got = request.content_type.as_deref().unwrap_or("");
        if essence(got) != essence(target.content_type) {
            return Err(AppendError::ContentType { expected: target.content_type.to_owned(), got: got.to_owned() });
        }
    }
    let next_producer = match &request.producer {
        Some(tag) => match check_producer(producer, tag)? {
            ProducerCheck::Duplicate(state) => return Ok(AppendPlan::Duplicate { producer: Some(state) }),
            ProducerCheck::Accept(state) => Some(state),
        },
        None => None,
    };
    if let (Some(got), Some(last)) = (&request.stream_seq, target.last_stream_seq) {
        if got.as_str() <= last {
            return Err(AppendError::StreamSeq { last: last.to_owned(), got: got.clone() });
        }
    }
    let payload = match &request.payload {
        Some(Ok(payload)) => Some(payload.clone()),
        Some(Err(e)) => return Err(AppendError::Body(e.clone())),
        None => None,
    };
    Ok(AppendPlan::Write { payload, close: request.close, producer: next_producer })
}

enum ProducerCheck {
    Accept(ProducerState),
    Duplicate(ProducerState),
}

fn check_producer(state: Option<ProducerState>, tag: &ProducerTag) -> Result<ProducerCheck, AppendError> {
    let accepted = ProducerState { epoch: tag.epoch, last_seq: tag.seq };
    let Some(state) = state else {
        return match tag.seq {
            0 => Ok(ProducerCheck::Accept(accepted)),
            received => Err(AppendError::SeqGap { expected: 0, received }),
        };
    };
    if tag.epoch < state.epoch {
        return Err(AppendError::StaleEpoch { current: state.epoch });
    }
    if tag.epoch > state.epoch {
        return match tag.seq {
            0 => Ok(ProducerCheck::Accept(accepted)),
            _ => Err(AppendError::EpochMustStartAtZero),
        };
    }
    if tag.seq <= state.last_seq {
        return Ok(ProducerCheck::Duplicate(state));
    }
    if tag.seq == state.last_seq + 1 {
        return Ok(ProducerCheck::Accept(accepted));
    }
    Err(AppendError::SeqGap { expected: state.last_seq + 1, received: tag.seq })
}

/// An existing stream, as far as an idempotent `PUT` compares it.
pub struct ExistingStream<'a> {
    pub content_type: &'a str,
    pub expiry: Expiry,
    pub closed: bool,
    pub fork: Option<(&'a str, u64, u64)>,
}

/// Whether a `PUT` asks for exactly the stream that exists (200) or not (409).
/// `requested_expiry` is the request's expiry after fork inheritance.
pub fn same_config(
    existing: &ExistingStream<'_>,
    request: &CreateStream,
    requested_type: &str,
    requested_expiry: Expiry,
) -> bool {
    let fork_matches = match (&request.fork, existing.fork) {
        (None, None) => true,
        (Some(want), Some((path, offset, sub))) => {
            want.path == path && want.offset.is_none_or(|o| o == offset) && want.sub_offset == sub
        }
        _ => false,
    };
    essence(existing.content_type) == essence(requested_type)
        && same_expiry(existing.expiry, requested_expiry)
        && existing.closed == request.closed
        && fork_matches
}

fn same_expiry(a: Expiry, b: Expiry) -> bool {
    match (a, b) {
        (Expiry::At(x), Expiry::At(y)) => x.timestamp_millis() == y.timestamp_millis(),
        _ => a == b,
    }
}

/// A fork's expiry: its own if it asked for one, otherwise the source's.
pub fn fork_expiry(requested: Expiry, source: Expiry) -> Expiry {
    match requested {
        Expiry::Never => source,
        own => own,
    }
}

/// The content type a new stream gets, checked against a fork source's.
pub fn create_content_type(requested: Option<&str>, source: Option<&str>) -> Result<String, CreateError> {
    let requested = requested.map(str::trim).filter(|t| !t.is_empty());
    match (requested, source) {
        (Some(r), Some(s)) if essence(r) != essence(s) => {
            Err(CreateError::ForkContentType { requested: r.to_owned(), source_type: s.to_owned() })
        }
        (Some(r), _) => Ok(r.to_owned()),
        (None, Some(s)) => Ok(s.to_owned()),
        (None, None) => Ok("application/octet-stream".to_owned()),
    }
}

/// The prefix a fork inherits past its anchor: the first `sub` bytes (or JSON
/// messages) of `next`, the stored run that begins at the anchor.
pub fn sub_offset_prefix(content_type: &str, next: Option<&Slice>, sub: u64) -> Result<Option<Payload>, CreateError> {
    if sub == 0 {
        return Ok(None);
    }
    let Some(next) = next else {
        return Err(CreateError::SubOffsetTooFar { requested: sub, available: 0 });
    };
    if is_json(content_type) {
        let messages = split_messages(&next.data)?;
        let available = messages.len() as u64;
        if sub > available {
            return Err(CreateError::SubOffsetTooFar { requested: sub, available });
        }
        let data = messages[..sub as usize].join(",");
        return Ok(Some(Payload { data: data.into(), messages: sub }));
    }
    let available = next.data.len() as u64;
    if sub > available {
        return Err(CreateError::SubOffsetTooFar { requested: sub, available });
    }
    Ok(Some(Payload { data: next.data.slice(..sub as usize), messages: 1 }))
}

/// A `PUT` body as a stream's first run: nothing for an empty body or `[]`.
pub fn initial_data(content_type: &str, body: &[u8]) -> Result<Option<bytes::Bytes>, CreateError> {
    if body.is_empty() {
        return Ok(None);
    }
    let payload = Payload::frame(content_type, body, true)?;
    Ok((payload.messages > 0 && !payload.data.is_empty()).then_some(payload.data))
}

/// Whether a stream with `expiry`, last read or written at `last_access`, is gone.
pub fn expired(expiry: Expiry, last_access: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    super::expires_at(expiry, last_access).is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(producer: Option<(u64, u64)>, body: &str) -> Append {
        Append {
            content_type: Some("text/plain".into()),
            payload: (!body.is_empty()).then(|| Payload::frame("text/plain", body.as_bytes(), false)),
            close: false,
            stream_seq: None,
            producer: producer.map(|(epoch, seq)| ProducerTag { id: "p".into(), epoch, seq }),
        }
    }

    const OPEN: AppendTarget<'static> =
        AppendTarget { content_type: "text/plain", closed: false, closed_by: None, last_stream_seq: None };

    fn state(epoch: u64, last_seq: u64) -> Option<ProducerState> {
        Some(ProducerState { epoch, last_seq })
    }

    #[test]
    fn producer_fencing_and_dedup() {
        assert!(matches!(plan_append(&OPEN, None, &append(Some((0, 0)), "a")), Ok(AppendPlan::Write { .. })));
        assert_eq!(
            plan_append(&OPEN, None, &append(Some((0, 3)), "a")),
            Err(AppendError::SeqGap { expected: 0, received: 3 })
        );
        assert_eq!(
            plan_append(&OPEN, state(0, 2), &append(Some((0, 1)), "a")),
            Ok(AppendPlan::Duplicate { producer: state(0, 2) })
        );
        assert_eq!(
            plan_append(&OPEN, state(1, 0), &append(Some((0, 1)), "a")),
            Err(AppendError::StaleEpoch { current: 1 })
        );
        assert_eq!(plan_append(&OPEN, state(0, 0), &append(Some((1, 5)), "a")), Err(AppendError::EpochMustStartAtZero));
        assert_eq!(
            plan_append(&OPEN, state(0, 0), &append(Some((0, 2)), "a")),
            Err(AppendError::SeqGap { expected: 1, received: 2 })
        );
    }

    #[test]
    fn closed_streams_refuse_data_but_accept_repeated_closes() {
        let closer = ProducerTag { id: "p".into(), epoch: 0, seq: 0 };
        let closed = AppendTarget { closed: true, closed_by: Some(&closer), ..OPEN };
        assert!(matches!(plan_append(&closed, None, &append(None, "x")), Err(AppendError::Closed { .. })));
        let mut close_only = append(None, "");
        close_only.close = true;
        assert!(matches!(plan_append(&closed, None, &close_only), Ok(AppendPlan::Duplicate { .. })));
        let mut retry = append(Some((0, 0)), "other body");
        retry.close = true;
        assert!(matches!(plan_append(&closed, state(0, 0), &retry), Ok(AppendPlan::Duplicate { .. })));
    }

    #[test]
    fn stream_seq_is_compared_bytewise() {
        let target = AppendTarget { last_stream_seq: Some("2"), ..OPEN };
        let mut request = append(None, "x");
        request.stream_seq = Some("10".into());
        assert!(matches!(plan_append(&target, None, &request), Err(AppendError::StreamSeq { .. })));
        request.stream_seq = Some("3".into());
        assert!(matches!(plan_append(&target, None, &request), Ok(AppendPlan::Write { .. })));
    }

    #[test]
    fn content_type_is_checked_before_the_body() {
        let mut request = append(None, "");
        request.content_type = Some("application/json".into());
        request.payload = Some(Err(BodyError::EmptyArray));
        assert!(matches!(plan_append(&OPEN, None, &request), Err(AppendError::ContentType { .. })));
    }

    #[test]
    fn sub_offsets_stop_at_the_next_boundary() {
        let run = Slice { start: 0, data: "hello".into() };
        assert_eq!(sub_offset_prefix("text/plain", Some(&run), 3).unwrap().unwrap().data, &b"hel"[..]);
        assert!(sub_offset_prefix("text/plain", Some(&run), 6).is_err());
        let json = Slice { start: 0, data: r#"{"a":1},{"b":2}"#.into() };
        assert_eq!(sub_offset_prefix("application/json", Some(&json), 1).unwrap().unwrap().data, &br#"{"a":1}"#[..]);
        assert!(sub_offset_prefix("application/json", Some(&json), 3).is_err());
        assert!(sub_offset_prefix("text/plain", None, 1).is_err());
    }
}
