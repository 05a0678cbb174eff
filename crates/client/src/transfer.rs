//! A conversation taken out of Superset, as Markdown to read or as JSON to bring back
//! in as a new conversation.
//!
//! The JSON is versioned so a later Superset can still read today's files and a file
//! from elsewhere is refused with a clear reason rather than half-imported:
//!
//! ```json
//! {"format": "superset-chat", "version": 1, "title": "Trip to Lyon",
//!  "messages": [{"role": "user", "text": "…", "createdAt": "2026-01-01T00:00:00Z"},
//!               {"role": "assistant", "text": "…", "model": "claude-…", "createdAt": "…"}]}
//! ```

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use superset_chat::{Chunk, Conversation, Role};

use crate::assistant::generation::conversation;
use crate::chats::{title_from, ChatInfo};
use crate::session_manager::{ClientError, SessionManager};

/// The `format` of an export.
pub const FORMAT: &str = "superset-chat";
/// The newest `version` this build writes and reads.
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("this file is not a Superset chat export: it is not JSON ({0})")]
    NotJson(serde_json::Error),
    #[error(
        "this file is not a Superset chat export (its \"format\" is {0}); choose a file Superset exported as JSON"
    )]
    OtherFormat(String),
    #[error(
        "this file was exported by a newer Superset (format version {0}; this one reads up to {VERSION}); update \
         Superset to import it"
    )]
    NewerVersion(u64),
    #[error("this Superset chat export is damaged ({0}); export the conversation again")]
    Damaged(serde_json::Error),
    #[error("this Superset chat export holds no messages; there is nothing to import")]
    Empty,
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("cannot save {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What an export is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Json,
}

impl Format {
    /// `"markdown"` or `"json"`, as commands name them.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Json => "json",
        }
    }
}

/// A conversation as exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    pub title: Option<String>,
    pub messages: Vec<ExportedMessage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedMessage {
    pub role: Role,
    pub text: String,
    /// The model that wrote an assistant reply, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub created_at: String,
}

impl Exported {
    /// The conversation as a new device shows it: its system prompt, then the thread
    /// of the newest versions (other versions of a turn stay out), each message with
    /// text (a failed reply with no text has nothing to keep).
    pub fn from_conversation(title: Option<&str>, conversation: &Conversation) -> Exported {
        let thread = conversation.latest_leaf().map(|leaf| conversation.thread(leaf)).unwrap_or_default();
        let system = conversation.system_prompt.as_ref().map(|prompt| ExportedMessage {
            role: Role::System,
            text: prompt.clone(),
            model: None,
            created_at: conversation
                .messages
                .iter()
                .rev()
                .find(|m| m.role == Role::System)
                .map(|m| m.created_at.clone())
                .unwrap_or_default(),
        });
        let messages = system
            .into_iter()
            .chain(thread.into_iter().filter(|m| !m.text.is_empty()).map(|m| ExportedMessage {
                role: m.role,
                text: m.text.clone(),
                model: m.model.clone(),
                created_at: m.created_at.clone(),
            }))
            .collect();
        Exported { title: title.or(conversation.title.as_deref()).map(str::to_owned), messages }
    }

    /// For reading: a heading per message, the text as written (it is Markdown already).
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n", self.title.as_deref().unwrap_or("Untitled chat"));
        for message in &self.messages {
            let who = match message.role {
                Role::User => "You",
                Role::Assistant => "Assistant",
                Role::System => "System prompt",
            };
            let model = message.model.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
            out.push_str(&format!("\n## {who}{model}\n\n_{}_\n\n{}\n", message.created_at, message.text.trim_end()));
        }
        out
    }

    pub fn to_json(&self) -> String {
        let value = json!({"format": FORMAT, "version": VERSION, "title": self.title, "messages": self.messages});
        serde_json::to_string_pretty(&value).expect("an export serializes")
    }

    /// Reads an export; refuses anything that is not one this version understands.
    pub fn from_json(text: &str) -> Result<Exported, TransferError> {
        let value: Value = serde_json::from_str(text).map_err(TransferError::NotJson)?;
        match value.get("format") {
            Some(Value::String(format)) if format == FORMAT => {}
            Some(other) => return Err(TransferError::OtherFormat(other.to_string())),
            None => return Err(TransferError::OtherFormat("missing".into())),
        }
        let version = value.get("version").and_then(Value::as_u64);
        match version {
            Some(v) if v > u64::from(VERSION) => return Err(TransferError::NewerVersion(v)),
            Some(1) => {}
            _ => {
                return Err(TransferError::Damaged(<serde_json::Error as serde::de::Error>::custom(
                    "\"version\" must be 1",
                )))
            }
        }
        let exported: Exported = serde_json::from_value(value).map_err(TransferError::Damaged)?;
        if exported.messages.is_empty() {
            return Err(TransferError::Empty);
        }
        Ok(exported)
    }

    fn render(&self, format: Format) -> String {
        match format {
            Format::Markdown => self.to_markdown(),
            Format::Json => self.to_json(),
        }
    }
}

