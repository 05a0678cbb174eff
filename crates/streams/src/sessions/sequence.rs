//! Writing to one session's stream. Within a process every write goes through the
//! session's lock, which makes "read the next sequence number of this message, append
//! the chunk" atomic. Across processes (instances sharing PostgreSQL storage) writes are
//! optimistic: each append carries `Stream-Seq` = the offset its writer believes is
//! the tail, which the store accepts only if greater than the last one; a writer that
//! lost the race catches up on what the others wrote and plans again. So per-message
//! `seq` is gap-free and ordered however many requests or instances race, at the cost
//! of one append when nobody else writes.

use std::collections::{HashMap, HashSet};

use superset_chat::{Chunk, ChunkRecord, Event, Role};

use super::index::now;
use super::{for_each_message, stream_key, Sessions};
use crate::store::{Append, AppendError, Appended, ReadFrom, StoreError, StreamKey};

/// What a writer must know of a session's stream.
#[derive(Default)]
pub struct Sequences {
    /// Offset up to which the stream has been applied; `None` until first read.
    next: Option<u64>,
    messages: HashMap<String, MessageState>,
    /// Generations announced through `generations/start` and not finished.
    running: HashSet<String>,
}

/// How often a write is planned again after losing a race to another instance. Each
/// retry waits a random moment first, so two instances do not collide in lockstep.
const MAX_ATTEMPTS: u32 = 64;

#[derive(Clone, Copy, Debug)]
struct MessageState {
    next_seq: u64,
    ended: bool,
    role: Role,
    /// A digest of the chunk at `next_seq - 1`, to recognise a writer's retry of it.
    last: u64,
}

impl Sequences {
    fn apply(&mut self, event: &Event) {
        if let Event::Chunk { record, .. } = event {
            let state = self.messages.entry(record.message_id.clone()).or_insert(MessageState {
                next_seq: 0,
                ended: false,
                role: record.role,
                last: 0,
            });
            if record.seq + 1 >= state.next_seq {
                state.next_seq = record.seq + 1;
                state.last = digest(&record.chunk);
            }
            state.ended |= ends_message(&record.chunk);
        }
    }

    /// A parent must be a message already in the stream, so threads only ever point
    /// back and a typo does not silently start a new one.
    fn check_parent(&self, chunk: &NewChunk) -> Result<(), WriteError> {
        match &chunk.parent_id {
            Some(parent) if !self.messages.contains_key(parent) => Err(WriteError::UnknownParent(parent.clone())),
            _ => Ok(()),
        }
    }

    /// Assistant messages that started and have not ended, plus announced generations.
    fn unfinished(&self) -> Vec<String> {
        let mut ids: HashSet<String> = self.running.clone();
        ids.extend(
            self.messages.iter().filter(|(_, s)| s.role == Role::Assistant && !s.ended).map(|(id, _)| id.clone()),
        );
        ids.retain(|id| self.messages.get(id).is_none_or(|s| !s.ended));
        let mut ids: Vec<_> = ids.into_iter().collect();
        ids.sort();
        ids
    }
}

fn digest(chunk: &Chunk) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    serde_json::to_string(chunk).expect("chunks serialize").hash(&mut hasher);
    hasher.finish()
}

fn ends_message(chunk: &Chunk) -> bool {
    matches!(chunk, Chunk::MessageEnd | Chunk::WholeMessage { .. })
}

/// Why a write to a session was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("message {0} has already ended")]
    MessageEnded(String),
    #[error("message {0} already exists")]
    MessageExists(String),
    #[error("`parentId` {0} is not a message of this session")]
    UnknownParent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A chunk to append; the server adds `seq`, `actorId` and `createdAt`.
#[derive(Clone)]
pub struct NewChunk {
    pub message_id: String,
    pub role: Role,
    pub actor_id: String,
    pub chunk: Chunk,
    pub txid: Option<String>,
    pub parent_id: Option<String>,
    pub model: Option<String>,
}

impl NewChunk {
    /// A chunk written by the server itself (an end, a stop): no parent, no model.
    fn plain(message_id: String, role: Role, actor_id: String, chunk: Chunk) -> NewChunk {
        NewChunk { message_id, role, actor_id, chunk, txid: None, parent_id: None, model: None }
    }
}

/// What to do to a session's stream, under its lock.
#[derive(Clone)]
pub enum Write {
    /// With the `seq` the writer expects it to get, if it says: when the message's last
    /// chunk has that seq and is the same chunk, this is a retry of a write whose answer
    /// was lost, answered as before and not written again. Otherwise it is written at
    /// the next seq as usual (someone else, say a `stop`, may have taken the expected one).
    Chunk(NewChunk, Option<u64>),
    /// A new message: refused (409) if its id exists, so a retried send that did
    /// land is never written twice.
    Message(NewChunk),
    Start(String),
    Finish {
        message_id: String,
        actor_id: String,
    },
    /// Stop `Some(id)`, or every unfinished generation.
    Stop {
        message_id: Option<String>,
        actor_id: String,
    },
    Raw(serde_json::Value),
}

