//! Errors as the UI receives them: `{kind, message}`, where `kind` tells the UI what to
//! do (ask to sign in again, show the offline banner, ...) and `message` is for people.

use serde::Serialize;
use superset_client::{ClientError, LoginError};

#[derive(Debug, Serialize)]
pub struct CommandError {
    pub kind: &'static str,
    pub message: String,
}

impl CommandError {
    pub fn invalid(message: impl Into<String>) -> Self {
        CommandError { kind: "invalid", message: message.into() }
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        let kind = match &e {
            ClientError::SignedOut | ClientError::AuthRequired => "auth_required",
            ClientError::Unavailable { .. } | ClientError::Network { .. } => "network",
            ClientError::Status { status, .. } if status.as_u16() == 404 => "not_found",
            ClientError::Status { status, .. } if status.is_client_error() => "invalid",
            _ => "server",
        };
        CommandError { kind, message: e.to_string() }
    }
}

impl From<LoginError> for CommandError {
    fn from(e: LoginError) -> Self {
        let kind = match &e {
            LoginError::Cancelled => "cancelled",
            LoginError::TimedOut(_) => "timeout",
            LoginError::Listen(_) | LoginError::Exchange(_) => "network",
            _ => "server",
        };
        CommandError { kind, message: e.to_string() }
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
