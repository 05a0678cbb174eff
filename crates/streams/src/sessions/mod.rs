//! Chat sessions (`/v1/sessions`): the API the desktop talks to instead of raw streams.
//!
//! A session is a JSON stream at `sessions/{id}` in its owner's namespace, holding
//! State Protocol events (see the `superset-chat` crate), plus a metadata entry in the
//! owner's session index. Both live in the stream store, so they survive restarts and
//! are shared by every server instance on the same storage.
//!
//! - `routes`: the HTTP handlers and their validation;
//! - `log`: one session's stream, with per-message sequence numbers assigned under a
//!   lock so they are gap-free however many writers race;
//! - `index`: each user's list of sessions.

mod index;
mod log;
mod request;
mod routes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::store::{ReadFrom, Store, StoreError, StreamKey};

pub use routes::routes;

/// Where chat-session streams live, inside each owner's namespace.
pub const STREAM_PREFIX: &str = "sessions/";

/// The shared state of the chat-session API.
pub struct Sessions {
    store: Arc<dyn Store>,
    max_content_bytes: usize,
    logs: Mutex<HashMap<StreamKey, Arc<tokio::sync::Mutex<log::Log>>>>,
    indexes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<index::Index>>>>,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>, max_content_bytes: usize) -> Self {
        Sessions { store, max_content_bytes, logs: Mutex::default(), indexes: Mutex::default() }
    }

    fn log(&self, key: &StreamKey) -> Arc<tokio::sync::Mutex<log::Log>> {
        self.logs.lock().unwrap().entry(key.clone()).or_default().clone()
    }

    fn index(&self, owner: &str) -> Arc<tokio::sync::Mutex<index::Index>> {
        self.indexes.lock().unwrap().entry(owner.to_owned()).or_default().clone()
    }

    /// Forgets a deleted session's cached state.
    fn forget(&self, key: &StreamKey) {
        self.logs.lock().unwrap().remove(key);
    }
}

/// The stream key of a session.
pub fn stream_key(owner: &str, session_id: &str) -> StreamKey {
    StreamKey::new(owner, format!("{STREAM_PREFIX}{session_id}"))
}

/// Every JSON message of a stream from `from` to its tail, and the offset after them.
async fn read_messages(
    store: &dyn Store,
    key: &StreamKey,
    mut from: ReadFrom,
) -> Result<(Vec<Value>, u64), StoreError> {
    const BATCH: usize = 1 << 20;
    let mut messages = Vec::new();
    loop {
        let chunk = store.read(key, from, BATCH).await?;
        for slice in &chunk.slices {
            let texts = crate::store::split_messages(&slice.data).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            for text in texts {
                messages.push(serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            }
        }
        if chunk.up_to_date() || chunk.next == chunk.from {
            return Ok((messages, chunk.next));
        }
        from = ReadFrom::At(chunk.next);
    }
}

/// Chat-session streams (and the session index) are written only through the session
/// API, which stamps identity and sequence numbers; the raw stream routes may read them.
/// The guard reads the stream path as the handlers do, percent-decoded, so
/// `/v1/stream/%73essions/...` is the same stream as `/v1/stream/sessions/...`.
pub async fn read_only_session_streams(
    axum::extract::Path(path): axum::extract::Path<String>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, Method, StatusCode};
    use axum::response::IntoResponse;

    if path.starts_with(STREAM_PREFIX) && !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        let body = axum::Json(serde_json::json!({"error": "chat-session streams are written through /v1/sessions"}));
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], body).into_response();
    }
    next.run(request).await
}
