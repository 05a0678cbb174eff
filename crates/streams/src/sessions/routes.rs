//! The HTTP face of chat sessions. Every route finds the session in the caller's own
//! namespace first, so another user's session is a 404 whatever the body says.

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde_json::json;
use superset_chat::{Chunk, Event, Role, SessionRecord};

use super::index::{now, SessionMeta};
use super::request::{self, chunk_text, uuid, Invalid, JsonBody, SessionId};
use super::sequence::{NewChunk, Write, WriteError};
use super::{for_each_message, stream_key, Sessions};
use crate::api_error::ApiError;
use crate::limits::Limit;
use crate::store::{CreateError, CreateStream, ForkFrom, ReadFrom, StoreError};
use crate::{AppState, AuthUser};

/// Who writes assistant chunks: the assistant runs on the user's own client.
const ASSISTANT: &str = "assistant";

pub fn routes(max_content_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", get(list))
        .route("/v1/sessions/{id}", put(create).get(show).patch(rename).delete(remove))
        .route("/v1/sessions/{id}/messages", post(message))
        .route("/v1/sessions/{id}/generations/start", post(start))
        .route("/v1/sessions/{id}/chunks", post(chunk))
        .route("/v1/sessions/{id}/generations/finish", post(finish))
        .route("/v1/sessions/{id}/stop", post(stop))
        .route("/v1/sessions/{id}/reset", post(reset))
        .route("/v1/sessions/{id}/fork", post(fork))
        // Room for the largest allowed content, JSON-escaped, and the other fields.
        .layer(DefaultBodyLimit::max(max_content_bytes * 2 + 64 * 1024))
}

type Reply = Result<Response, SessionError>;

/// Why a session request is refused, answered as [`ApiError`].
#[derive(Debug)]
pub enum SessionError {
    Invalid(String),
    NotFound,
    Conflict(String),
    Unavailable,
    TooMany(Limit),
}

impl From<Invalid> for SessionError {
    fn from(Invalid(message): Invalid) -> Self {
        SessionError::Invalid(message)
    }
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound | StoreError::Gone => SessionError::NotFound,
            StoreError::Create(e @ (CreateError::ConfigMismatch | CreateError::PathInUse)) => {
                SessionError::Conflict(e.to_string())
            }
            StoreError::Quota(limit) => SessionError::TooMany(limit),
            e => {
                tracing::error!(error = %e, "chat session storage failed");
                SessionError::Unavailable
            }
        }
    }
}

impl From<WriteError> for SessionError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Store(e) => e.into(),
            e @ WriteError::UnknownParent(_) => SessionError::Invalid(e.to_string()),
            e => SessionError::Conflict(e.to_string()),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Invalid(m) => ApiError::bad_request(m),
            SessionError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "session not found"),
            SessionError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            SessionError::Unavailable => ApiError::unavailable("storage unavailable, retry"),
            SessionError::TooMany(limit) => ApiError::limit(limit),
        }
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

/// The caller's session named by the path, found in their own namespace: 404 when it
/// is absent or someone else's, before anything else about the request is looked at.
/// For the routes that write the session's stream (see [`Sessions::has`]); those that
/// show or delete the session, or may write nothing, look its metadata up afresh.
struct OwnSession {
    id: String,
    user: AuthUser,
}

impl FromRequestParts<AppState> for OwnSession {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SessionError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(|_| SessionError::NotFound)?;
        // The session middleware puts the caller on every request under /v1.
        let user = parts.extensions.get::<AuthUser>().cloned().ok_or(SessionError::NotFound)?;
        let id = uuid("sessionId", &id)?;
        if !state.sessions.has(&user.user_id, &id).await? {
            return Err(SessionError::NotFound);
        }
        Ok(OwnSession { id, user })
    }
}

impl OwnSession {
    async fn meta(&self, sessions: &Sessions) -> Result<SessionMeta, SessionError> {
        sessions.meta(&self.user.user_id, &self.id).await?.ok_or(SessionError::NotFound)
    }

    async fn write(&self, sessions: &Sessions, write: Write) -> Result<Vec<(String, u64)>, WriteError> {
        sessions.write(&self.user.user_id, &self.id, write).await
    }
}

