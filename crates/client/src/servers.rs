//! Where the two servers are. Clients find them through `SUPERSET_API_URL` and
//! `SUPERSET_STREAMS_URL`, defaulting to the ports `superset dev` listens on.

use url::Url;

pub const API_URL_ENV: &str = "SUPERSET_API_URL";
pub const STREAMS_URL_ENV: &str = "SUPERSET_STREAMS_URL";
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:8788";
pub const DEFAULT_STREAMS_URL: &str = "http://127.0.0.1:8787";

/// The public OAuth client id of the desktop app and the CLI.
pub const CLIENT_ID: &str = "superset-desktop";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrls {
    /// The auth server (superset-api).
    pub api: Url,
    /// The streams server (superset-streams).
    pub streams: Url,
}

#[derive(Debug, thiserror::Error)]
#[error("{name} is not an http(s) URL: {value:?}")]
pub struct BadUrl {
    pub name: &'static str,
    pub value: String,
}

impl ServerUrls {
    /// From the environment, with the dev defaults for what is unset.
    pub fn from_env() -> Result<Self, BadUrl> {
        Self::from_env_or(None, None)
    }

    /// From the environment; what is unset there comes from `api` and `streams` (say,
    /// values fixed when the app was built), else the dev defaults.
    pub fn from_env_or(api: Option<&str>, streams: Option<&str>) -> Result<Self, BadUrl> {
        let read = |name: &'static str, fallback: Option<&str>, default: &str| {
            let value = std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| fallback.filter(|v| !v.is_empty()).unwrap_or(default).to_owned());
            parse_base_url(&value).map_err(|_| BadUrl { name, value })
        };
        Ok(ServerUrls {
            api: read(API_URL_ENV, api, DEFAULT_API_URL)?,
            streams: read(STREAMS_URL_ENV, streams, DEFAULT_STREAMS_URL)?,
        })
    }
}

/// An http(s) URL usable as a base for `Url::join`: its path ends with `/`, so
/// `https://host/prefix` + `oauth/token` keeps the prefix.
pub fn parse_base_url(value: &str) -> Result<Url, String> {
    let mut url = Url::parse(value).map_err(|e| format!("{value:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(format!("{value:?} is not an http(s) URL"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_path_prefix() {
        let url = parse_base_url("https://example.test/auth").unwrap();
        assert_eq!(url.join("oauth/token").unwrap().as_str(), "https://example.test/auth/oauth/token");
        let url = parse_base_url("http://127.0.0.1:8788").unwrap();
        assert_eq!(url.join("oauth/token").unwrap().as_str(), "http://127.0.0.1:8788/oauth/token");
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(parse_base_url("ftp://example.test").is_err());
        assert!(parse_base_url("not a url").is_err());
    }
}