/// A file name to offer in the save dialog: the title without characters file systems
/// refuse.
pub fn file_name(title: Option<&str>, format: Format) -> String {
    let title = title.unwrap_or("Untitled chat");
    let clean: String =
        title.chars().map(|c| if c.is_control() || r#"/\:*?"<>|"#.contains(c) { ' ' } else { c }).collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    let clean = if clean.trim_matches('.').is_empty() { "Untitled chat".to_owned() } else { clean };
    format!("{clean}.{}", format.extension())
}

/// The chat's conversation as it stands on the server, with its title.
pub async fn export(manager: &SessionManager, chat_id: &str) -> Result<Exported, ClientError> {
    let info = manager.chat(chat_id).await?;
    let (conversation, _) = conversation(manager, chat_id).await?;
    Ok(Exported::from_conversation(info.title.as_deref(), &conversation))
}

/// Exports the chat into the file at `path` (replaced if it exists; readable only by
/// its owner, as everything Superset writes).
pub async fn export_to_file(
    manager: &SessionManager,
    chat_id: &str,
    format: Format,
    path: &Path,
) -> Result<(), TransferError> {
    let text = export(manager, chat_id).await?.render(format);
    let failed = |error| TransferError::Write { path: path.display().to_string(), error };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)
}

/// Imports the JSON export at `path` as a new chat.
pub async fn import_file(manager: &SessionManager, path: &Path) -> Result<ChatInfo, TransferError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| TransferError::Read { path: path.display().to_string(), error })?;
    let exported = Exported::from_json(&text)?;
    Ok(import(manager, &exported).await?)
}

/// Writes `exported` into a new chat, message by message in order: the user's as
/// messages, the assistant's and system prompts as whole-message chunks with their role.
/// Named by the export's title, else by its first message. When a write fails, the
/// half-made chat is deleted again, so a failed import leaves nothing behind.
pub async fn import(manager: &SessionManager, exported: &Exported) -> Result<ChatInfo, ClientError> {
    let chat_id = uuid::Uuid::new_v4().to_string();
    manager.create_chat(&chat_id).await?;
    match write_messages(manager, &chat_id, exported).await {
        Ok(()) => {}
        Err(e) => {
            if let Err(cleanup) = manager.delete_chat(&chat_id).await {
                tracing::warn!(error = %cleanup, "a failed import's chat could not be deleted");
            }
            return Err(e);
        }
    }
    let first = exported.messages.iter().find(|m| m.role == Role::User).map(|m| title_from(&m.text));
    match exported.title.clone().or(first).filter(|t| !t.is_empty()) {
        Some(title) => manager.rename_chat(&chat_id, &title).await,
        None => manager.chat(&chat_id).await,
    }
}

