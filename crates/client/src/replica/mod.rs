//! The local replica of every chat, so history is there before the network is:
//! `$SUPERSET_HOME/replicas/<user-id>/` holds, for one account,
//!
//! - `<chat-id>.jsonl`: the chat's stream as read so far, one JSON line per read batch,
//!   `{"offset":"<the offset after it>","messages":[...]}`. Appending only, a crash can
//!   at worst tear the last line: it is dropped (and cut off the file), and the record
//!   before it says where to resume. Any other line that does not read means the file
//!   is damaged: it is deleted and the chat read again from the start, so a
//!   conversation is never shown half-read.
//! - `outbox.jsonl`: messages typed while the servers could not be reached, in order
//!   (see [`outbox`]).
//! - `user.json` and `chats.json`: who is signed in and their chat list, as last heard
//!   from the servers, to show the signed-in screen offline.
//!
//! Durable Streams offsets make resuming exact: a replica is continued from its
//! offset ([`sync`]), never re-reading what it has. Sign-out deletes it all
//! ([`Replicas::clear_all`]). Directories are 0700 and files 0600, like the token's.

pub mod outbox;
pub mod sync;

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use superset_chat::{Conversation, Event};

use crate::chats::ChatInfo;
use crate::session_manager::MeUser;
use crate::token_store::atomic_file;

pub use outbox::{Flushed, Outgoing};

/// The offset that reads a stream from its start.
pub const START: &str = "-1";

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("cannot use the local copy of your chats at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0:?} is not a chat or user id this app writes (letters, digits, '-' and '_' only)")]
    BadId(String),
}

/// One read batch of a chat's stream, as a replica line.
#[derive(Debug, Deserialize, Serialize)]
struct Record {
    offset: String,
    messages: Vec<Value>,
}

/// A chat as its replica holds it.
#[derive(Clone, Debug, Default)]
pub struct Replica {
    /// The stream's messages, in stream order.
    pub messages: Vec<Value>,
    /// Where reading resumes.
    pub offset: String,
}

impl Replica {
    /// The conversation the messages make.
    pub fn conversation(&self) -> Conversation {
        let events: Vec<Event> = self.messages.iter().map(Event::from_json).collect();
        Conversation::from_events(&events)
    }
}

/// The replicas of one account. Shared between tasks (it serializes its own writes).
#[derive(Debug)]
pub struct Replicas {
    dir: PathBuf,
    /// One writer at a time, so lines never interleave.
    writing: Mutex<()>,
    /// One outbox flush at a time, so a message is never sent twice at once.
    flushing: tokio::sync::Mutex<()>,
}

impl Replicas {
    /// The replicas of `user_id` under `home`, created if needed. This machine keeps
    /// copies for the signed-in account only: other accounts' (left by a sign-in that
    /// followed a refused token) are removed.
    pub fn open(home: &Path, user_id: &str) -> Result<Replicas, ReplicaError> {
        check_id(user_id)?;
        let root = root(home);
        if let Ok(entries) = fs::read_dir(&root) {
            for entry in entries.flatten() {
                if entry.file_name() != user_id {
                    let path = entry.path();
                    fs::remove_dir_all(&path).map_err(|source| ReplicaError::Io { path, source })?;
                }
            }
        }
        let dir = root.join(user_id);
        atomic_file::private_dir(&root).and_then(|()| atomic_file::private_dir(&dir)).map_err(io_at(&dir))?;
        Ok(Replicas { dir, writing: Mutex::new(()), flushing: tokio::sync::Mutex::new(()) })
    }

