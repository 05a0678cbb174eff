//! The assistant: replies are generated here, on the user's own machine, and written
//! into the session as chunks so every device sees them stream in.
//!
//! - [`Provider`]: where a reply comes from: [`anthropic`] (Messages API),
//!   [`openai`] (any OpenAI-compatible chat-completions server: OpenAI, Ollama,
//!   llama.cpp, vLLM) or [`echo`] (offline, no key: the default).
//! - [`generation`]: one reply, from `generations/start` to `generations/finish`,
//!   batched, stoppable from any device, with provider failures written as `error`
//!   chunks.
//! - [`settings`]: which provider and model a user picked; API keys in the OS keyring.
//! - [`models`]: the models a provider offers, and what is wrong when it cannot be
//!   reached ("Test connection").
//! - `sse`: the server-sent-events framing both remote providers stream in.

pub mod anthropic;
pub mod echo;
pub mod generation;
pub mod models;
pub mod openai;
pub mod settings;
mod sse;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use superset_chat::Role;

pub use generation::{generate, Generation, GenerationOptions, Outcome};
pub use settings::{ProviderKind, Settings};

/// One turn of the conversation as a provider sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// Text as it arrives from a provider.
pub type Deltas = Pin<Box<dyn Stream<Item = Result<String, ProviderError>> + Send>>;

/// Where replies come from.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// A short name for people ("Anthropic", "echo").
    fn name(&self) -> &str;

    /// The model replies come from, recorded on each reply so every device can show
    /// it; `None` when the provider has no such notion.
    fn model(&self) -> Option<&str> {
        None
    }

    /// Starts a reply to `history` (oldest first; the last turn is the user's). The
    /// request is abandoned when the returned stream is dropped.
    async fn reply(&self, history: &[Turn]) -> Result<Deltas, ProviderError>;
}

/// Why a reply failed. The text is shown to people in the conversation (on every
/// device), so it says what happened and what to do, and never carries a key, a URL or
/// a transport error: those are in `reason`, which is logged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} refused the API key (401). Set a valid one in Settings (or with `superset config set-key`).")]
    BadKey { provider: String },
    #[error("{provider} is rate limiting requests (429){}: wait and try again", retry_hint(*.retry_after))]
    RateLimited { provider: String, retry_after: Option<Duration> },
    #[error("{provider} answered {status}: {message}")]
    Status { provider: String, status: u16, message: String },
    #[error("{provider} reported an error: {message}")]
    Remote { provider: String, message: String },
    #[error("Lost the connection to {provider}. Check that it is running and reachable, then retry.")]
    Network { provider: String, reason: String },
    #[error("{provider} sent a reply this app cannot read. Retry, or choose another model.")]
    Protocol { provider: String, reason: String },
}

fn retry_hint(after: Option<Duration>) -> String {
    after.map(|d| format!(", retry after {} s", d.as_secs().max(1))).unwrap_or_default()
}

/// Reads a failed HTTP answer of a provider into an error.
async fn status_error(provider: &str, response: reqwest::Response) -> ProviderError {
    let provider = provider.to_owned();
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.text().await.unwrap_or_default();
    match status.as_u16() {
        401 | 403 => ProviderError::BadKey { provider },
        429 => ProviderError::RateLimited { provider, retry_after },
        code => ProviderError::Status { provider, status: code, message: error_message(&body) },
    }
}

/// The human part of a provider's JSON error body (`{"error":{"message":...}}`, as
/// both Anthropic and OpenAI send), else the start of the body.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| v.pointer("/error/message")).and_then(|m| m.as_str());
    match message {
        Some(m) => m.to_owned(),
        None => body.chars().take(200).collect::<String>().trim().to_owned(),
    }
}
