//! The write path: a create, append or delete is decided against the index under the
//! store's lock, queued to the log writer in that order, and applied to the index at
//! once; its answer waits until the writer reports its frame durable.

use bytes::Bytes;
use chrono::Utc;

use super::index::{self, State};
use super::log::{self, AppendMeta, CreateMeta, Encoded, ForkMeta, Job};
use super::FileStore;
use crate::store::notify::Version;
use crate::store::rules::{self, AppendPlan, AppendTarget, ExistingStream, ProducerState};
use crate::store::{Append, Appended, CreateError, CreateStream, Created, Expiry, StoreError, StreamKey};

impl FileStore {
    /// Queues a frame. Returns its LSN and where its data will be: segment and position.
    /// The caller then applies the change and records what it makes [`State::visible`].
    fn submit(&self, state: &mut State, frame: Encoded) -> Result<(u64, u32, u64), StoreError> {
        let len = frame.bytes.len() as u64;
        let roll_to = (state.position > 0 && state.position + len > self.0.segment_bytes).then(|| {
            state.segment += 1;
            state.position = 0;
            state.segment
        });
        let at = state.position + frame.data_offset as u64;
        state.position += len;
        state.lsn += 1;
        if roll_to.is_some() {
            state.active_since = state.lsn;
        }
        if self.0.jobs.send(Job { lsn: state.lsn, roll_to, bytes: frame.bytes }).is_err() {
            state.poisoned = true;
            return Err(StoreError::Poisoned);
        }
        Ok((state.lsn, state.segment, at))
    }

    /// The stream at `key` as readers may see it, expiring it first if its time is up.
    pub(super) fn find(&self, state: &mut State, key: &StreamKey) -> Result<u64, StoreError> {
        let id = *state.keys.get(key).ok_or(StoreError::NotFound)?;
        let stream = &state.streams[&id];
        if !stream.visible {
            return Err(StoreError::NotFound);
        }
        if stream.soft_deleted {
            return Err(StoreError::Gone);
        }
        if rules::expired(stream.expiry, stream.last_access, Utc::now()) {
            let soft = self.remove(state, id)?;
            return Err(if soft { StoreError::Gone } else { StoreError::NotFound });
        }
        Ok(id)
    }

    /// Deletes `id` (softly while forks need it), logs it and tells its watchers.
    /// Returns whether the delete was soft.
    pub(super) fn remove(&self, state: &mut State, id: u64) -> Result<bool, StoreError> {
        let soft = state.streams[&id].forks > 0;
        let lsn = self.submit_dead(state, log::encode_delete(id, soft))?;
        state.pending.push_back((lsn, None));
        for gone in state.remove(id) {
            self.0.shared.notifier.publish(gone, Version { gone: true, ..Version::default() });
        }
        Ok(soft)
    }

    /// Notes a read or write of `id` now, logging it when the logged one is too old
    /// (see [`index::touch_every`]); nobody waits for that frame.
    pub(super) fn touch(&self, state: &mut State, id: u64) -> Result<(), StoreError> {
        let now = Utc::now();
        let stream = state.streams.get_mut(&id).expect("touching a known stream");
        stream.last_access = now;
        let Expiry::Ttl(ttl) = stream.expiry else { return Ok(()) };
        if now - stream.touched < index::touch_every(ttl) {
            return Ok(());
        }
        stream.touched = now;
        self.submit_dead(state, log::encode_touch(id, now.timestamp_millis()))?;
        Ok(())
    }

    /// Queues a frame that compaction may drop (a delete, a touch): its bytes count as
    /// dead at once. Returns its LSN.
    fn submit_dead(&self, state: &mut State, frame: Encoded) -> Result<u64, StoreError> {
        let len = frame.bytes.len() as u64;
        let (lsn, segment, _) = self.submit(state, frame)?;
        state.count_dead(segment, len);
        Ok(lsn)
    }

    pub(super) fn check_usable(state: &State) -> Result<(), StoreError> {
        if state.poisoned {
            Err(StoreError::Poisoned)
        } else {
            Ok(())
        }
    }

