//! The offline assistant: it answers with the user's own words, one at a time, like a
//! model streaming. It needs no key and no network, so the app works out of the box.

use std::time::Duration;

use futures::StreamExt;
use superset_chat::Role;

use super::{Deltas, Provider, ProviderError, Turn};

#[derive(Debug)]
pub struct Echo {
    /// Pause between words.
    pub pace: Duration,
}

impl Default for Echo {
    fn default() -> Self {
        Echo { pace: Duration::from_millis(40) }
    }
}

/// The echo assistant's one "model", as replies and the settings name it.
pub const MODEL: &str = "echo";

/// The reply the echo assistant gives to `message`.
pub fn reply_to(message: &str) -> String {
    format!("You said: {message}")
}

#[async_trait::async_trait]
impl Provider for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    fn model(&self) -> Option<&str> {
        Some(MODEL)
    }

    async fn reply(&self, history: &[Turn]) -> Result<Deltas, ProviderError> {
        let last = history.iter().rev().find(|t| t.role == Role::User).map_or("", |t| t.text.as_str());
        let words: Vec<String> = reply_to(last).split_inclusive(' ').map(str::to_owned).collect();
        let pace = self.pace;
        let paced = futures::stream::iter(words).then(move |word| async move {
            tokio::time::sleep(pace).await;
            Ok(word)
        });
        Ok(Box::pin(paced))
    }
}