    /// Deletes every replica, outbox and cached user under `home` (sign-out).
    pub fn clear_all(home: &Path) -> Result<(), ReplicaError> {
        let root = root(home);
        match fs::remove_dir_all(&root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_at(&root)(e)),
            _ => Ok(()),
        }
    }

    /// The account whose replicas are kept under `home`, as last heard from the auth
    /// server: for the signed-in screen when the servers cannot be reached.
    pub fn cached_user(home: &Path) -> Option<MeUser> {
        let entries = fs::read_dir(root(home)).ok()?;
        let newest = entries
            .flatten()
            .filter_map(|e| {
                let path = e.path().join("user.json");
                Some((fs::metadata(&path).ok()?.modified().ok()?, path))
            })
            .max_by_key(|(modified, _)| *modified)?;
        serde_json::from_slice(&fs::read(newest.1).ok()?).ok()
    }

    /// Remembers who is signed in (see [`Replicas::cached_user`]).
    pub fn save_user(&self, user: &MeUser) -> Result<(), ReplicaError> {
        self.save_json("user.json", user)
    }

    /// Remembers the chat list, to show it offline.
    pub fn save_chats(&self, chats: &[ChatInfo]) -> Result<(), ReplicaError> {
        self.save_json("chats.json", &chats)
    }

    /// The chat list as last saved; empty when there is none (or it does not read).
    pub fn chats(&self) -> Vec<ChatInfo> {
        let path = self.dir.join("chats.json");
        fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
    }

    /// The replica of `chat_id`: `None` when there is none yet, or when it was damaged
    /// (then it is deleted, and the chat must be read again from [`START`]).
    pub fn load(&self, chat_id: &str) -> Result<Option<Replica>, ReplicaError> {
        let path = self.chat_path(chat_id)?;
        let _one_writer = self.writing.lock().unwrap();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(&path)(e)),
        };
        match parse(&bytes) {
            Parsed::Whole(replica) => Ok(replica),
            Parsed::Torn { replica, keep } => {
                tracing::info!(chat = chat_id, "the local copy's last write was cut short; resuming before it");
                let file = OpenOptions::new().write(true).open(&path).map_err(io_at(&path))?;
                file.set_len(keep as u64).and_then(|()| file.sync_all()).map_err(io_at(&path))?;
                Ok(replica)
            }
            Parsed::Corrupt { line } => {
                tracing::warn!(chat = chat_id, line, "the local copy of this chat is damaged; reading it again");
                atomic_file::remove(&path).map_err(io_at(&path))?;
                Ok(None)
            }
        }
    }

    /// Adds one read batch: `messages` and the offset after them.
    pub fn append(&self, chat_id: &str, messages: &[Value], next_offset: &str) -> Result<(), ReplicaError> {
        let path = self.chat_path(chat_id)?;
        let record = Record { offset: next_offset.to_owned(), messages: messages.to_vec() };
        let mut line = serde_json::to_vec(&record).expect("JSON values serialize");
        line.push(b'\n');
        let _one_writer = self.writing.lock().unwrap();
        append_private(&path, &line).map_err(io_at(&path))
    }

    /// Forgets one chat (deleted).
    pub fn remove(&self, chat_id: &str) -> Result<(), ReplicaError> {
        let path = self.chat_path(chat_id)?;
        let _one_writer = self.writing.lock().unwrap();
        atomic_file::remove(&path).map_err(io_at(&path))
    }

    /// The chats that have a replica.
    pub fn list(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".jsonl").map(str::to_owned))
            .filter(|id| id != "outbox" && check_id(id).is_ok())
            .collect();
        ids.sort();
        ids
    }

    /// Every replicated conversation with its title (the stream's, else the chat
    /// list's): what a search index is fed from.
    pub fn conversations(&self) -> Vec<(String, Option<String>, Conversation)> {
        let chats = self.chats();
        let listed_title = |id: &str| chats.iter().find(|c| c.chat_id == id).and_then(|c| c.title.clone());
        self.list()
            .into_iter()
            .filter_map(|id| {
                let conversation = self.load(&id).ok()??.conversation();
                let title = conversation.title.clone().or_else(|| listed_title(&id));
                Some((id, title, conversation))
            })
            .collect()
    }

    fn chat_path(&self, chat_id: &str) -> Result<PathBuf, ReplicaError> {
        check_id(chat_id)?;
        if chat_id == "outbox" {
            return Err(ReplicaError::BadId(chat_id.to_owned()));
        }
        Ok(self.dir.join(format!("{chat_id}.jsonl")))
    }

    fn save_json(&self, name: &str, value: &impl Serialize) -> Result<(), ReplicaError> {
        let path = self.dir.join(name);
        let bytes = serde_json::to_vec(value).expect("plain data serializes");
        atomic_file::write(&path, &bytes).map_err(io_at(&path))
    }
}