fn created(meta_id: &str, status: StatusCode) -> Response {
    let body = json!({"sessionId": meta_id, "streamUrl": format!("/v1/stream/{}", stream_key("", meta_id).path)});
    (status, Json(body)).into_response()
}

fn check_size(sessions: &Sessions, field: &str, text: Option<&str>) -> Result<(), Invalid> {
    match text {
        Some(t) if t.len() > sessions.max_content_bytes => {
            Err(Invalid(format!("`{field}` is larger than {} bytes", sessions.max_content_bytes)))
        }
        _ => Ok(()),
    }
}

async fn list(State(state): State<AppState>, Extension(user): Extension<AuthUser>) -> Reply {
    let sessions = state.sessions.list(&user.user_id).await?;
    Ok(Json(json!({"sessions": sessions})).into_response())
}

async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    SessionId(id): SessionId,
    JsonBody(body): JsonBody<request::Create>,
) -> Reply {
    let title = body.title.map(|title| title.0);
    let sessions = &state.sessions;
    let index = sessions.hold_index(&user.user_id).await?;
    if index.contains(&id) {
        return Ok(created(&id, StatusCode::OK));
    }
    if !sessions.has_room(&index) {
        return Err(SessionError::TooMany(Limit::Sessions));
    }
    sessions.store.create(&stream_key(&user.user_id, &id), CreateStream::new("application/json")).await?;
    sessions.record_create(&user.user_id, &id, title).await?;
    drop(index);
    Ok(created(&id, StatusCode::CREATED))
}

async fn show(State(state): State<AppState>, session: OwnSession) -> Reply {
    Ok(Json(session.meta(&state.sessions).await?).into_response())
}

async fn rename(
    State(state): State<AppState>,
    session: OwnSession,
    JsonBody(body): JsonBody<request::Rename>,
) -> Reply {
    let sessions = &state.sessions;
    let title = body.title.0;
    let event = Event::Session(SessionRecord {
        session_id: session.id.clone(),
        title: Some(title.clone()),
        actor_id: session.user.user_id.to_string(),
        updated_at: now(),
    });
    session.write(sessions, Write::Raw(event.to_json())).await?;
    sessions.record_rename(&session.user.user_id, &session.id, title).await?;
    Ok(Json(session.meta(sessions).await?).into_response())
}

async fn remove(State(state): State<AppState>, session: OwnSession) -> Reply {
    let sessions = &state.sessions;
    session.meta(sessions).await?;
    // The index first: if the stream's deletion then fails, nothing visible remains.
    sessions.record_delete(&session.user.user_id, &session.id).await?;
    let key = stream_key(&session.user.user_id, &session.id);
    match sessions.store.delete(&key).await {
        Ok(()) | Err(StoreError::NotFound | StoreError::Gone) => {}
        Err(e) => return Err(e.into()),
    }
    sessions.forget(&key);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn message(
    State(state): State<AppState>,
    session: OwnSession,
    JsonBody(body): JsonBody<request::Message>,
) -> Reply {
    let sessions = &state.sessions;
    let content = body.content.0;
    if content.is_empty() {
        return Err(SessionError::Invalid("`content` must not be empty".into()));
    }
    check_size(sessions, "content", Some(&content))?;
    let message_id = body.message_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), |id| id.0);
    let chunk = NewChunk {
        message_id: message_id.clone(),
        role: Role::User,
        actor_id: session.user.user_id.to_string(),
        chunk: Chunk::WholeMessage { content },
        txid: body.txid.map(|txid| txid.0),
        parent_id: body.parent_id.map(|id| id.0),
        model: None,
    };
    session.write(sessions, Write::Message(chunk)).await?;
    sessions.record_activity(&session.user.user_id, &session.id).await?;
    Ok(Json(json!({"messageId": message_id})).into_response())
}

async fn start(
    State(state): State<AppState>,
    session: OwnSession,
    JsonBody(body): JsonBody<request::Generation>,
) -> Reply {
    let message_id = body.message_id.0;
    // Writes nothing, so a session deleted through another instance would go unnoticed.
    session.meta(&state.sessions).await?;
    session.write(&state.sessions, Write::Start(message_id.clone())).await?;
    Ok(Json(json!({"messageId": message_id})).into_response())
}

