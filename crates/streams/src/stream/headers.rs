//! The protocol's request headers, parsed and checked. Every refusal names the header
//! and what was wrong with it.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use super::{offset, path};
use crate::store::{Expiry, ForkFrom, ProducerTag};

pub const STREAM_TTL: &str = "stream-ttl";
pub const STREAM_EXPIRES_AT: &str = "stream-expires-at";
pub const STREAM_CLOSED: &str = "stream-closed";
pub const STREAM_SEQ: &str = "stream-seq";
pub const STREAM_NEXT_OFFSET: &str = "stream-next-offset";
pub const STREAM_UP_TO_DATE: &str = "stream-up-to-date";
pub const STREAM_CURSOR: &str = "stream-cursor";
pub const STREAM_SSE_DATA_ENCODING: &str = "stream-sse-data-encoding";
pub const STREAM_FORKED_FROM: &str = "stream-forked-from";
pub const STREAM_FORK_OFFSET: &str = "stream-fork-offset";
pub const STREAM_FORK_SUB_OFFSET: &str = "stream-fork-sub-offset";
pub const PRODUCER_ID: &str = "producer-id";
pub const PRODUCER_EPOCH: &str = "producer-epoch";
pub const PRODUCER_SEQ: &str = "producer-seq";
pub const PRODUCER_EXPECTED_SEQ: &str = "producer-expected-seq";
pub const PRODUCER_RECEIVED_SEQ: &str = "producer-received-seq";

/// Where the stream routes are mounted: `Stream-Forked-From` names sources this way.
pub const STREAM_PREFIX: &str = "/v1/stream/";

/// Producer epochs and sequence numbers stay exact in JavaScript.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| format!("{name} is not visible ASCII")),
    }
}

/// `Content-Type`, if present and not blank.
pub fn content_type(headers: &HeaderMap) -> Result<Option<String>, String> {
    Ok(text(headers, CONTENT_TYPE.as_str())?.map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned))
}

