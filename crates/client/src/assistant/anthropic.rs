//! Anthropic's Messages API, streamed (`"stream": true`): `message_start`,
//! `content_block_start`, `content_block_delta` (`text_delta`), `content_block_stop`,
//! `message_delta`, `message_stop`, with `ping` keep-alives and `error` events that can
//! arrive mid-reply.

use serde_json::{json, Value};
use superset_chat::Role;
use url::Url;

use super::models::{self, Api, ConnectionError};
use super::settings::ApiKey;
use super::sse::{self, SseEvent, Step};
use super::{status_error, Deltas, Provider, ProviderError, Turn};

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";
const API_VERSION: &str = "2023-06-01";
const NAME: &str = "Anthropic";
pub(super) const API: Api = Api {
    provider: NAME,
    described: "the Anthropic API",
    hint: "Is the base URL right? Anthropic's is https://api.anthropic.com.",
};

#[derive(Debug)]
pub struct Anthropic {
    http: reqwest::Client,
    base_url: Url,
    api_key: ApiKey,
    model: String,
    max_tokens: u32,
}

impl Anthropic {
    pub fn new(base_url: Url, api_key: ApiKey, model: impl Into<String>) -> Self {
        Anthropic { http: crate::http::client(), base_url, api_key, model: model.into(), max_tokens: 4096 }
    }

    fn body(&self, history: &[Turn]) -> Value {
        let system: Vec<&str> = history.iter().filter(|t| t.role == Role::System).map(|t| t.text.as_str()).collect();
        // The API wants user and assistant turns alternating: merge neighbours.
        let mut messages: Vec<(Role, String)> = Vec::new();
        for turn in history.iter().filter(|t| t.role != Role::System) {
            match messages.last_mut() {
                Some((role, text)) if *role == turn.role => {
                    text.push_str("\n\n");
                    text.push_str(&turn.text);
                }
                _ => messages.push((turn.role, turn.text.clone())),
            }
        }
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(role, text)| json!({"role": if role == Role::User { "user" } else { "assistant" }, "content": text}))
            .collect();
        let mut body =
            json!({"model": self.model, "max_tokens": self.max_tokens, "stream": true, "messages": messages});
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        body
    }
}

#[async_trait::async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        NAME
    }

    fn model(&self) -> Option<&str> {
        Some(&self.model)
    }

    async fn reply(&self, history: &[Turn]) -> Result<Deltas, ProviderError> {
        let url = self.base_url.join("v1/messages").expect("a relative path joins");
        let response = self
            .http
            .post(url)
            .header("x-api-key", self.api_key.expose())
            .header("anthropic-version", API_VERSION)
            .header("accept", "text/event-stream")
            .json(&self.body(history))
            .send()
            .await
            .map_err(network)?;
        if !response.status().is_success() {
            return Err(status_error(NAME, response).await);
        }
        Ok(sse::deltas(NAME, response, read_event))
    }
}

/// The models the key may use (`GET /v1/models`), newest first as Anthropic lists them.
pub async fn list_models(base_url: &Url, api_key: &ApiKey) -> Result<Vec<String>, ConnectionError> {
    let url = base_url.join("v1/models?limit=1000").expect("a relative path joins");
    let request =
        crate::http::client().get(url).header("x-api-key", api_key.expose()).header("anthropic-version", API_VERSION);
    models::fetch(request, base_url, &API).await
}

fn read_event(event: SseEvent) -> Result<Step, ProviderError> {
    let value: Value = serde_json::from_str(&event.data)
        .map_err(|e| ProviderError::Protocol { provider: NAME.into(), reason: e.to_string() })?;
    let kind = event.event.as_deref().or_else(|| value["type"].as_str()).unwrap_or_default();
    match kind {
        "content_block_delta" if value.pointer("/delta/type") == Some(&json!("text_delta")) => {
            Ok(Step::Text(value.pointer("/delta/text").and_then(Value::as_str).unwrap_or_default().to_owned()))
        }
        "message_stop" => Ok(Step::Stop),
        "error" => Err(ProviderError::Remote {
            provider: NAME.into(),
            message: value.pointer("/error/message").and_then(Value::as_str).unwrap_or("unknown error").to_owned(),
        }),
        _ => Ok(Step::Skip),
    }
}

fn network(e: reqwest::Error) -> ProviderError {
    ProviderError::Network { provider: NAME.into(), reason: super::openai::describe(e) }
}
