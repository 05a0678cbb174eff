//! Refusals, as HTTP responses: a status, a JSON body saying why, and the protocol
//! headers a client needs to react without parsing the body.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::headers::*;
use super::offset;
use crate::limits::Limit;
use crate::store::{AppendError, CreateError, StoreError};

pub struct Problem {
    status: StatusCode,
    message: String,
    headers: Vec<(&'static str, String)>,
    /// A per-user limit, answered as [`Limit::refusal`] instead.
    limit: Option<Limit>,
}

impl Problem {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Problem { status: StatusCode::BAD_REQUEST, message: message.into(), headers: Vec::new(), limit: None }
    }

    pub fn too_large(limit: usize) -> Self {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than the {limit}-byte limit"))
    }

    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Problem { status, message: message.into(), headers: Vec::new(), limit: None }
    }

    pub fn limit(limit: Limit) -> Self {
        Problem { limit: Some(limit), ..Problem::new(StatusCode::TOO_MANY_REQUESTS, limit.name()) }
    }

    fn with(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound => Problem::new(StatusCode::NOT_FOUND, "stream not found"),
            StoreError::Gone => Problem::new(StatusCode::GONE, message),
            StoreError::OffsetPastTail(_) | StoreError::OffsetNotBoundary(_) => Problem::bad_request(message),
            StoreError::Create(e) => match e {
                CreateError::ConfigMismatch
                | CreateError::PathInUse
                | CreateError::SourceDeleted
                | CreateError::ForkContentType { .. } => Problem::new(StatusCode::CONFLICT, message),
                CreateError::ForkOffsetPastTail(_)
                | CreateError::ForkOffsetNotBoundary(_)
                | CreateError::SubOffsetTooFar { .. }
                | CreateError::Body(_) => Problem::bad_request(message),
            },
            StoreError::Append(e) => match e {
                AppendError::Closed { tail } => Problem::new(StatusCode::CONFLICT, message)
                    .with(STREAM_CLOSED, "true")
                    .with(STREAM_NEXT_OFFSET, offset::format(tail)),
                AppendError::ContentType { .. } | AppendError::StreamSeq { .. } => {
                    Problem::new(StatusCode::CONFLICT, message)
                }
                AppendError::StaleEpoch { current } => {
                    Problem::new(StatusCode::FORBIDDEN, message).with(PRODUCER_EPOCH, current)
                }
                AppendError::SeqGap { expected, received } => Problem::new(StatusCode::CONFLICT, message)
                    .with(PRODUCER_EXPECTED_SEQ, expected)
                    .with(PRODUCER_RECEIVED_SEQ, received),
                AppendError::EpochMustStartAtZero | AppendError::Body(_) => Problem::bad_request(message),
            },
            StoreError::Quota(limit) => Problem::limit(limit),
            StoreError::Database(_) => {
                tracing::warn!(error = %message, "stream storage unavailable");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").with("retry-after", 2)
            }
            StoreError::Io(_) | StoreError::Poisoned | StoreError::Corrupt(_) => {
                tracing::error!(error = %message, "stream storage failed");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage failed")
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if let Some(limit) = self.limit {
            return limit.refusal();
        }
        let mut response = (self.status, Json(serde_json::json!({ "error": self.message }))).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}
