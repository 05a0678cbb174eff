//! The `streams_changed` channel: every change is announced on commit, and every
//! process relays what it hears to its own long-polls and SSE subscribers, except the
//! batches of appends it wrote itself (the batch writer wakes their readers directly).

use std::sync::Arc;

use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use crate::listener::{self, Lost};
use crate::store::notify::{Notifier, Version};
use crate::store::StoreError;

pub(super) const CHANNEL: &str = "streams_changed";

/// Tells every process (this one included) that a stream changed, on commit.
pub(super) async fn notify(tx: &mut Transaction<'_, Postgres>, id: i64, v: Version) -> Result<(), StoreError> {
    let payload = format!("{id}:{}:{}:{}", v.tail, u8::from(v.closed), u8::from(v.gone));
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut **tx).await?;
    Ok(())
}

/// A notification's stream, version and, for a batch of appends, the process that
/// wrote it (it told its own subscribers itself).
fn parse_notification(payload: &str) -> Option<(u64, Version, Option<u64>)> {
    let mut parts = payload.split(':');
    let id = parts.next()?.parse().ok()?;
    let tail = parts.next()?.parse().ok()?;
    let closed = parts.next()? == "1";
    let gone = parts.next()? == "1";
    let origin = parts.next().and_then(|o| o.parse().ok());
    Some((id, Version { tail, closed, gone }, origin))
}

/// Relays `streams_changed` notifications to this process's subscribers until
/// `shutdown`, except those of batches this process (`origin`) wrote.
pub(super) async fn relay(pool: PgPool, notifier: Arc<Notifier>, origin: u64, shutdown: CancellationToken) {
    listener::follow(&pool, CHANNEL, &shutdown, Relay { notifier, origin }).await;
}

struct Relay {
    notifier: Arc<Notifier>,
    origin: u64,
}

impl listener::Follow for Relay {
    async fn connection(&mut self, listener: &mut PgListener) -> Lost {
        listener::relay(listener, |payload| match parse_notification(payload) {
            Some((_, _, Some(origin))) if origin == self.origin => {}
            Some((id, version, _)) => self.notifier.publish(id, version),
            None => {}
        })
        .await
    }

    /// Everyone looks again.
    fn missed(&mut self) {
        self.notifier.wake_all();
    }
}
