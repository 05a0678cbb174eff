//! Errors as the UI receives them: `{kind, message, detail}`, where `kind` tells the UI
//! what to do (ask to sign in again, show the offline banner, ...), `message` says in
//! plain words what happened and what to do (superset-client's words, shared with the
//! CLI), and `detail` is the technical account the UI keeps behind "Details". Every
//! failure is logged here with its detail.

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
    /// For people: what happened and what to do. Never a URL, a status line or a token.
    pub message: String,
    /// The technical account, shown only behind a "Details" disclosure.
    pub detail: Option<String>,
}

impl CommandError {
    pub fn invalid(message: impl Into<String>) -> Self {
        CommandError { kind: ErrorKind::Invalid, message: message.into(), detail: None }
    }

    /// Logs the failure with its detail, and hands it to the UI.
    fn logged(kind: ErrorKind, message: String, detail: Option<String>) -> Self {
        tracing::warn!(?kind, %message, detail = detail.as_deref().unwrap_or(""), "a command failed");
        CommandError { kind, message, detail }
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
        CommandError::logged(kind, e.to_string(), e.detail())
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
        CommandError::logged(kind, login_words(&e).to_owned(), Some(e.to_string()))
    }
}

/// A failed sign-in in plain words (the sign-in screen words it by kind too).
fn login_words(e: &LoginError) -> &'static str {
    match e {
        LoginError::Cancelled => "Sign-in was cancelled.",
        LoginError::TimedOut(_) => "Sign-in took too long and timed out. Try again.",
        LoginError::Listen(_) => "The app couldn't wait for the browser to come back. Try again.",
        LoginError::Exchange(_) => {
            "Couldn't finish signing in with the sign-in server. Check your connection and try again."
        }
        LoginError::Refused(_) => "The sign-in was refused. Try again, or use another account.",
        LoginError::BadServerUrl(_) => "The sign-in server's address this app was given is not usable.",
    }
}

pub type CommandResult<T> = Result<T, CommandError>;

#[cfg(test)]
pub(crate) mod tests {
    use reqwest::{Method, StatusCode};
    use std::time::Duration;

    use superset_client::Outage;

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
        let unavailable =
            ClientError::Unavailable { outage: Outage::Unavailable, reason: "GET /v1/sessions: 503".into() };
        assert_eq!(kind(unavailable), ErrorKind::Network);
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
        assert_eq!(wire, serde_json::json!({"kind": "invalid", "message": "empty", "detail": null}));
    }

    const TOKEN: &str = "secret-session-token";

    /// Every failure of superset-client, as the person reads it: plain words, never a
    /// URL, a stream offset, a status line or the token; the technical account is the
    /// detail.
    #[test]
    fn every_client_error_reads_in_plain_words_with_the_detail_apart() {
        let path = "/v1/stream/sessions/abc".to_owned();
        let body = format!(r#"{{"error":"title is too long","token":"{TOKEN}"}}"#);
        let with_status = |code: u16, body: &str| ClientError::Status {
            method: Method::POST,
            path: path.clone(),
            status: StatusCode::from_u16(code).unwrap(),
            body: body.to_owned(),
        };
        let transport = "cannot connect: tcp connect error: Connection refused (os error 111)";
        let cases: Vec<(ClientError, &str, Option<&str>)> = vec![
            (ClientError::SignedOut, "You're not signed in. Sign in to continue.", None),
            (
                ClientError::AuthRequired,
                "Your session ended: this device was signed out from another device",
                Some("401"),
            ),
            (
                ClientError::Unavailable { outage: Outage::Unreachable, reason: format!("GET {path}: {transport}") },
                "Can't reach the server. You're still signed in; try again in a moment.",
                Some("Connection refused"),
            ),
            (
                ClientError::Unavailable {
                    outage: Outage::RateLimited,
                    reason: "GET /v1/sessions: the server answered 429 Too Many Requests".into(),
                },
                "The server is busy: too many requests at once. You're still signed in; try again in a moment.",
                Some("429"),
            ),
            (
                ClientError::Unavailable {
                    outage: Outage::Unavailable,
                    reason: "GET /v1/sessions: the server answered 503 Service Unavailable".into(),
                },
                "The server is unavailable for the moment.",
                Some("503"),
            ),
            (
                with_status(500, "boom"),
                "The server ran into a problem (error 500). Try again later.",
                Some("500 Internal Server Error: boom"),
            ),
            (with_status(502, ""), "The server ran into a problem (error 502). Try again later.", Some("502")),
            (with_status(400, &body), "The server refused the request: title is too long.", Some("title is too long")),
            (with_status(422, "not json"), "The server refused the request (error 422).", Some("not json")),
            (with_status(404, ""), "Not found: it may have been deleted", Some("404")),
            (with_status(403, ""), "The server doesn't allow this account to do that.", Some("403")),
            (with_status(413, ""), "That is too large for the server.", Some("413")),
            (
                ClientError::Network { method: Method::POST, path: path.clone(), reason: transport.into() },
                "The connection dropped while sending, so it may or may not have gone through.",
                Some(transport),
            ),
            (
                ClientError::BadAnswer(format!("GET {path}")),
                "The server sent an answer this app doesn't understand",
                Some("protocol"),
            ),
            (
                ClientError::BadContentType("a\nb".into()),
                "This app built a request the server can't take",
                Some("content type"),
            ),
        ];
        for (error, words, detail) in cases {
            let e = CommandError::from(error);
            assert!(e.message.starts_with(words), "{:?} should start with {words:?}", e.message);
            for raw in ["://", "127.0.0.1", "offset", "/v1/", TOKEN, "POST", "GET", "Service Unavailable"] {
                assert!(!e.message.contains(raw), "{:?} shows {raw:?}", e.message);
            }
            match detail {
                Some(part) => {
                    assert!(e.detail.as_deref().is_some_and(|d| d.contains(part)), "{:?} lacks {part:?}", e.detail)
                }
                None => assert_eq!(e.detail, None),
            }
        }
    }

    /// With the servers down (a closed port), a command fails with the words a person
    /// reads and the cause in the detail, without the URL.
    #[tokio::test]
    async fn a_command_with_the_servers_down_says_it_cannot_reach_them() {
        let (_home, manager) = manager_on_a_closed_port();
        let e = CommandError::from(manager.list_chats().await.unwrap_err());
        assert_eq!(e.kind, ErrorKind::Network);
        assert_eq!(e.message, "Can't reach the server. You're still signed in; try again in a moment.");
        let detail = e.detail.unwrap();
        assert!(detail.starts_with("GET /v1/sessions: cannot connect"), "{detail}");
        assert!(!detail.contains("127.0.0.1") && !detail.contains(TOKEN), "{detail}");
    }

    /// A session manager signed in (the token on disk) to servers that are not there.
    pub(crate) fn manager_on_a_closed_port() -> (tempfile::TempDir, superset_client::SessionManager) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url: url::Url = format!("http://{}/", listener.local_addr().unwrap()).parse().unwrap();
        drop(listener);
        let home = tempfile::tempdir().unwrap();
        let store = superset_client::TokenStore::new(home.path());
        store.save(&superset_client::StoredToken::new(TOKEN, None)).unwrap();
        let urls = superset_client::ServerUrls { api: url.clone(), streams: url };
        let retry = superset_client::RetryPolicy {
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_attempts: 2,
        };
        (home, superset_client::SessionManager::new(urls, store, retry))
    }
}
