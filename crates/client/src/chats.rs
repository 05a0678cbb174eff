//! The chat API of the streams server (`/v1/sessions`), through the session manager.
//! A chat's events live in the JSON stream `sessions/{id}`, followed with
//! [`SessionManager::subscribe`].
//!
//! Words: the server's protocol calls a chat a "session" (its URLs and JSON keep that
//! name); here a session is only the sign-in one, and a chat is a chat.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

    /// Sends a user message; returns its id.
    pub async fn send_message(&self, chat_id: &str, content: &str) -> Result<String, ClientError> {
        // The id is chosen here so the send can be repeated when its answer is lost:
        // the server refuses a message id it already has (409), which then means the
        // first attempt landed.
        self.send_message_with_id(chat_id, &uuid::Uuid::new_v4().to_string(), content).await
    }

    /// Sends a user message under an id the caller chose (a message queued offline
    /// keeps its id until the server has it): safe to repeat, a 409 (the server has
    /// this id) counts as sent.
    pub async fn send_message_with_id(
        &self,
        chat_id: &str,
        message_id: &str,
        content: &str,
    ) -> Result<String, ClientError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Sent {
            message_id: String,
        }
        let body = json!({ "content": content, "messageId": message_id });
        let path = format!("v1/sessions/{chat_id}/messages");
        match self.post_repeatable::<Sent>(&path, body).await {
            Ok(sent) => Ok(sent.message_id),
            Err(ClientError::Status { status, .. }) if status == StatusCode::CONFLICT => Ok(message_id.to_owned()),
            Err(e) => Err(e),
        }
    }

    /// One of the caller's chats.
    pub async fn chat(&self, chat_id: &str) -> Result<ChatInfo, ClientError> {
        self.json(Method::GET, &format!("v1/sessions/{chat_id}"), None).await
    }

    /// Renames a chat; every device sees the new title.
    pub async fn rename_chat(&self, chat_id: &str, title: &str) -> Result<ChatInfo, ClientError> {
        self.json(Method::PATCH, &format!("v1/sessions/{chat_id}"), Some(json!({ "title": title }))).await
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
