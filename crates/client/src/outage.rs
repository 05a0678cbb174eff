//! Why a server cannot be used right now, in words a person understands. Every
//! "try again later" failure of the client carries one: [`ClientError::Unavailable`]
//! and a subscription's [`StreamEvent::Reconnecting`]. The technical reason (method,
//! path, status, the transport's error) goes beside it as a detail, for a "Details"
//! disclosure and the log, never in the words themselves.
//!
//! [`ClientError::Unavailable`]: crate::ClientError::Unavailable
//! [`StreamEvent::Reconnecting`]: crate::StreamEvent::Reconnecting

use std::error::Error as _;
use std::time::Duration;

use reqwest::StatusCode;

/// What kind of "not now" it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Outage {
    /// No connection could be made (refused, timed out, no route, name not found).
    #[error("Can't reach the server.")]
    Unreachable,
    /// 429: this account or machine sent too many requests.
    #[error("The server is busy: too many requests at once.")]
    RateLimited,
    /// 502, 503, 504 (or a 401 from something in between): the server is up but
    /// cannot serve now.
    #[error("The server is unavailable for the moment.")]
    Unavailable,
    /// A connection was made, then lost before the answer.
    #[error("The connection to the server dropped.")]
    Dropped,
    /// A connection was made, but the answer did not come in time.
    #[error("The server is taking too long to answer.")]
    Slow,
}

impl Outage {
    /// The outage an unavailable HTTP status (see `is_unavailable`) stands for.
    pub fn of_status(status: StatusCode) -> Outage {
        if status == StatusCode::TOO_MANY_REQUESTS {
            Outage::RateLimited
        } else {
            Outage::Unavailable
        }
    }

    /// The outage a failed request stands for, and its technical description (the
    /// error and its causes, without the URL: a stream's URL carries offsets).
    pub fn of_transport(error: &reqwest::Error) -> (Outage, String) {
        let outage = if error.is_connect() {
            Outage::Unreachable
        } else if error.is_timeout() {
            Outage::Slow
        } else {
            Outage::Dropped
        };
        (outage, transport_detail(error))
    }

    /// "Can't reach the server. Retrying in 5 s.": what a retrying client says.
    pub fn retrying_in(self, after: Duration) -> String {
        format!("{self} Retrying in {} s.", seconds(after))
    }
}

/// A wait in whole seconds for people: rounded up, at least 1.
pub fn seconds(after: Duration) -> u32 {
    let whole = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    u32::try_from(whole.max(1)).unwrap_or(u32::MAX)
}

/// A transport error and its causes ("error sending request: client error (Connect):
/// tcp connect error: Connection refused"), without the URL reqwest puts in its text.
pub fn transport_detail(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    let head = if error.is_connect() {
        "cannot connect"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    // Causes repeat each other's text; keep each once.
    parts.dedup();
    std::iter::once(head.to_owned()).chain(parts).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_waits_read_in_whole_seconds() {
        assert_eq!(seconds(Duration::from_millis(200)), 1);
        assert_eq!(seconds(Duration::from_millis(4_200)), 5);
        assert_eq!(seconds(Duration::from_secs(5)), 5);
        assert_eq!(Outage::Unreachable.retrying_in(Duration::from_secs(5)), "Can't reach the server. Retrying in 5 s.");
    }

    #[test]
    fn statuses_name_their_outage() {
        assert_eq!(Outage::of_status(StatusCode::TOO_MANY_REQUESTS), Outage::RateLimited);
        assert_eq!(Outage::of_status(StatusCode::SERVICE_UNAVAILABLE), Outage::Unavailable);
    }

    /// A refused connection: the words say so, the detail has the cause and no URL.
    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_its_detail_has_no_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = format!("http://127.0.0.1:{port}/v1/stream/sessions/abc?offset=0000_0042&live=sse");
        let error = reqwest::get(url).await.unwrap_err();
        let (outage, detail) = Outage::of_transport(&error);
        assert_eq!(outage, Outage::Unreachable);
        assert!(detail.starts_with("cannot connect"), "{detail}");
        assert!(detail.to_lowercase().contains("refused"), "{detail}");
        assert!(!detail.contains("127.0.0.1") && !detail.contains("offset"), "{detail}");
    }

    /// A server that takes the connection but never answers is slow, not unreachable.
    #[tokio::test]
    async fn a_server_that_never_answers_is_slow() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/sessions", listener.local_addr().unwrap());
        let held = tokio::spawn(async move { listener.accept().await });
        let client = reqwest::Client::new();
        let error = client.get(url).timeout(Duration::from_millis(200)).send().await.unwrap_err();
        let (outage, detail) = Outage::of_transport(&error);
        assert_eq!(outage, Outage::Slow, "{detail}");
        assert_eq!(outage.to_string(), "The server is taking too long to answer.");
        assert!(detail.starts_with("timed out"), "{detail}");
        held.abort();
    }
}