fn root(home: &Path) -> PathBuf {
    home.join("replicas")
}

/// Ids become file names: only the characters UUIDs and user ids use.
fn check_id(id: &str) -> Result<(), ReplicaError> {
    let fine =
        !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if fine {
        Ok(())
    } else {
        Err(ReplicaError::BadId(id.to_owned()))
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ReplicaError + '_ {
    move |source| ReplicaError::Io { path: path.to_owned(), source }
}

/// Appends the line `bytes` to `path` in one write, creating it private (0600), and
/// syncs it. After a line cut short by a crash, it starts on a line of its own.
fn append_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let length = file.metadata()?.len();
    let mut last = [b'\n'];
    if length > 0 {
        file.seek(SeekFrom::Start(length - 1))?;
        file.read_exact(&mut last)?;
    }
    let line = if last[0] == b'\n' { bytes.to_vec() } else { [b"\n", bytes].concat() };
    file.write_all(&line)?;
    file.sync_data()
}

/// What a replica file holds.
enum Parsed {
    /// Every line read (`None`: the file is empty).
    Whole(Option<Replica>),
    /// The last line was cut short: the replica before it, and the length to keep.
    Torn { replica: Option<Replica>, keep: usize },
    /// Line `line` (from 1) does not read.
    Corrupt { line: usize },
}

