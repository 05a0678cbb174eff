//! The models a provider offers: `GET {base}/models` on an OpenAI-compatible server,
//! `GET /v1/models` on Anthropic's API. Listing them is also how the settings test a
//! connection, so a failure is told apart in words: a refused key, nothing answering
//! at the address, or something answering that is not the API.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::settings::{ApiKey, ProviderKind};
use super::{anthropic, echo, openai};

/// How long a listing may take; a server that has not answered by then is as good as
/// absent.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the models could not be listed. The text is shown to people as it is: it says
/// what is wrong and what to check, and never carries a key or a URL's credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    #[error("{provider} needs an API key. Add one, then test again.")]
    NoKey { provider: &'static str },
    #[error("{provider} refused the API key ({status}). Check it, or set a new one.")]
    BadKey { provider: &'static str, status: u16 },
    #[error("The base URL {0:?} is not an http:// or https:// address.")]
    BadBaseUrl(String),
    #[error("Nothing answered at {base_url}. Is the server running?")]
    Unreachable { base_url: String, detail: String },
    #[error("That address answered, but not like {api}. {hint}")]
    NotAnApi { api: &'static str, hint: &'static str, detail: String },
    #[error("{provider} answered {status}: {message}")]
    Status { provider: &'static str, status: u16, message: String },
}

impl ConnectionError {
    /// The technical cause, for a log or a "Details" disclosure.
    pub fn detail(&self) -> Option<&str> {
        match self {
            ConnectionError::Unreachable { detail, .. } | ConnectionError::NotAnApi { detail, .. } => Some(detail),
            _ => None,
        }
    }
}

/// The models `kind` offers at `base_url` (its default when `None`), with `key`.
/// The echo assistant has one, `echo`, and needs no network.
pub async fn list_models(
    kind: ProviderKind,
    base_url: Option<&str>,
    key: Option<&ApiKey>,
) -> Result<Vec<String>, ConnectionError> {
    let base = || kind.base_url(base_url).map_err(|_| ConnectionError::BadBaseUrl(base_url.unwrap_or("").to_owned()));
    match kind {
        ProviderKind::Echo => Ok(vec![echo::MODEL.to_owned()]),
        ProviderKind::Anthropic => {
            let key = key.ok_or(ConnectionError::NoKey { provider: anthropic::API.provider })?;
            anthropic::list_models(&base()?, key).await
        }
        ProviderKind::Openai => openai::list_models(&base()?, key).await,
    }
}

/// How a provider's API is named in the errors.
pub(super) struct Api {
    pub provider: &'static str,
    /// "an OpenAI-compatible API".
    pub described: &'static str,
    /// What to check when something else answered.
    pub hint: &'static str,
}

/// Both APIs list models as `{"data": [{"id": ...}, ...]}`.
#[derive(Deserialize)]
struct ModelList {
    data: Vec<Model>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
}

/// Sends `request` (a GET of the models list under `base`) and reads the answer.
pub(super) async fn fetch(
    request: reqwest::RequestBuilder,
    base: &Url,
    api: &Api,
) -> Result<Vec<String>, ConnectionError> {
    let unreachable =
        |e: reqwest::Error| ConnectionError::Unreachable { base_url: shown(base), detail: openai::describe(e) };
    let response = request.timeout(TIMEOUT).send().await.map_err(unreachable)?;
    let status = response.status();
    let body = response.text().await.map_err(unreachable)?;
    let not_an_api = |detail: String| ConnectionError::NotAnApi { api: api.described, hint: api.hint, detail };
    match status.as_u16() {
        401 | 403 => Err(ConnectionError::BadKey { provider: api.provider, status: status.as_u16() }),
        200..=299 => match serde_json::from_str::<ModelList>(&body) {
            Ok(list) => Ok(list.data.into_iter().map(|m| m.id).collect()),
            Err(e) => Err(not_an_api(format!("the answer is not a models list: {e}"))),
        },
        300..=399 | 404 | 405 => Err(not_an_api(format!("answered {status}"))),
        code => {
            Err(ConnectionError::Status { provider: api.provider, status: code, message: super::error_message(&body) })
        }
    }
}

/// A base URL as people are shown it: without credentials or a query.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_keep_no_credentials() {
        let url = Url::parse("http://user:secret@127.0.0.1:8080/v1/?key=abc").unwrap();
        assert_eq!(shown(&url), "http://127.0.0.1:8080/v1/");
    }

    #[tokio::test]
    async fn echo_lists_itself_and_anthropic_wants_a_key() {
        assert_eq!(list_models(ProviderKind::Echo, None, None).await.unwrap(), vec!["echo"]);
        let error = list_models(ProviderKind::Anthropic, None, None).await.unwrap_err();
        assert_eq!(error.to_string(), "Anthropic needs an API key. Add one, then test again.");
        let error = list_models(ProviderKind::Openai, Some("ftp://x"), None).await.unwrap_err();
        assert_eq!(error, ConnectionError::BadBaseUrl("ftp://x".into()));
    }
}