/// `Stream-Closed` counts only when it is `true` (any case); other values are ignored.
pub fn closed(headers: &HeaderMap) -> bool {
    headers.get(STREAM_CLOSED).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

pub fn stream_seq(headers: &HeaderMap) -> Result<Option<String>, String> {
    Ok(text(headers, STREAM_SEQ)?.map(str::to_owned))
}

/// A plain non-negative decimal: no sign, no leading zeros, no exponent.
fn decimal(name: &str, value: &str, max: u64) -> Result<u64, String> {
    let plain =
        !value.is_empty() && value.bytes().all(|c| c.is_ascii_digit()) && (value == "0" || !value.starts_with('0'));
    let parsed = plain.then(|| value.parse::<u64>().ok()).flatten().filter(|n| *n <= max);
    parsed.ok_or_else(|| {
        format!("{name} must be a non-negative integer without sign or leading zeros (at most {max}), not {value:?}")
    })
}

pub fn expiry(headers: &HeaderMap) -> Result<Expiry, String> {
    let ttl = text(headers, STREAM_TTL)?;
    let at = text(headers, STREAM_EXPIRES_AT)?;
    match (ttl, at) {
        (Some(_), Some(_)) => Err("give Stream-TTL or Stream-Expires-At, not both".into()),
        (Some(ttl), None) => decimal("Stream-TTL", ttl.trim(), u32::MAX as u64).map(Expiry::Ttl),
        (None, Some(at)) => DateTime::parse_from_rfc3339(at.trim())
            .map(|t| Expiry::At(t.with_timezone(&Utc)))
            .map_err(|e| format!("Stream-Expires-At must be an RFC 3339 timestamp ({e})")),
        (None, None) => Ok(Expiry::Never),
    }
}

/// `Producer-Id`, `-Epoch` and `-Seq`: all three or none.
pub fn producer(headers: &HeaderMap) -> Result<Option<ProducerTag>, String> {
    let id = text(headers, PRODUCER_ID)?;
    let epoch = text(headers, PRODUCER_EPOCH)?;
    let seq = text(headers, PRODUCER_SEQ)?;
    match (id, epoch, seq) {
        (None, None, None) => Ok(None),
        (Some(id), Some(epoch), Some(seq)) => {
            if id.trim().is_empty() {
                return Err("Producer-Id must not be empty".into());
            }
            let epoch = decimal_lenient("Producer-Epoch", epoch.trim())?;
            let seq = decimal_lenient("Producer-Seq", seq.trim())?;
            Ok(Some(ProducerTag { id: id.to_owned(), epoch, seq }))
        }
        _ => Err("Producer-Id, Producer-Epoch and Producer-Seq must be given together".into()),
    }
}

/// Producer numbers: digits only, at most 2^53-1.
fn decimal_lenient(name: &str, value: &str) -> Result<u64, String> {
    let parsed = (!value.is_empty() && value.bytes().all(|c| c.is_ascii_digit()))
        .then(|| value.parse::<u64>().ok())
        .flatten()
        .filter(|n| *n <= MAX_SAFE_INTEGER);
    parsed.ok_or_else(|| format!("{name} must be an integer from 0 to 2^53-1, not {value:?}"))
}

/// `Stream-Forked-From` with its offset and sub-offset.
pub fn fork(headers: &HeaderMap) -> Result<Option<ForkFrom>, String> {
    let from = text(headers, STREAM_FORKED_FROM)?;
    let offset = text(headers, STREAM_FORK_OFFSET)?;
    let sub = text(headers, STREAM_FORK_SUB_OFFSET)?;
    let Some(from) = from else {
        if offset.is_some() || sub.is_some() {
            return Err("Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From".into());
        }
        return Ok(None);
    };
    let source = from
        .trim()
        .strip_prefix(STREAM_PREFIX)
        .ok_or_else(|| format!("Stream-Forked-From must be a stream path starting with {STREAM_PREFIX}"))?;
    path::validate(source).map_err(|e| format!("Stream-Forked-From: {e}"))?;
    let offset =
        offset.map(|o| offset::parse_position(o.trim())).transpose().map_err(|e| format!("Stream-Fork-Offset: {e}"))?;
    let sub_offset = sub.map(|s| decimal_lenient("Stream-Fork-Sub-Offset", s.trim())).transpose()?.unwrap_or(0);
    if sub_offset > 0 && offset.is_none() {
        return Err("Stream-Fork-Sub-Offset needs Stream-Fork-Offset".into());
    }
    Ok(Some(ForkFrom { path: source.to_owned(), offset, sub_offset }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn ttl_must_be_plain_decimal() {
        assert_eq!(expiry(&with(&[(STREAM_TTL, "3600")])), Ok(Expiry::Ttl(3600)));
        for bad in ["abc", "-1", "00060", "+60", "60.5", "1e3", ""] {
            let mut h = HeaderMap::new();
            h.insert(STREAM_TTL, HeaderValue::from_str(bad).unwrap());
            assert!(expiry(&h).is_err(), "{bad:?} accepted");
        }
        assert!(expiry(&with(&[(STREAM_TTL, "1"), (STREAM_EXPIRES_AT, "2030-01-01T00:00:00Z")])).is_err());
    }

    #[test]
    fn producer_headers_come_together() {
        assert!(producer(&with(&[(PRODUCER_ID, "p")])).is_err());
        assert!(producer(&with(&[(PRODUCER_ID, ""), (PRODUCER_EPOCH, "0"), (PRODUCER_SEQ, "0")])).is_err());
        assert!(producer(&with(&[(PRODUCER_ID, "p"), (PRODUCER_EPOCH, "1e3"), (PRODUCER_SEQ, "0")])).is_err());
        let tag = producer(&with(&[(PRODUCER_ID, "p"), (PRODUCER_EPOCH, "2"), (PRODUCER_SEQ, "7")])).unwrap().unwrap();
        assert_eq!((tag.epoch, tag.seq), (2, 7));
    }

    #[test]
    fn closed_is_true_or_nothing() {
        assert!(closed(&with(&[(STREAM_CLOSED, "TRUE")])));
        assert!(!closed(&with(&[(STREAM_CLOSED, "yes")])));
    }

    #[test]
    fn fork_sources_are_stream_paths() {
        let f = fork(&with(&[(STREAM_FORKED_FROM, "/v1/stream/a/b")])).unwrap().unwrap();
        assert_eq!((f.path.as_str(), f.offset, f.sub_offset), ("a/b", None, 0));
        assert!(fork(&with(&[(STREAM_FORKED_FROM, "/v1/stream/../x")])).is_err());
        assert!(fork(&with(&[(STREAM_FORK_SUB_OFFSET, "0")])).is_err());
        assert!(fork(&with(&[(STREAM_FORKED_FROM, "/v1/stream/a"), (STREAM_FORK_SUB_OFFSET, "1")])).is_err());
    }
}
