//! Every refusal the server sends, in one shape: a status, the body `{"error": WHY}`
//! (with `"limit": NAME` when a limit refused), and the headers a client needs to react
//! without reading the body, `Retry-After` set by one policy ([`Wait`]).
//!
//! The auth middleware, the per-user limits, the stream protocol and the session API
//! each say which refusal applies; this is the only place that writes one.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::limits::Limit;

/// A refused request, as sent.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    headers: Vec<(HeaderName, String)>,
}

/// What the body says; the wire format clients and docs/architecture.md rely on.
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<&'static str>,
}

/// How long a client should wait before trying again: the one `Retry-After` policy.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// The database or the store is failing: a moment, then try again.
    Unavailable,
    /// Until a per-user limit frees up, as [`Limit`] knows.
    Limit(Limit),
    /// As long as a rate needs to refill (at least a second).
    For(Duration),
}

impl Wait {
    fn seconds(self) -> u64 {
        match self {
            Wait::Unavailable => 2,
            // What is kept frees up only when the user deletes something, so a client
            // is told to wait a minute rather than retry at once; a live read ends
            // within a minute (SSE reconnects, long-polls time out).
            Wait::Limit(Limit::Streams | Limit::Sessions | Limit::Bytes) => 60,
            Wait::Limit(Limit::Readers) => 5,
            Wait::Limit(Limit::Requests) => 1,
            Wait::For(duration) => duration.as_secs().max(1),
        }
    }

    /// The `Retry-After` header saying so.
    pub fn header(self) -> (HeaderName, HeaderValue) {
        (RETRY_AFTER, HeaderValue::from(self.seconds()))
    }
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<Cow<'static, str>>) -> Self {
        ApiError { status, body: ErrorBody { error: error.into(), limit: None }, headers: Vec::new() }
    }

    pub fn bad_request(error: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn too_large(limit: usize) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than the {limit}-byte limit"))
    }

    /// `503`: something the server depends on is failing, not the request.
    pub fn unavailable(error: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error).wait(Wait::Unavailable)
    }

    /// `429` for a per-user limit: `{"error": "Too many requests", "limit": NAME}`.
    pub fn limit(limit: Limit) -> Self {
        ApiError::limit_for(limit, Wait::Limit(limit))
    }

    /// The same, when the wait is known better than [`Limit`] knows it.
    pub fn limit_for(limit: Limit, wait: Wait) -> Self {
        ApiError::too_many("Too many requests", limit.name(), wait)
    }

    /// `429` for the limit named `limit`.
    pub fn too_many(error: &'static str, limit: &'static str, wait: Wait) -> Self {
        let mut refusal = ApiError::new(StatusCode::TOO_MANY_REQUESTS, error).wait(wait);
        refusal.body.limit = Some(limit);
        refusal
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((HeaderName::from_static(name), value.to_string()));
        self
    }

    fn wait(self, wait: Wait) -> Self {
        self.with("retry-after", wait.seconds())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
