//! The `/v1/sessions` request bodies, each a struct parsed by serde, with refusals that
//! name the offending field: each field's type says what is wrong with a value ("must
//! be a UUID"), [`JsonBody`] says where (`` `messageId` must be a UUID ``).

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use superset_chat::{Chunk, Role};

use crate::api_error::ApiError;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MODEL_CHARS: usize = 200;

/// A 400 answer's message.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

/// `PUT /sessions/{id}`.
#[derive(Deserialize)]
pub struct Create {
    pub title: Option<Title>,
}

/// `PATCH /sessions/{id}`.
#[derive(Deserialize)]
pub struct Rename {
    pub title: Title,
}

/// `POST /sessions/{id}/messages`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub content: Text,
    pub message_id: Option<Id>,
    pub txid: Option<Text>,
    /// The message this one follows (a branch when it already has followers).
    pub parent_id: Option<Id>,
}

/// `POST /sessions/{id}/generations/start` and `/finish`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    pub message_id: Id,
}

/// `POST /sessions/{id}/chunks`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewChunk {
    pub message_id: Id,
    #[serde(deserialize_with = "role")]
    pub role: Role,
    #[serde(deserialize_with = "chunk")]
    pub chunk: Chunk,
    pub txid: Option<Text>,
    pub seq: Option<Count>,
    /// On a message's first chunk: the message it follows.
    pub parent_id: Option<Id>,
    /// On a reply's first chunk: the model writing it.
    pub model: Option<Model>,
}

/// `POST /sessions/{id}/stop`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stop {
    pub message_id: Option<Id>,
}

/// `POST /sessions/{id}/fork`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fork {
    pub at_message_id: Option<Id>,
    pub new_session_id: Option<Id>,
}

/// A string.
pub struct Text(pub String);

/// A UUID, in its canonical hyphenated lower-case form.
pub struct Id(pub String);

/// A non-negative integer.
pub struct Count(pub u64);

/// A session's title, at most [`MAX_TITLE_CHARS`] characters.
pub struct Title(pub String);

/// A model's name: not empty, at most [`MAX_MODEL_CHARS`] characters.
pub struct Model(pub String);

/// What a field's deserializer says when the field is `null`: absent, as far as a
/// required field goes.
const MISSING: &str = "missing";

/// Reads a field through `Value`, `read` saying what is wrong with it.
fn field<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    read: impl FnOnce(Value) -> Result<T, Cow<'static, str>>,
) -> Result<T, D::Error> {
    read(Value::deserialize(deserializer)?).map_err(D::Error::custom)
}

fn string(value: Value) -> Result<String, Cow<'static, str>> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Err(MISSING.into()),
        _ => Err("must be a string".into()),
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        field(deserializer, |value| string(value).map(Text))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        field(deserializer, |value| canonical_uuid(&string(value)?).map(Id).ok_or("must be a UUID".into()))
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        field(deserializer, |value| value.as_u64().map(Count).ok_or("must be a non-negative integer".into()))
    }
}

impl<'de> Deserialize<'de> for Title {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        field(deserializer, |value| match string(value)? {
            title if title.chars().count() > MAX_TITLE_CHARS => {
                Err(format!("must be at most {MAX_TITLE_CHARS} characters").into())
            }
            title => Ok(Title(title)),
        })
    }
}

impl<'de> Deserialize<'de> for Model {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        field(deserializer, |value| match string(value)? {
            model if model.trim().is_empty() => Err("must not be empty".into()),
            model if model.chars().count() > MAX_MODEL_CHARS => {
                Err(format!("must be at most {MAX_MODEL_CHARS} characters").into())
            }
            model => Ok(Model(model)),
        })
    }
}

fn role<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
    field(deserializer, |value| {
        let role = string(value)?;
        Role::parse(&role).ok_or_else(|| format!("must be user, assistant or system, not {role:?}").into())
    })
}

fn chunk<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Chunk, D::Error> {
    field(deserializer, |value| {
        serde_json::from_value(value).map_err(|e| {
            format!(
                "is not a valid chunk ({e}); `chunk.type` is one of whole-message, text-delta, message-end, error, \
                 stop"
            )
            .into()
        })
    })
}

