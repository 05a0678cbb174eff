//! How the stream protocol answers what the store refuses: the status, the message,
//! and the protocol headers a client needs to react without parsing the body.

use axum::http::StatusCode;

use super::headers::*;
use super::offset;
use crate::api_error::ApiError;
use crate::store::{AppendError, CreateError, StoreError};

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "stream not found"),
            StoreError::Gone => ApiError::new(StatusCode::GONE, message),
            StoreError::OffsetPastTail(_) | StoreError::OffsetNotBoundary(_) => ApiError::bad_request(message),
            StoreError::Create(e) => match e {
                CreateError::ConfigMismatch
                | CreateError::PathInUse
                | CreateError::SourceDeleted
                | CreateError::ForkContentType { .. } => ApiError::new(StatusCode::CONFLICT, message),
                CreateError::ForkOffsetPastTail(_)
                | CreateError::ForkOffsetNotBoundary(_)
                | CreateError::SubOffsetTooFar { .. }
                | CreateError::Body(_) => ApiError::bad_request(message),
            },
            StoreError::Append(e) => match e {
                AppendError::Closed { tail } => ApiError::new(StatusCode::CONFLICT, message)
                    .with(STREAM_CLOSED, "true")
                    .with(STREAM_NEXT_OFFSET, offset::format(tail)),
                AppendError::ContentType { .. } | AppendError::StreamSeq { .. } => {
                    ApiError::new(StatusCode::CONFLICT, message)
                }
                AppendError::StaleEpoch { current } => {
                    ApiError::new(StatusCode::FORBIDDEN, message).with(PRODUCER_EPOCH, current)
                }
                AppendError::SeqGap { expected, received } => ApiError::new(StatusCode::CONFLICT, message)
                    .with(PRODUCER_EXPECTED_SEQ, expected)
                    .with(PRODUCER_RECEIVED_SEQ, received),
                AppendError::EpochMustStartAtZero | AppendError::Body(_) => ApiError::bad_request(message),
            },
            StoreError::Quota(limit) => ApiError::limit(limit),
            StoreError::Database(_) => {
                tracing::warn!(error = %message, "stream storage unavailable");
                ApiError::unavailable("storage unavailable")
            }
            StoreError::Io(_) | StoreError::Poisoned | StoreError::Corrupt(_) => {
                tracing::error!(error = %message, "stream storage failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage failed")
            }
        }
    }
}