async fn chunk(
    State(state): State<AppState>,
    session: OwnSession,
    JsonBody(body): JsonBody<request::NewChunk>,
) -> Reply {
    let sessions = &state.sessions;
    let request::NewChunk { message_id, role, chunk, txid, seq, parent_id, model } = body;
    check_size(sessions, "chunk", chunk_text(&chunk))?;
    let actor_id = if role == Role::Assistant { ASSISTANT.to_owned() } else { session.user.user_id.to_string() };
    let new = NewChunk {
        message_id: message_id.0,
        role,
        actor_id,
        chunk,
        txid: txid.map(|txid| txid.0),
        parent_id: parent_id.map(|id| id.0),
        model: model.map(|model| model.0),
    };
    let written = session.write(sessions, Write::Chunk(new, seq.map(|seq| seq.0))).await?;
    let (message_id, seq) = &written[0];
    Ok(Json(json!({"messageId": message_id, "seq": seq})).into_response())
}

async fn finish(
    State(state): State<AppState>,
    session: OwnSession,
    JsonBody(body): JsonBody<request::Generation>,
) -> Reply {
    let message_id = body.message_id.0;
    let write = Write::Finish { message_id: message_id.clone(), actor_id: ASSISTANT.to_owned() };
    session.write(&state.sessions, write).await?;
    state.sessions.record_activity(&session.user.user_id, &session.id).await?;
    Ok(Json(json!({"messageId": message_id})).into_response())
}

async fn stop(State(state): State<AppState>, session: OwnSession, JsonBody(body): JsonBody<request::Stop>) -> Reply {
    let message_id = body.message_id.map(|id| id.0);
    // May write nothing (nothing running), so the session is looked up afresh.
    session.meta(&state.sessions).await?;
    let write = Write::Stop { message_id, actor_id: session.user.user_id.to_string() };
    let stopped: Vec<String> = session.write(&state.sessions, write).await?.into_iter().map(|(m, _)| m).collect();
    Ok(Json(json!({"stopped": stopped})).into_response())
}

async fn reset(State(state): State<AppState>, session: OwnSession) -> Reply {
    session.write(&state.sessions, Write::Raw(Event::Reset.to_json())).await?;
    Ok(Json(json!({})).into_response())
}

/// The new session is a fork of the source's stream in the store: it reads the
/// source's events up to the fork point from the source itself, so nothing is copied
/// and only the scan for `atMessageId` reads the source, a piece at a time.
async fn fork(State(state): State<AppState>, session: OwnSession, JsonBody(body): JsonBody<request::Fork>) -> Reply {
    let sessions = &state.sessions;
    let meta = session.meta(sessions).await?;
    let (id, user) = (&session.id, &session.user);
    let at = body.at_message_id.map(|id| id.0);
    let new_id = body.new_session_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), |id| id.0);
    let source = stream_key(&user.user_id, id);
    let (offset, sub_offset) = match &at {
        None => (None, 0),
        Some(at) => {
            let mut last = None;
            for_each_message(&*sessions.store, &source, ReadFrom::Start, |message| {
                if matches!(Event::from_json(&message.value), Event::Chunk { record, .. } if &record.message_id == at) {
                    last = Some(message.fork_after);
                }
            })
            .await?;
            let (offset, sub_offset) =
                last.ok_or_else(|| Invalid("`atMessageId` is not a message of this session".into()))?;
            (Some(offset), sub_offset)
        }
    };
    // Held only now: the scan above may take a while, and holding the index keeps the
    // owner's other session requests waiting.
    let index = sessions.hold_index(&user.user_id).await?;
    if index.contains(&new_id) {
        return Err(SessionError::Conflict(format!("session {new_id} already exists")));
    }
    if !sessions.has_room(&index) {
        return Err(SessionError::TooMany(Limit::Sessions));
    }
    let mut create = CreateStream::new("application/json");
    create.fork = Some(ForkFrom { path: source.path, offset, sub_offset });
    sessions.store.create(&stream_key(&user.user_id, &new_id), create).await?;
    sessions.record_create(&user.user_id, &new_id, meta.title).await?;
    drop(index);
    Ok(created(&new_id, StatusCode::CREATED))
}
