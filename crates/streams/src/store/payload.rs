//! Request bodies made ready to store. A JSON stream keeps messages, not bytes: a body
//! holding an array contributes each element as a message (one level flattened), any
//! other JSON value one message. Messages are kept as their original text joined by
//! commas, so a read only has to add brackets.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::value::RawValue;

/// A body as it will be stored, with the number of messages it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub data: Bytes,
    pub messages: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("an empty JSON array appends nothing")]
    EmptyArray,
}

impl Payload {
    /// Frames `body` for a stream of `content_type`. `[]` is refused unless
    /// `allow_empty` (a create may start a JSON stream empty; an append may not).
    pub fn frame(content_type: &str, body: &[u8], allow_empty: bool) -> Result<Payload, BodyError> {
        if !is_json(content_type) {
            return Ok(Payload { data: Bytes::copy_from_slice(body), messages: 1 });
        }
        let value: &RawValue = serde_json::from_slice(body).map_err(|e| BodyError::InvalidJson(e.to_string()))?;
        let text = value.get();
        if !text.starts_with('[') {
            return Ok(Payload { data: Bytes::copy_from_slice(text.as_bytes()), messages: 1 });
        }
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| BodyError::InvalidJson(e.to_string()))?;
        if items.is_empty() && !allow_empty {
            return Err(BodyError::EmptyArray);
        }
        let mut data = BytesMut::with_capacity(text.len());
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                data.put_u8(b',');
            }
            data.put_slice(item.get().as_bytes());
        }
        Ok(Payload { data: data.freeze(), messages: items.len() as u64 })
    }
}

/// The media type without parameters, lower-cased: what two content types must share
/// to count as the same.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

pub fn is_json(content_type: &str) -> bool {
    essence(content_type) == "application/json"
}

/// The messages of a stored JSON run (`a,b,c`), each as its own text.
pub fn split_messages(data: &[u8]) -> Result<Vec<String>, BodyError> {
    let mut wrapped = Vec::with_capacity(data.len() + 2);
    wrapped.push(b'[');
    wrapped.extend_from_slice(data);
    wrapped.push(b']');
    let items: Vec<&RawValue> = serde_json::from_slice(&wrapped).map_err(|e| BodyError::InvalidJson(e.to_string()))?;
    Ok(items.iter().map(|v| v.get().to_owned()).collect())
}

/// Where each message of a stored JSON run (`a,b,c`) lies in it, in order.
pub fn message_spans(data: &[u8]) -> Result<Vec<std::ops::Range<usize>>, BodyError> {
    let mut wrapped = Vec::with_capacity(data.len() + 2);
    wrapped.push(b'[');
    wrapped.extend_from_slice(data);
    wrapped.push(b']');
    let items: Vec<&RawValue> = serde_json::from_slice(&wrapped).map_err(|e| BodyError::InvalidJson(e.to_string()))?;
    // Each item borrows from `wrapped`, one byte after the same place in `data`.
    let base = wrapped.as_ptr() as usize + 1;
    Ok(items
        .iter()
        .map(|v| v.get().as_ptr() as usize - base..v.get().as_ptr() as usize - base + v.get().len())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(body: &str) -> Result<Payload, BodyError> {
        Payload::frame("application/json; charset=utf-8", body.as_bytes(), false)
    }

    #[test]
    fn arrays_are_flattened_one_level() {
        assert_eq!(json(r#"[{"a":1}, {"b":2}]"#).unwrap().data, &br#"{"a":1},{"b":2}"#[..]);
        assert_eq!(json(r#"[{"a":1}, {"b":2}]"#).unwrap().messages, 2);
        assert_eq!(json("[[1,2],[3]]").unwrap().data, &b"[1,2],[3]"[..]);
        assert_eq!(json("[[[1]]]").unwrap().data, &b"[[1]]"[..]);
        assert_eq!(json(r#" {"x": 1} "#).unwrap().data, &br#"{"x": 1}"#[..]);
    }

    #[test]
    fn bad_json_and_empty_arrays_are_refused() {
        assert!(matches!(json("{ invalid }"), Err(BodyError::InvalidJson(_))));
        assert_eq!(json("[]"), Err(BodyError::EmptyArray));
        assert_eq!(Payload::frame("application/json", b"[]", true).unwrap().messages, 0);
    }

    #[test]
    fn other_types_are_kept_byte_for_byte() {
        let p = Payload::frame("text/plain", b"[not json", false).unwrap();
        assert_eq!(p.data, &b"[not json"[..]);
    }

    #[test]
    fn message_spans_point_into_the_run() {
        let run = br#"{"a":1}, [2,3],"s""#;
        let spans = message_spans(run).unwrap();
        let texts: Vec<&[u8]> = spans.iter().map(|s| &run[s.clone()]).collect();
        assert_eq!(texts, [&br#"{"a":1}"#[..], b"[2,3]", br#""s""#]);
    }

    #[test]
    fn stored_runs_split_back_into_messages() {
        assert_eq!(split_messages(br#"{"a":1},[2,3],"s""#).unwrap(), vec![r#"{"a":1}"#, "[2,3]", r#""s""#]);
    }
}
