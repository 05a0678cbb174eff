//! Expired streams are removed when someone asks for them, and also here, every
//! [`SWEEP_EVERY`], so those nobody asks for stop holding memory.

use std::sync::Weak;
use std::time::Duration;

use chrono::Utc;

use super::{FileStore, Inner};
use crate::store::rules;

/// How often expired streams are removed even if nobody asks for them.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl FileStore {
    /// Removes streams whose time is up, so they stop holding memory.
    fn sweep_expired(&self) {
        let mut state = self.lock();
        let now = Utc::now();
        let expired: Vec<u64> = state
            .streams
            .iter()
            .filter(|(_, s)| s.visible && !s.soft_deleted && rules::expired(s.expiry, s.last_access, now))
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            if state.streams.contains_key(&id) && self.remove(&mut state, id).is_err() {
                return;
            }
        }
    }
}

/// Sweeps until the store is dropped.
pub(super) async fn run(store: Weak<Inner>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else { return };
        FileStore(inner).sweep_expired();
    }
}