impl Sessions {
    /// Applies one write to a session's stream atomically; returns the sequence
    /// numbers of the chunks written (or, for `Stop`, nothing when nothing ran).
    pub(super) async fn write(
        &self,
        owner: &str,
        session_id: &str,
        write: Write,
    ) -> Result<Vec<(String, u64)>, WriteError> {
        let key = stream_key(owner, session_id);
        let seqs = self.sequences(&key);
        let mut seqs = seqs.lock().await;
        if seqs.next.is_none() {
            self.catch_up(&key, &mut seqs).await?;
        }
        let mut attempts = 1;
        loop {
            match self.plan_and_append(&key, &mut seqs, write.clone()).await {
                Err(WriteError::Store(StoreError::Append(AppendError::StreamSeq { .. })))
                    if attempts < MAX_ATTEMPTS =>
                {
                    attempts += 1;
                    let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=2000 * attempts.min(10));
                    tokio::time::sleep(std::time::Duration::from_micros(pause.into())).await;
                    self.catch_up(&key, &mut seqs).await?;
                }
                Err(e) => {
                    // The stream may have changed in ways not applied here: re-read next time.
                    *seqs = Sequences::default();
                    return Err(e);
                }
                Ok(written) => return Ok(written),
            }
        }
    }

    async fn plan_and_append(
        &self,
        key: &StreamKey,
        seqs: &mut Sequences,
        write: Write,
    ) -> Result<Vec<(String, u64)>, WriteError> {
        let chunks = match write {
            Write::Chunk(chunk, expected) => {
                let state = seqs.messages.get(&chunk.message_id);
                let retried = |s: &MessageState| expected == Some(s.next_seq - 1) && s.last == digest(&chunk.chunk);
                if let Some(seq) = expected.filter(|_| state.is_some_and(retried)) {
                    return Ok(vec![(chunk.message_id, seq)]);
                }
                if state.is_some_and(|s| s.ended) {
                    return Err(WriteError::MessageEnded(chunk.message_id));
                }
                seqs.check_parent(&chunk)?;
                vec![chunk]
            }
            Write::Message(chunk) => {
                if seqs.messages.contains_key(&chunk.message_id) {
                    return Err(WriteError::MessageExists(chunk.message_id));
                }
                seqs.check_parent(&chunk)?;
                vec![chunk]
            }
            Write::Start(message_id) => {
                if seqs.messages.get(&message_id).is_some_and(|s| s.ended) {
                    return Err(WriteError::MessageEnded(message_id));
                }
                seqs.running.insert(message_id);
                vec![]
            }
            Write::Finish { message_id, actor_id } => {
                seqs.running.remove(&message_id);
                match seqs.messages.get(&message_id) {
                    Some(s) if s.ended => vec![],
                    _ => vec![NewChunk::plain(message_id, Role::Assistant, actor_id, Chunk::MessageEnd)],
                }
            }
            Write::Stop { message_id, actor_id } => {
                let targets = message_id.map_or_else(|| seqs.unfinished(), |id| vec![id]);
                targets
                    .into_iter()
                    .map(|id| {
                        let role = seqs.messages.get(&id).map_or(Role::Assistant, |s| s.role);
                        NewChunk::plain(id, role, actor_id.clone(), Chunk::Stop)
                    })
                    .collect()
            }
            Write::Raw(value) => {
                let tail = appended_tail(self.store.append(key, expecting_tail(&value, seqs)).await?);
                seqs.next = Some(tail);
                return Ok(vec![]);
            }
        };
        let mut written = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            written.push(self.append_chunk(key, seqs, chunk).await?);
        }
        Ok(written)
    }

    async fn append_chunk(
        &self,
        key: &StreamKey,
        seqs: &mut Sequences,
        new: NewChunk,
    ) -> Result<(String, u64), WriteError> {
        let seq = seqs.messages.get(&new.message_id).map_or(0, |s| s.next_seq);
        let event = Event::Chunk {
            record: ChunkRecord {
                message_id: new.message_id.clone(),
                actor_id: new.actor_id,
                role: new.role,
                seq,
                chunk: new.chunk,
                created_at: now(),
                parent_id: new.parent_id,
                model: new.model,
            },
            txid: new.txid,
        };
        let tail = appended_tail(self.store.append(key, expecting_tail(&event.to_json(), seqs)).await?);
        seqs.apply(&event);
        seqs.next = Some(tail);
        Ok((new.message_id, seq))
    }

    async fn catch_up(&self, key: &StreamKey, seqs: &mut Sequences) -> Result<(), StoreError> {
        let from = seqs.next.map_or(ReadFrom::Start, ReadFrom::At);
        let next =
            for_each_message(&*self.store, key, from, |message| seqs.apply(&Event::from_json(&message.value))).await;
        match next {
            Ok(next) => seqs.next = Some(next),
            // What was applied so far would be applied twice by the next catch-up.
            Err(e) => {
                *seqs = Sequences::default();
                return Err(e);
            }
        }
        Ok(())
    }
}

fn appended_tail(appended: Appended) -> u64 {
    match appended {
        Appended::Written { tail, .. } | Appended::Duplicate { tail, .. } => tail,
    }
}

/// An append that succeeds only if the stream's tail is still where this writer last
/// saw it: `Stream-Seq` is that offset, zero-padded so order is lexicographic.
fn expecting_tail(value: &serde_json::Value, seqs: &Sequences) -> Append {
    let mut append = Append::json(value);
    append.stream_seq = Some(format!("{:020}", seqs.next.unwrap_or(0)));
    append
}
