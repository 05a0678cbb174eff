//! The `streams_changed` channel: every change is announced on commit, and every
//! process relays what it hears to its own long-polls and SSE subscribers.

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

fn parse_notification(payload: &str) -> Option<(u64, Version)> {
    let mut parts = payload.split(':');
    let id = parts.next()?.parse().ok()?;
    let tail = parts.next()?.parse().ok()?;
    let closed = parts.next()? == "1";
    let gone = parts.next()? == "1";
    Some((id, Version { tail, closed, gone }))
}

/// Relays `streams_changed` notifications to this process's subscribers until
/// `shutdown`.
pub(super) async fn relay(pool: PgPool, notifier: Arc<Notifier>, shutdown: CancellationToken) {
    listener::follow(&pool, CHANNEL, &shutdown, Relay(notifier)).await;
}

struct Relay(Arc<Notifier>);

impl listener::Follow for Relay {
    async fn connection(&mut self, listener: &mut PgListener) -> Lost {
        listener::relay(listener, |payload| {
            if let Some((id, version)) = parse_notification(payload) {
                self.0.publish(id, version);
            }
        })
        .await
    }

    /// Everyone looks again.
    fn missed(&mut self) {
        self.0.wake_all();
    }
}