fn parse(bytes: &[u8]) -> Parsed {
    let mut replica: Option<Replica> = None;
    let mut start = 0;
    let mut line = 0;
    while start < bytes.len() {
        line += 1;
        let Some(length) = bytes[start..].iter().position(|&b| b == b'\n') else {
            return Parsed::Torn { replica, keep: start };
        };
        let Ok(record) = serde_json::from_slice::<Record>(&bytes[start..start + length]) else {
            return Parsed::Corrupt { line };
        };
        let so_far = replica.get_or_insert_with(Replica::default);
        so_far.messages.extend(record.messages);
        so_far.offset = record.offset;
        start += length + 1;
    }
    Parsed::Whole(replica)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn replicas() -> (tempfile::TempDir, Replicas) {
        let home = tempfile::tempdir().unwrap();
        let replicas = Replicas::open(home.path(), "user-1").unwrap();
        (home, replicas)
    }

    #[test]
    fn batches_come_back_in_order_with_the_last_offset() {
        let (_home, replicas) = replicas();
        assert!(replicas.load("c1").unwrap().is_none());
        replicas.append("c1", &[json!({"n": 1}), json!({"n": 2})], "0001").unwrap();
        replicas.append("c1", &[json!({"n": 3})], "0002").unwrap();
        let replica = replicas.load("c1").unwrap().unwrap();
        assert_eq!(replica.messages, vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
        assert_eq!(replica.offset, "0002");
        assert_eq!(replicas.list(), vec!["c1".to_owned()]);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_cut_off_the_file() {
        let (_home, replicas) = replicas();
        replicas.append("c1", &[json!({"n": 1})], "0001").unwrap();
        let path = replicas.chat_path("c1").unwrap();
        let whole = fs::read(&path).unwrap();
        fs::write(&path, [whole.as_slice(), br#"{"offset":"0002","messa"#].concat()).unwrap();
        let replica = replicas.load("c1").unwrap().unwrap();
        assert_eq!((replica.messages.len(), replica.offset.as_str()), (1, "0001"));
        assert_eq!(fs::read(&path).unwrap(), whole, "the torn bytes stay in the file");
        replicas.append("c1", &[json!({"n": 2})], "0002").unwrap();
        assert_eq!(replicas.load("c1").unwrap().unwrap().offset, "0002");
    }

    #[test]
    fn a_damaged_line_before_the_end_deletes_the_replica() {
        let (_home, replicas) = replicas();
        replicas.append("c1", &[json!({"n": 1})], "0001").unwrap();
        let path = replicas.chat_path("c1").unwrap();
        let whole = fs::read(&path).unwrap();
        fs::write(&path, [whole.as_slice(), b"not json\n", whole.as_slice()].concat()).unwrap();
        assert!(replicas.load("c1").unwrap().is_none(), "a damaged replica is never shown");
        assert!(!path.exists());
    }

    #[test]
    fn ids_cannot_leave_the_directory() {
        let (_home, replicas) = replicas();
        for id in ["../x", "", "a/b", "outbox", "a.b"] {
            assert!(matches!(replicas.append(id, &[], "1"), Err(ReplicaError::BadId(_))), "{id}");
        }
        assert!(Replicas::open(Path::new("/tmp"), "..").is_err());
    }

    /// What a search index is fed: every replicated conversation, titled by its stream
    /// or else by the chat list.
    #[test]
    fn every_replicated_conversation_comes_back_with_its_title() {
        let (_home, replicas) = replicas();
        let message = |id: &str, text: &str| {
            json!({"type": "chunk", "key": format!("{id}:0"), "headers": {"operation": "insert"}, "value": {
                "messageId": id, "actorId": "u", "role": "user", "seq": 0,
                "chunk": {"type": "whole-message", "content": text}, "createdAt": "2026-01-01T00:00:00Z"}})
        };
        let renamed = json!({"type": "session", "key": "c1", "headers": {"operation": "update"}, "value": {
            "sessionId": "c1", "title": "Named in the stream", "actorId": "u", "updatedAt": "2026-01-01T00:00:00Z"}});
        replicas.append("c1", &[message("m1", "hello"), renamed], "1").unwrap();
        replicas.append("c2", &[message("m2", "bonjour")], "1").unwrap();
        let listed = |id: &str, title: &str| ChatInfo {
            chat_id: id.into(),
            title: Some(title.into()),
            created_at: String::new(),
            last_activity_at: String::new(),
            stream_url: String::new(),
        };
        replicas.save_chats(&[listed("c1", "Listed"), listed("c2", "French")]).unwrap();
        let found: Vec<(String, Option<String>, Vec<String>)> = replicas
            .conversations()
            .into_iter()
            .map(|(id, title, c)| (id, title, c.messages.into_iter().map(|m| m.text).collect()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("c1".into(), Some("Named in the stream".into()), vec!["hello".into()]),
                ("c2".into(), Some("French".into()), vec!["bonjour".into()]),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_and_directories_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (home, replicas) = replicas();
        replicas.append("c1", &[], "1").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.path().join("replicas")), 0o700);
        assert_eq!(mode(&home.path().join("replicas/user-1")), 0o700);
        assert_eq!(mode(&replicas.chat_path("c1").unwrap()), 0o600);
    }

    #[test]
    fn another_account_opening_removes_the_first_ones_copies_and_sign_out_removes_all() {
        let home = tempfile::tempdir().unwrap();
        let first = Replicas::open(home.path(), "ada").unwrap();
        first.append("c1", &[json!({"n": 1})], "1").unwrap();
        let user = MeUser { id: "ada".into(), name: "Ada".into(), email: "ada@example.test".into(), image: None };
        first.save_user(&user).unwrap();
        assert_eq!(Replicas::cached_user(home.path()).unwrap().email, "ada@example.test");
        let second = Replicas::open(home.path(), "bob").unwrap();
        assert!(!home.path().join("replicas/ada").exists());
        assert!(Replicas::cached_user(home.path()).is_none());
        second.append("c2", &[], "1").unwrap();
        Replicas::clear_all(home.path()).unwrap();
        assert!(!home.path().join("replicas").exists());
        Replicas::clear_all(home.path()).unwrap();
    }
}