    pub(super) fn create_locked(
        &self,
        state: &mut State,
        key: &StreamKey,
        request: &CreateStream,
    ) -> Result<Outcome<Created>, StoreError> {
        Self::check_usable(state)?;
        if let Some(&id) = state.keys.get(key) {
            let stream = &state.streams[&id];
            if stream.soft_deleted {
                return Err(CreateError::PathInUse.into());
            }
            if rules::expired(stream.expiry, stream.last_access, Utc::now()) {
                if self.remove(state, id)? {
                    return Err(CreateError::PathInUse.into());
                }
            } else {
                return self.existing(state, id, request);
            }
        }
        let (content_type, expiry, fork, prefix) = match &request.fork {
            Some(fork) => {
                let source_key = StreamKey::new(key.owner.clone(), fork.path.clone());
                let source = match self.find(state, &source_key) {
                    Err(StoreError::Gone) => return Err(CreateError::SourceDeleted.into()),
                    other => other?,
                };
                let s = &state.streams[&source];
                let content_type = rules::create_content_type(request.content_type.as_deref(), Some(&s.content_type))?;
                let offset = fork.offset.unwrap_or(s.tail);
                if offset > s.tail {
                    return Err(CreateError::ForkOffsetPastTail(offset).into());
                }
                if s.json && !state.is_boundary(source, offset) {
                    return Err(CreateError::ForkOffsetNotBoundary(offset).into());
                }
                let next = match fork.sub_offset {
                    0 => None,
                    _ => self.run_at(state, source, offset)?,
                };
                let prefix = rules::sub_offset_prefix(&s.content_type, next.as_ref(), fork.sub_offset)?;
                let meta = ForkMeta { source, path: fork.path.clone(), offset, sub_offset: fork.sub_offset };
                (content_type, rules::fork_expiry(request.expiry, s.expiry), Some(meta), prefix)
            }
            None => (rules::create_content_type(request.content_type.as_deref(), None)?, request.expiry, None, None),
        };
        let body = rules::initial_data(&content_type, &request.body)?;
        let runs: Vec<Bytes> = prefix.map(|p| p.data).into_iter().chain(body).collect();
        state.within_quota(&key.owner, 1, runs.iter().map(|r| r.len() as u64).sum(), self.0.quota)?;
        let id = state.next_id;
        state.next_id += 1;
        let (ttl, expires_at_ms) = CreateMeta::expiry_fields(expiry);
        let meta = CreateMeta {
            id,
            owner: key.owner.clone(),
            path: key.path.clone(),
            content_type,
            ttl,
            expires_at_ms,
            closed: request.closed,
            fork,
            runs: runs.iter().map(|r| r.len() as u64).collect(),
            touched_ms: ttl.map(|_| Utc::now().timestamp_millis()),
            carried: Default::default(),
        };
        let refs: Vec<&[u8]> = runs.iter().map(|r| r.as_ref()).collect();
        let (lsn, segment, at) = self.submit(state, log::encode_create(&meta, &refs))?;
        state.insert(&meta, segment, at, Some(&runs));
        state.visible(lsn, id);
        let info = state.streams[&id].pending_info(id);
        Ok(Outcome { lsn, value: Created { info, new: true } })
    }

    /// An idempotent `PUT` on an existing stream: the same stream, or a conflict.
    fn existing(&self, state: &State, id: u64, request: &CreateStream) -> Result<Outcome<Created>, StoreError> {
        let stream = &state.streams[&id];
        let source = request.fork.as_ref().and_then(|f| {
            let source_key = StreamKey::new(stream.key.owner.clone(), f.path.clone());
            state.keys.get(&source_key).map(|s| &state.streams[s])
        });
        let requested_type = match (&request.content_type, source) {
            (Some(t), _) => t.clone(),
            (None, Some(s)) => s.content_type.clone(),
            (None, None) => "application/octet-stream".to_owned(),
        };
        let requested_expiry = match source {
            Some(s) => rules::fork_expiry(request.expiry, s.expiry),
            None => request.expiry,
        };
        let existing = ExistingStream {
            content_type: &stream.content_type,
            expiry: stream.expiry,
            closed: stream.closed,
            fork: stream.fork.as_ref().map(|f| (f.path.as_str(), f.offset, f.sub_offset)),
        };
        if !rules::same_config(&existing, request, &requested_type, requested_expiry) {
            return Err(CreateError::ConfigMismatch.into());
        }
        Ok(Outcome { lsn: state.lsn, value: Created { info: stream.pending_info(id), new: false } })
    }

    pub(super) fn append_locked(
        &self,
        state: &mut State,
        key: &StreamKey,
        request: &Append,
    ) -> Result<Outcome<Appended>, StoreError> {
        Self::check_usable(state)?;
        let id = self.find(state, key)?;
        let stream = &state.streams[&id];
        let target = AppendTarget {
            content_type: &stream.content_type,
            closed: stream.closed,
            closed_by: stream.closed_by.as_ref(),
            last_stream_seq: stream.last_stream_seq.as_deref(),
        };
        let producer = request.producer.as_ref().and_then(|p| stream.producers.get(&p.id).copied());
        let plan = rules::plan_append(&target, producer, request).map_err(|e| match e {
            rules::AppendError::Closed { .. } => rules::AppendError::Closed { tail: stream.tail },
            other => other,
        })?;
        let echo = |p: Option<ProducerState>| p.map(|p| (p.epoch, p.last_seq));
        match plan {
            AppendPlan::Duplicate { producer } => Ok(Outcome {
                lsn: state.lsn,
                value: Appended::Duplicate { tail: stream.tail, closed: stream.closed, producer: echo(producer) },
            }),
            AppendPlan::Write { payload, close, producer } => {
                let data = payload.map(|p| p.data).unwrap_or_default();
                let start = stream.tail;
                state.within_quota(&key.owner, 0, data.len() as u64, self.0.quota)?;
                let meta = AppendMeta {
                    id,
                    start,
                    close,
                    producer: request.producer.clone(),
                    stream_seq: request.stream_seq.clone(),
                };
                let (lsn, segment, at) = self.submit(state, log::encode_append(&meta, &data))?;
                state.apply_append(&meta, segment, at, data.len() as u64, Some(data));
                self.touch(state, id)?;
                state.visible(lsn, id);
                let stream = &state.streams[&id];
                let value = Appended::Written { tail: stream.tail, closed: stream.closed, producer: echo(producer) };
                Ok(Outcome { lsn, value })
            }
        }
    }
}

/// A decided change and the LSN that must be durable before it is answered.
pub(super) struct Outcome<T> {
    pub(super) lsn: u64,
    pub(super) value: T,
}
