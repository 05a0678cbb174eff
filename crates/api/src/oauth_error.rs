//! Error answers of the OAuth endpoints, as RFC 6749 §5.2 lays them out: a JSON body
//! with an `error` code and a human `error_description`, never cached.

use axum::http::header::{CACHE_CONTROL, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// The error codes of RFC 6749 §4.1.2.1 and §5.2 this server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    UnsupportedResponseType,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub description: String,
    /// Seconds, for answers the client should retry.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// A 400 with this code (401 for `invalid_client`, as §5.2 allows).
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        let status = if code == ErrorCode::InvalidClient { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
        OAuthError { status, code, description: description.into(), retry_after: None }
    }

    /// The database did not answer: try again shortly.
    pub fn unavailable() -> Self {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: ErrorCode::TemporarilyUnavailable,
            description: "the auth database is not answering; try again shortly".to_owned(),
            retry_after: Some(1),
        }
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::TemporarilyUnavailable,
            description: "too many token requests from this address; try again later".to_owned(),
            retry_after: Some(retry_after),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorCode,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Body { error: self.code, error_description: &self.description };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