/// A request body parsed into `T`; an empty body counts as `{}`. Refused with 400 and
/// the field's name, or, when the body cannot be read at all (too large), as axum
/// refuses it.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        parse(&bytes).map(JsonBody).map_err(|Invalid(message)| ApiError::bad_request(message).into_response())
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Invalid> {
    let object = if bytes.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(Invalid("the body must be a JSON object".into())),
            Err(e) => return Err(Invalid(format!("the body is not valid JSON: {e}"))),
        }
    };
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let (path, message) = (error.path().to_string(), error.inner().to_string());
        Invalid(match message.as_str() {
            // Serde's own, about the object: "missing field `title`".
            _ if path == "." => message,
            MISSING => format!("missing field `{path}`"),
            _ => format!("`{path}` {message}"),
        })
    })
}

/// The session id of the path, which must be a UUID (in any case; kept canonical).
pub struct SessionId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SessionId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let id = uuid("sessionId", &id).map_err(|Invalid(message)| ApiError::bad_request(message).into_response())?;
        Ok(SessionId(id))
    }
}

/// A UUID in its canonical hyphenated lower-case form.
pub fn uuid(field: &str, value: &str) -> Result<String, Invalid> {
    canonical_uuid(value).ok_or_else(|| Invalid(format!("`{field}` must be a UUID")))
}

fn canonical_uuid(value: &str) -> Option<String> {
    uuid::Uuid::try_parse(value).ok().map(|id| id.hyphenated().to_string())
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

    fn refusal<T: DeserializeOwned>(body: &[u8]) -> String {
        parse::<T>(body).err().expect("refused").0
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(refusal::<Message>(br#"{"content": 3}"#), "`content` must be a string");
        assert_eq!(refusal::<Message>(br#"{"content": null}"#), "missing field `content`");
        assert_eq!(refusal::<Rename>(b"{}"), "missing field `title`");
        assert_eq!(refusal::<Generation>(br#"{"messageId": "nope"}"#), "`messageId` must be a UUID");
        assert_eq!(refusal::<Generation>(br#"{"messageId": 7}"#), "`messageId` must be a string");
        let chunk =
            br#"{"messageId": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "role": "robot", "chunk": {"type": "stop"}}"#;
        assert_eq!(refusal::<NewChunk>(chunk), "`role` must be user, assistant or system, not \"robot\"");
        let chunk = br#"{"messageId": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "role": "user", "chunk": {}}"#;
        assert!(refusal::<NewChunk>(chunk).starts_with("`chunk` is not a valid chunk ("));
        let seq = br#"{"messageId": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "role": "user",
            "chunk": {"type": "stop"}, "seq": -1}"#;
        assert_eq!(refusal::<NewChunk>(seq), "`seq` must be a non-negative integer");
        let long = format!(r#"{{"title": "{}"}}"#, "x".repeat(MAX_TITLE_CHARS + 1));
        assert_eq!(refusal::<Create>(long.as_bytes()), "`title` must be at most 200 characters");
        assert_eq!(refusal::<Create>(b"not json").split(':').next(), Some("the body is not valid JSON"));
        assert_eq!(refusal::<Create>(b"[1]"), "the body must be a JSON object");
        assert!(parse::<Create>(b"  ").unwrap().title.is_none());
        let parent = br#"{"content": "hi", "parentId": "q1"}"#;
        assert_eq!(refusal::<Message>(parent), "`parentId` must be a UUID");
        let model = format!(
            r#"{{"messageId": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "role": "assistant",
            "chunk": {{"type": "stop"}}, "model": "{}"}}"#,
            "m".repeat(MAX_MODEL_CHARS + 1)
        );
        assert_eq!(refusal::<NewChunk>(model.as_bytes()), "`model` must be at most 200 characters");
        let model = br#"{"messageId": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "role": "assistant",
            "chunk": {"type": "stop"}, "model": 4}"#;
        assert_eq!(refusal::<NewChunk>(model), "`model` must be a string");
        assert!(parse::<Stop>(br#"{"messageId": null}"#).unwrap().message_id.is_none());
    }

    #[test]
    fn uuids_are_normalized() {
        assert_eq!(uuid("id", "6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        let body = br#"{"messageId": "6F9619FF-8B86-D011-B42D-00C04FC964FF"}"#;
        assert_eq!(parse::<Generation>(body).unwrap().message_id.0, "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    }
}