async fn write_messages(manager: &SessionManager, chat_id: &str, exported: &Exported) -> Result<(), ClientError> {
    // Each message follows the one before it, so the import is one thread.
    let mut parent: Option<String> = None;
    // An empty message is nothing to keep (and the server refuses one).
    for message in exported.messages.iter().filter(|m| !m.text.is_empty()) {
        let message_id = uuid::Uuid::new_v4().to_string();
        match message.role {
            Role::User => {
                manager.send_message_with_id(chat_id, &message_id, &message.text, parent.as_deref()).await?;
            }
            Role::Assistant | Role::System => {
                let chunk = Chunk::WholeMessage { content: message.text.clone() };
                let mut body = json!({"messageId": message_id, "role": message.role, "seq": 0, "chunk": chunk});
                if let (Role::Assistant, Some(parent)) = (message.role, &parent) {
                    body["parentId"] = json!(parent);
                }
                if let (Role::Assistant, Some(model)) = (message.role, &message.model) {
                    body["model"] = json!(model);
                }
                let _: Value = manager.post_repeatable(&format!("v1/sessions/{chat_id}/chunks"), body).await?;
            }
        }
        if message.role != Role::System {
            parent = Some(message_id);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use superset_chat::{ChunkRecord, Event};

    use super::*;

    fn sample() -> Exported {
        let message = |role, text: &str| ExportedMessage {
            role,
            text: text.into(),
            model: None,
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        Exported {
            title: Some("Trip to Lyon".into()),
            messages: vec![
                message(Role::System, "Be brief."),
                message(Role::User, "Where to eat?"),
                ExportedMessage { model: Some("claude-x".into()), ..message(Role::Assistant, "A *bouchon*.\n") },
            ],
        }
    }

    #[test]
    fn json_round_trips_and_names_its_format() {
        let exported = sample();
        let json = exported.to_json();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!((value["format"].as_str(), value["version"].as_u64()), (Some("superset-chat"), Some(1)));
        assert_eq!(
            value["messages"][2],
            json!({"role": "assistant", "text": "A *bouchon*.\n", "model": "claude-x",
            "createdAt": "2026-01-01T00:00:00Z"})
        );
        assert!(value["messages"][1].get("model").is_none(), "no model: no key");
        assert_eq!(Exported::from_json(&json).unwrap(), exported);
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let refusal = |text: &str| Exported::from_json(text).unwrap_err().to_string();
        assert!(refusal("# Notes").contains("not JSON"), "{}", refusal("# Notes"));
        assert!(refusal(r#"{"format": "chatgpt", "version": 1}"#).contains("\"chatgpt\""));
        assert!(refusal(r#"{"messages": []}"#).contains("not a Superset chat export"));
        assert!(refusal(r#"{"format": "superset-chat", "version": 2, "messages": []}"#).contains("newer Superset"));
        let damaged = r#"{"format": "superset-chat", "version": 1, "messages": [{"role": "robot", "text": "x"}]}"#;
        assert!(refusal(damaged).contains("damaged"), "{}", refusal(damaged));
        assert!(refusal(r#"{"format": "superset-chat", "version": 1, "messages": []}"#).contains("no messages"));
    }

    #[test]
    fn markdown_has_the_title_and_each_message_under_its_author() {
        let markdown = sample().to_markdown();
        assert!(markdown.starts_with("# Trip to Lyon\n"), "{markdown}");
        let you = markdown.find("## You\n").unwrap();
        let assistant = markdown.find("## Assistant (claude-x)\n").unwrap();
        assert!(you < assistant && markdown.contains("Where to eat?") && markdown.ends_with("A *bouchon*.\n"));
        assert!(markdown.contains("## System prompt\n\n_2026-01-01T00:00:00Z_\n\nBe brief.\n"));
    }

    #[test]
    fn export_keeps_messages_with_text_in_order() {
        let record = |id: &str, role, chunk| Event::Chunk {
            record: ChunkRecord {
                message_id: id.into(),
                actor_id: "u1".into(),
                role,
                seq: 0,
                chunk,
                parent_id: None,
                model: None,
                created_at: "2026-01-01T00:00:00Z".into(),
            },
            txid: None,
        };
        let conversation = Conversation::from_events(&[
            record("q", Role::User, Chunk::WholeMessage { content: "Hello?".into() }),
            record("a", Role::Assistant, Chunk::Error { message: "rate limited".into() }),
            record("b", Role::Assistant, Chunk::TextDelta { delta: "Hi".into() }),
        ]);
        let exported = Exported::from_conversation(None, &conversation);
        let texts: Vec<_> = exported.messages.iter().map(|m| (m.role, m.text.as_str())).collect();
        assert_eq!(texts, [(Role::User, "Hello?"), (Role::Assistant, "Hi")]);
    }

    #[test]
    fn file_names_leave_out_what_file_systems_refuse() {
        assert_eq!(file_name(Some("a/b: c?"), Format::Markdown), "a b c.md");
        assert_eq!(file_name(None, Format::Json), "Untitled chat.json");
        assert_eq!(file_name(Some(".."), Format::Json), "Untitled chat.json");
    }
}
