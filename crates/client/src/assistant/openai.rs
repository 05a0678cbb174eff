//! OpenAI-compatible chat completions, streamed (`"stream": true`): `data:` lines of
//! `chat.completion.chunk` objects, `choices[0].delta.content` carrying the text, and a
//! final `data: [DONE]`. OpenAI, Ollama, llama.cpp's server and vLLM all speak it; the
//! key is optional, as local servers need none.

use serde_json::{json, Value};
use superset_chat::Role;
use url::Url;

use super::models::{self, Api, ConnectionError};
use super::settings::ApiKey;
use super::sse::{self, SseEvent, Step};
use super::{status_error, Deltas, Provider, ProviderError, Turn};

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1/";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
const NAME: &str = "OpenAI-compatible server";
pub(super) const API: Api =
    Api { provider: "The server", described: "an OpenAI-compatible API", hint: "Does the base URL end in /v1?" };

#[derive(Debug)]
pub struct OpenAi {
    http: reqwest::Client,
    base_url: Url,
    api_key: Option<ApiKey>,
    model: String,
}

impl OpenAi {
    /// `base_url` is the API root that `chat/completions` hangs off (for Ollama,
    /// `http://127.0.0.1:11434/v1/`).
    pub fn new(base_url: Url, api_key: Option<ApiKey>, model: impl Into<String>) -> Self {
        OpenAi { http: crate::http::client(), base_url: with_trailing_slash(base_url), api_key, model: model.into() }
    }
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }

    async fn reply(&self, history: &[Turn]) -> Result<Deltas, ProviderError> {
        let messages: Vec<Value> = history
            .iter()
            .map(|t| {
                let role = match t.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::System => "system",
                };
                json!({"role": role, "content": t.text})
            })
            .collect();
        let url = self.base_url.join("chat/completions").expect("a relative path joins");
        let mut request = self
            .http
            .post(url)
            .header("accept", "text/event-stream")
            .json(&json!({"model": self.model, "messages": messages, "stream": true}));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response =
            request.send().await.map_err(|e| ProviderError::Network { provider: NAME.into(), reason: describe(e) })?;
        if !response.status().is_success() {
            return Err(status_error(NAME, response).await);
        }
        Ok(sse::deltas(NAME, response, read_event))
    }
}

/// The models the server offers (`GET {base}/models`), sorted by name. The key is
/// sent when there is one; local servers need none.
pub async fn list_models(base_url: &Url, api_key: Option<&ApiKey>) -> Result<Vec<String>, ConnectionError> {
    let base = with_trailing_slash(base_url.clone());
    let mut request = crate::http::client().get(base.join("models").expect("a relative path joins"));
    if let Some(key) = api_key {
        request = request.bearer_auth(key.expose());
    }
    let mut models = models::fetch(request, &base, &API).await?;
    models.sort();
    Ok(models)
}

fn read_event(event: SseEvent) -> Result<Step, ProviderError> {
    if event.data.trim() == "[DONE]" {
        return Ok(Step::Stop);
    }
    let value: Value = serde_json::from_str(&event.data)
        .map_err(|e| ProviderError::Protocol { provider: NAME.into(), reason: e.to_string() })?;
    if let Some(error) = value.get("error") {
        let message = error.get("message").and_then(Value::as_str).unwrap_or("unknown error");
        return Err(ProviderError::Remote { provider: NAME.into(), message: message.to_owned() });
    }
    let text = value.pointer("/choices/0/delta/content").and_then(Value::as_str).unwrap_or_default();
    Ok(Step::Text(text.to_owned()))
}

/// A connection failure in words, without the URL (which a person may have put a
/// credential into).
pub(super) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
