//! The HTTP client every call goes through.

use std::sync::OnceLock;
use std::time::Duration;

/// The program and version the `User-Agent` names; see [`identify_as`].
static PRODUCT: OnceLock<(&str, &str)> = OnceLock::new();

/// Names the program in the `User-Agent` of every call, `name/version (os; host)`, the
/// way the auth server records each sign-in and the devices list shows it (e.g.
/// `superset-cli/0.1.0 (linux; build-box)`). Call it once at start, before any call;
/// without it the client names itself `superset-client`.
pub fn identify_as(name: &'static str, version: &'static str) {
    let _ = PRODUCT.set((name, version));
}

fn user_agent() -> String {
    let (name, version) = PRODUCT.get().copied().unwrap_or(("superset-client", env!("CARGO_PKG_VERSION")));
    let host = whoami::fallible::hostname().unwrap_or_default();
    // A header value: visible ASCII only, and nothing that would end the comment.
    let host: String = host.chars().filter(|c| c.is_ascii_graphic() && !"();\\".contains(*c)).take(64).collect();
    let host = if host.is_empty() { "unknown host" } else { host.as_str() };
    format!("{name}/{version} ({}; {host})", std::env::consts::OS)
}

/// Redirects are not followed: an OAuth endpoint or a stream answering with one is an
/// error to report, and following it could carry a token to another host.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(user_agent())
        .build()
        .expect("the TLS backend initialises")
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_agent_names_program_os_and_host() {
        let agent = super::user_agent();
        assert!(agent.starts_with("superset-client/") || agent.contains('/'), "{agent}");
        assert!(agent.contains(&format!("({}; ", std::env::consts::OS)), "{agent}");
        assert!(reqwest::header::HeaderValue::from_str(&agent).is_ok(), "{agent}");
    }
}
