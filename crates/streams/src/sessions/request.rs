//! Reading request bodies, with errors that name the offending field.

use serde_json::{Map, Value};
use superset_chat::{Chunk, Role};

/// A 400 answer's message.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

pub struct Body(Map<String, Value>);

impl Body {
    /// An empty body counts as `{}`; anything else must be a JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Body, Invalid> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(Invalid("the body must be a JSON object".into())),
            Err(e) => Err(Invalid(format!("the body is not valid JSON: {e}"))),
        }
    }

    pub fn optional_str(&self, field: &str) -> Result<Option<String>, Invalid> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Invalid(format!("`{field}` must be a string"))),
        }
    }

    pub fn str(&self, field: &str) -> Result<String, Invalid> {
        self.optional_str(field)?.ok_or_else(|| Invalid(format!("missing field `{field}`")))
    }

    pub fn optional_uuid(&self, field: &str) -> Result<Option<String>, Invalid> {
        self.optional_str(field)?.map(|id| uuid(field, &id)).transpose()
    }

    pub fn uuid(&self, field: &str) -> Result<String, Invalid> {
        uuid(field, &self.str(field)?)
    }

    pub fn optional_u64(&self, field: &str) -> Result<Option<u64>, Invalid> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => {
                value.as_u64().map(Some).ok_or_else(|| Invalid(format!("`{field}` must be a non-negative integer")))
            }
        }
    }

    pub fn role(&self) -> Result<Role, Invalid> {
        let role = self.str("role")?;
        Role::parse(&role).ok_or_else(|| Invalid(format!("`role` must be user, assistant or system, not {role:?}")))
    }

    pub fn chunk(&self) -> Result<Chunk, Invalid> {
        let value = self.0.get("chunk").ok_or_else(|| Invalid("missing field `chunk`".into()))?;
        serde_json::from_value(value.clone()).map_err(|e| {
            Invalid(format!(
                "`chunk` is not a valid chunk ({e}); `chunk.type` is one of whole-message, text-delta, \
                 message-end, error, stop"
            ))
        })
    }
}

/// A UUID in its canonical hyphenated lower-case form.
pub fn uuid(field: &str, value: &str) -> Result<String, Invalid> {
    uuid::Uuid::try_parse(value)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| Invalid(format!("`{field}` must be a UUID")))
}

/// The text a chunk carries, whose size is limited.
pub fn chunk_text(chunk: &Chunk) -> Option<&str> {
    match chunk {
        Chunk::WholeMessage { content } => Some(content),
        Chunk::TextDelta { delta } => Some(delta),
        Chunk::Error { message } => Some(message),
        Chunk::MessageEnd | Chunk::Stop => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let body = Body::parse(br#"{"content": 3, "messageId": "nope", "role": "robot"}"#).unwrap();
        assert_eq!(body.str("content"), Err(Invalid("`content` must be a string".into())));
        assert_eq!(body.str("title"), Err(Invalid("missing field `title`".into())));
        assert_eq!(body.uuid("messageId"), Err(Invalid("`messageId` must be a UUID".into())));
        assert!(body.role().unwrap_err().0.contains("`role`"));
        assert!(body.chunk().unwrap_err().0.contains("`chunk`"));
        assert!(Body::parse(b"not json").is_err());
        assert!(Body::parse(b"[1]").is_err());
        assert!(Body::parse(b"  ").is_ok());
    }

    #[test]
    fn uuids_are_normalized() {
        assert_eq!(uuid("id", "6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    }
}
