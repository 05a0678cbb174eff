//! Following a PostgreSQL notification channel: one policy for both of the server's
//! listeners (session changes for the token cache, stream changes for live readers).
//!
//! A connection is followed until it is lost, then another is made, after a pause that
//! doubles from [`FIRST_PAUSE`] up to [`LONGEST_PAUSE`] while connecting fails. While no
//! connection listens, notifications are lost, and nothing says which: so
//! [`Follow::missed`] is called whenever some may have been, on losing a connection
//! and again once the next one listens (what was sent in between reached nobody).

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The pause before the first attempt to reconnect: long enough not to hammer a
/// database that is restarting, short enough that live readers are not kept waiting.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two attempts.
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Why a connection was given up.
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    #[error("{0}")]
    Database(#[from] sqlx::Error),
    #[error("the server closed the connection")]
    Closed,
    /// The connection looks up but does not deliver (a probe did not come back).
    #[error("{0}")]
    Silent(&'static str),
}

/// What follows a channel: reads each connection, and hears whenever notifications
/// may have been missed.
pub trait Follow: Send {
    /// Reads `listener` until its connection is lost.
    fn connection(&mut self, listener: &mut PgListener) -> impl Future<Output = Lost> + Send;

    /// Notifications may have been missed: whatever was learnt from them may be stale.
    fn missed(&mut self);
}

/// Listens on `channel` until `shutdown`, handing each connection to `follower`.
pub async fn follow(pool: &PgPool, channel: &str, shutdown: &CancellationToken, mut follower: impl Follow) {
    let mut pause = FIRST_PAUSE;
    loop {
        let session = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(channel).await?;
            follower.missed();
            pause = FIRST_PAUSE;
            Ok::<_, Lost>(follower.connection(&mut listener).await)
        };
        let lost = tokio::select! {
            () = shutdown.cancelled() => return,
            lost = session => lost.unwrap_or_else(|e| e),
        };
        tracing::warn!(channel, error = %lost, "not listening for notifications; reconnecting in {pause:?}");
        follower.missed();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// Follows a connection that needs no checking: `apply` each payload until it is lost.
pub async fn relay(listener: &mut PgListener, mut apply: impl FnMut(&str)) -> Lost {
    // `try_recv`, not `recv`: `recv` reconnects by itself and hides the gap, in which
    // notifications are lost and nobody is told.
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => apply(notification.payload()),
            Ok(None) => return Lost::Closed,
            Err(e) => return e.into(),
        }
    }
}
