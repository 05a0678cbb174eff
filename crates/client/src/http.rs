//! The HTTP client every call goes through.

use std::time::Duration;

/// Redirects are not followed: an OAuth endpoint or a stream answering with one is an
/// error to report, and following it could carry a token to another host.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("superset-client/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the TLS backend initialises")
}
