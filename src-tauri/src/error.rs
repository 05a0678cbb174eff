//! Errors as the UI receives them: `{kind, message}`, where `kind` tells the UI what to
//! do (ask to sign in again, show the offline banner, ...) and `message` is for people.

use serde::Serialize;
use superset_client::session_manager::is_unavailable;
use superset_client::{ClientError, LoginError};
use ts_rs::TS;

/// What the UI should do about a failure. The UI's list of kinds is generated from
/// this enum (`ERROR_KINDS` in `ui/src/contract.ts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Signed out, or the server refused the token: sign in again.
    AuthRequired,
    /// The server cannot be reached or is unavailable (503 and the like) for now.
    Network,
    /// The server failed; trying later may help.
    Server,
    /// The request cannot succeed as it is (a 4xx, an empty message, ...).
    Invalid,
    /// The chat no longer exists.
    NotFound,
    /// The person cancelled the sign-in.
    Cancelled,
    /// The sign-in was not completed in time.
    Timeout,
}

// The lists are read by the bindings' generator, a test.
#[cfg_attr(not(test), allow(dead_code))]
impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::AuthRequired,
        ErrorKind::Network,
        ErrorKind::Server,
        ErrorKind::Invalid,
        ErrorKind::NotFound,
        ErrorKind::Cancelled,
        ErrorKind::Timeout,
    ];
    /// The kinds a failed sign-in itself reports (`sign_in` may also fail like any
    /// command, once the browser came back).
    pub const SIGN_IN: [ErrorKind; 4] =
        [ErrorKind::Cancelled, ErrorKind::Timeout, ErrorKind::Network, ErrorKind::Server];

    /// The kind of a command that got this HTTP answer from a server: superset-client
    /// turns 401 into `AuthRequired` and the "not now" answers into `Unavailable`
    /// (after its retries), the rest into `Status`.
    pub fn of_status(status: u16) -> ErrorKind {
        let Ok(status) = reqwest::StatusCode::from_u16(status) else { return ErrorKind::Server };
        match status {
            reqwest::StatusCode::UNAUTHORIZED => ErrorKind::AuthRequired,
            status if is_unavailable(status) => ErrorKind::Network,
            reqwest::StatusCode::NOT_FOUND => ErrorKind::NotFound,
            status if status.is_client_error() => ErrorKind::Invalid,
            _ => ErrorKind::Server,
        }
    }
}

#[derive(Debug, Serialize, TS)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CommandError {
    pub fn invalid(message: impl Into<String>) -> Self {
        CommandError { kind: ErrorKind::Invalid, message: message.into() }
    }
}

impl From<ClientError> for CommandError {
    fn from(e: ClientError) -> Self {
        let kind = match &e {
            ClientError::SignedOut | ClientError::AuthRequired => ErrorKind::AuthRequired,
            ClientError::Unavailable { .. } | ClientError::Network { .. } => ErrorKind::Network,
            ClientError::Status { status, .. } => ErrorKind::of_status(status.as_u16()),
            _ => ErrorKind::Server,
        };
        CommandError { kind, message: e.to_string() }
    }
}

impl From<LoginError> for CommandError {
    fn from(e: LoginError) -> Self {
        let kind = match &e {
            LoginError::Cancelled => ErrorKind::Cancelled,
            LoginError::TimedOut(_) => ErrorKind::Timeout,
            LoginError::Listen(_) | LoginError::Exchange(_) => ErrorKind::Network,
            _ => ErrorKind::Server,
        };
        CommandError { kind, message: e.to_string() }
    }
}

pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
mod tests {
    use reqwest::{Method, StatusCode};
    use std::time::Duration;

    use super::*;

    fn status(code: u16) -> ClientError {
        let status = StatusCode::from_u16(code).unwrap();
        ClientError::Status { method: Method::GET, path: "/v1/sessions".into(), status, body: String::new() }
    }

    fn kind(e: impl Into<CommandError>) -> ErrorKind {
        e.into().kind
    }

    /// What each failure of superset-client becomes for the UI; the UI's fake shell
    /// reads the status table (`STATUS_KINDS`) generated from `ErrorKind::of_status`.
    #[test]
    fn client_errors_map_to_the_documented_kinds() {
        assert_eq!(kind(ClientError::SignedOut), ErrorKind::AuthRequired);
        assert_eq!(kind(ClientError::AuthRequired), ErrorKind::AuthRequired);
        // What the client makes of a 503 (after its retries) or a refused connection.
        assert_eq!(kind(ClientError::Unavailable { reason: "/v1/sessions answered 503".into() }), ErrorKind::Network);
        let refused =
            ClientError::Network { method: Method::POST, path: "/".into(), reason: "connection refused".into() };
        assert_eq!(kind(refused), ErrorKind::Network);
        assert_eq!(kind(status(404)), ErrorKind::NotFound);
        assert_eq!(kind(status(400)), ErrorKind::Invalid);
        assert_eq!(kind(status(409)), ErrorKind::Invalid);
        assert_eq!(kind(status(500)), ErrorKind::Server);
        assert_eq!(kind(ClientError::BadAnswer("no offset".into())), ErrorKind::Server);
        assert_eq!(kind(LoginError::Cancelled), ErrorKind::Cancelled);
        assert_eq!(kind(LoginError::TimedOut(Duration::from_secs(300))), ErrorKind::Timeout);
    }

    #[test]
    fn http_statuses_map_as_the_client_reports_them() {
        for (code, expected) in [
            (401, ErrorKind::AuthRequired),
            (429, ErrorKind::Network),
            (502, ErrorKind::Network),
            (503, ErrorKind::Network),
            (504, ErrorKind::Network),
            (404, ErrorKind::NotFound),
            (403, ErrorKind::Invalid),
            (500, ErrorKind::Server),
        ] {
            assert_eq!(ErrorKind::of_status(code), expected, "{code}");
        }
        let wire = serde_json::to_value(CommandError::invalid("empty")).unwrap();
        assert_eq!(wire, serde_json::json!({"kind": "invalid", "message": "empty"}));
    }
}
