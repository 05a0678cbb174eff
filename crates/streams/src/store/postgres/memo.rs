//! Live readers all wake on the same notification and ask for the same range: such
//! reads are answered once per process and shared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::store::notify::{Notifier, Version};
use crate::store::{Expiry, ReadBatch, StreamInfo, StreamKey};

/// Shares one database read among readers asking for the same range of the same
/// stream version: after an append, every live reader of the stream asks at once.
/// An entry is only reused while the stream's latest notified version is the one it
/// was made at, and only for streams that never expire (reads renew a sliding TTL, and
/// expiry must be checked each time).
#[derive(Default)]
pub(super) struct ReadMemo {
    /// Streams seen by reads, so a read can find the version it is after: each as a
    /// database read found it, and the notifier's epoch that read began in.
    known: Mutex<HashMap<StreamKey, (StreamInfo, u64)>>,
    entries: Mutex<HashMap<(StreamKey, u64, usize), MemoEntry>>,
}

#[derive(Clone)]
pub(super) struct MemoEntry {
    /// The stream's notified version and the notifier's epoch it was read at.
    version: (Version, u64),
    pub(super) cell: Arc<OnceCell<ReadBatch>>,
}

/// Entries kept at most; beyond this the memo starts over.
const MEMO_ENTRIES: usize = 4096;

impl ReadMemo {
    /// The shared read for `(key, pos, limit)` at the stream's current version, if the
    /// stream is known and someone in this process watches it.
    pub(super) fn entry(&self, key: &StreamKey, pos: u64, limit: usize, notifier: &Notifier) -> Option<MemoEntry> {
        let id = self.known.lock().expect("memo lock").get(key)?.0.id;
        let version = (notifier.latest(id)?, notifier.epoch());
        let mut entries = self.entries.lock().expect("memo lock");
        let slot = (key.clone(), pos, limit);
        if let Some(existing) = entries.get(&slot).filter(|e| e.version == version) {
            return Some(existing.clone());
        }
        if entries.len() >= MEMO_ENTRIES {
            entries.clear();
        }
        let fresh = MemoEntry { version, cell: Arc::new(OnceCell::new()) };
        entries.insert(slot, fresh.clone());
        Some(fresh)
    }

    /// Remembers which stream a key named, as a database read that began in `epoch`
    /// found it, if its reads may be shared.
    pub(super) fn learn(&self, key: &StreamKey, info: &StreamInfo, epoch: u64) {
        let mut known = self.known.lock().expect("memo lock");
        if info.expiry != Expiry::Never {
            known.remove(key);
            return;
        }
        if known.len() >= MEMO_ENTRIES {
            known.clear();
        }
        known.insert(key.clone(), (info.clone(), epoch));
    }

    /// The stream `key` names, if a database read in `epoch` found it: since then, only
    /// notifications can have changed it.
    pub(super) fn known(&self, key: &StreamKey, epoch: u64) -> Option<StreamInfo> {
        let known = self.known.lock().expect("memo lock");
        known.get(key).filter(|(_, learned)| *learned == epoch).map(|(info, _)| info.clone())
    }
}
