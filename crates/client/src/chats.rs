//! The chat API of the streams server (`/v1/sessions`), through the session manager.
//! A chat's events live in the JSON stream `sessions/{id}`, followed with
//! [`SessionManager::subscribe`].
//!
//! Words: the server's protocol calls a chat a "session" (its URLs and JSON keep that
//! name); here a session is only the sign-in one, and a chat is a chat.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use superset_chat::Role;

use crate::session_manager::{ClientError, SessionManager};

/// What the server shows of a chat.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChatInfo {
    #[serde(rename = "sessionId")]
    pub chat_id: String,
    pub title: Option<String>,
    pub created_at: String,
    pub last_activity_at: String,
    pub stream_url: String,
}

/// How long an automatic title may be, in characters, before "…".
const TITLE_CHARS: usize = 48;

/// A title for a conversation from its first message: the first line that has text,
/// on one line, cut at a word boundary with "…" when longer than [`TITLE_CHARS`].
pub fn title_from(first_message: &str) -> String {
    let line = first_message.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let words: Vec<&str> = line.split_whitespace().collect();
    let line = words.join(" ");
    if line.chars().count() <= TITLE_CHARS {
        return line;
    }
    let mut title = String::new();
    for word in words {
        let wanted = title.chars().count() + usize::from(!title.is_empty()) + word.chars().count();
        if wanted > TITLE_CHARS {
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    if title.is_empty() {
        // One long word: cut it.
        title = line.chars().take(TITLE_CHARS).collect();
    }
    title.push('…');
    title
}

/// The stream holding a chat's events.
pub fn chat_stream(chat_id: &str) -> String {
    format!("sessions/{chat_id}")
}

impl SessionManager {
    /// The caller's chats, newest first.
    pub async fn list_chats(&self) -> Result<Vec<ChatInfo>, ClientError> {
        #[derive(Deserialize)]
        struct List {
            sessions: Vec<ChatInfo>,
        }
        let list: List = self.json(Method::GET, "v1/sessions", None).await?;
        Ok(list.sessions)
    }

    /// Creates the chat `chat_id` (a UUID), or finds the caller's existing one.
    pub async fn create_chat(&self, chat_id: &str) -> Result<(), ClientError> {
        let _: Value = self.json(Method::PUT, &format!("v1/sessions/{chat_id}"), Some(json!({}))).await?;
        Ok(())
    }

    /// Sends a user message after `parent_id` (the last message of the thread it was
    /// typed under; `None` for a first message, or a new version of one); returns its id.
    ///
    /// Editing a message is sending its new text with the old one's parent: both stay
    /// in this chat's stream as versions of the turn. (The server's `fork` would copy
    /// the chat into a new one per version instead, filling the list of chats.)
    pub async fn send_message(
        &self,
        chat_id: &str,
        content: &str,
        parent_id: Option<&str>,
    ) -> Result<String, ClientError> {
        self.send_message_with_id(chat_id, &uuid::Uuid::new_v4().to_string(), content, parent_id).await
    }

    /// [`Self::send_message`] with the caller's own message id, so a caller that keeps
    /// unsent messages (an outbox) can send one again safely after any failure.
    pub async fn send_message_with_id(
        &self,
        chat_id: &str,
        message_id: &str,
        content: &str,
        parent_id: Option<&str>,
    ) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Sent {
            message_id: String,
        }
        // The id is chosen before sending so the send can be repeated when its answer
        // is lost: the server refuses a message id it already has (409), which then
        // means the first attempt landed.
        let message_id = message_id.to_owned();
        let mut body = json!({ "content": content, "messageId": message_id });
        if let Some(parent_id) = parent_id {
            body["parentId"] = json!(parent_id);
        }
        let path = format!("v1/sessions/{chat_id}/messages");
        match self.post_repeatable::<Sent>(&path, body).await {
            Ok(sent) => Ok(sent.message_id),
            Err(ClientError::Status { status, .. }) if status == StatusCode::CONFLICT => Ok(message_id.to_owned()),
            Err(e) => Err(e),
        }
    }

    /// Sets the chat's system prompt (an empty one clears it): a whole `system`
    /// message, the latest of which the assistant is shown first. Returns its id.
    pub async fn set_system_prompt(&self, chat_id: &str, prompt: &str) -> Result<String, ClientError> {
        // A new message each time, so every device sees the change in stream order.
        let message_id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "messageId": message_id,
            "role": "system",
            "seq": 0,
            "chunk": { "type": "whole-message", "content": prompt },
        });
        let _: Value = self.post_repeatable(&format!("v1/sessions/{chat_id}/chunks"), body).await?;
        Ok(message_id)
    }

    /// One of the caller's chats.
    pub async fn chat(&self, chat_id: &str) -> Result<ChatInfo, ClientError> {
        self.json(Method::GET, &format!("v1/sessions/{chat_id}"), None).await
    }

    /// Renames a chat; every device sees the new title.
    pub async fn rename_chat(&self, chat_id: &str, title: &str) -> Result<ChatInfo, ClientError> {
        self.json(Method::PATCH, &format!("v1/sessions/{chat_id}"), Some(json!({ "title": title }))).await
    }

    /// Names a chat that has no title yet after its first user message (see
    /// [`title_from`]); answers the renamed chat, or `None` when it had a title or no
    /// message to name it by. Called once the first reply is written.
    pub async fn name_untitled_chat(&self, chat_id: &str) -> Result<Option<ChatInfo>, ClientError> {
        if self.chat(chat_id).await?.title.is_some() {
            return Ok(None);
        }
        let (conversation, _) = crate::assistant::generation::conversation(self, chat_id).await?;
        let first = conversation.messages.iter().find(|m| m.role == Role::User && !m.text.trim().is_empty());
        match first.map(|m| title_from(&m.text)) {
            Some(title) => Ok(Some(self.rename_chat(chat_id, &title).await?)),
            None => Ok(None),
        }
    }

    /// Deletes a chat and its stream.
    pub async fn delete_chat(&self, chat_id: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, &format!("v1/sessions/{chat_id}")).await
    }

    /// Asks the running generation (or `message_id`'s) to stop, from any device.
    pub async fn stop_generation(&self, chat_id: &str, message_id: Option<&str>) -> Result<(), ClientError> {
        let body = match message_id {
            Some(id) => json!({ "messageId": id }),
            None => json!({}),
        };
        let _: Value = self.json(Method::POST, &format!("v1/sessions/{chat_id}/stop"), Some(body)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_line_on_one_line() {
        assert_eq!(title_from("  Where   to eat\tin Lyon? \nMore details"), "Where to eat in Lyon?");
        assert_eq!(title_from("\n\n  \nSecond line first"), "Second line first");
        assert_eq!(title_from(""), "");
    }

    #[test]
    fn long_titles_are_cut_at_a_word_with_an_ellipsis() {
        let title = title_from("Please explain how the borrow checker decides when a reference outlives its owner");
        assert_eq!(title, "Please explain how the borrow checker decides…");
        assert!(title.chars().count() <= TITLE_CHARS + 1);
        let word = "é".repeat(60);
        assert_eq!(title_from(&word), format!("{}…", "é".repeat(48)));
        let exact = "a".repeat(48);
        assert_eq!(title_from(&exact), exact);
    }
}
