//! Wakes long-polls and SSE subscribers when a stream changes. Subscribers hold a
//! `watch` receiver per stream; a change only says "look again", the data is always
//! read from the store, so a missed intermediate value loses nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

/// The state a subscriber is told about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version {
    pub tail: u64,
    pub closed: bool,
    /// Deleted or expired: nothing more will come.
    pub gone: bool,
}

/// Senders only exist while someone listens, so idle streams cost nothing.
#[derive(Default)]
pub struct Notifier {
    senders: Mutex<HashMap<u64, watch::Sender<Version>>>,
    /// Bumped by [`wake_all`](Self::wake_all): the versions known before may be stale,
    /// so nothing remembered at them may be reused.
    epoch: AtomicU64,
}

/// Past this many entries, subscribing first drops those nobody listens to any more.
const SWEEP_ABOVE: usize = 1024;

impl Notifier {
    pub fn subscribe(&self, stream: u64, current: Version) -> watch::Receiver<Version> {
        let mut senders = self.senders.lock().expect("notifier lock");
        if senders.len() > SWEEP_ABOVE {
            senders.retain(|_, s| s.receiver_count() > 0);
        }
        senders.entry(stream).or_insert_with(|| watch::channel(current).0).subscribe()
    }

    /// The last version published for `stream`, if anyone listens to it.
    pub fn latest(&self, stream: u64) -> Option<Version> {
        self.senders.lock().expect("notifier lock").get(&stream).map(|s| *s.borrow())
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Makes every subscriber look again: after notifications may have been missed.
    pub fn wake_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for sender in self.senders.lock().expect("notifier lock").values() {
            sender.send_modify(|_| {});
        }
    }

    /// Wakes `stream`'s subscribers if `version` is news. A stream's versions only move
    /// forward (its tail grows, it closes, it goes), but two processes' announcements
    /// may arrive out of order: one that is behind what is known changes nothing.
    pub fn publish(&self, stream: u64, version: Version) {
        let mut senders = self.senders.lock().expect("notifier lock");
        if let Some(sender) = senders.get(&stream) {
            if sender.receiver_count() == 0 {
                senders.remove(&stream);
            } else {
                sender.send_if_modified(|known| {
                    let newer = Version {
                        tail: known.tail.max(version.tail),
                        closed: known.closed || version.closed,
                        gone: known.gone || version.gone,
                    };
                    std::mem::replace(known, newer) != newer
                });
            }
        }
    }
}
