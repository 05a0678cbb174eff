//! Noticing that the machine slept: the wall clock counts the time asleep, the
//! monotonic clock (`Instant`: CLOCK_MONOTONIC on Linux, uptime on macOS) does not, so
//! a gap between how far each moved is time the process did not run. After that,
//! sockets are likely dead and the session may have changed on the server: live
//! subscriptions reconnect at once from their last offset, the remembered outage is
//! forgotten, and the next request re-validates the session once. Nobody is signed out
//! by it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The two clocks, injectable so a test can jump the wall clock as a suspend does.
pub trait Clock: Send + Sync + 'static {
    /// Time of day; moves on while the machine sleeps.
    fn wall(&self) -> SystemTime;
    /// Moves only while the machine is awake.
    fn monotonic(&self) -> Instant;
}

/// The system's clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
    fn monotonic(&self) -> Instant {
        Instant::now()
    }
}

/// A wall clock running this much further than the monotonic one means a sleep (an
/// NTP correction is far smaller).
const SLEEP_GAP: Duration = Duration::from_secs(30);

pub(crate) struct WakeDetector {
    clock: Arc<dyn Clock>,
    last: Mutex<(SystemTime, Instant)>,
}

impl WakeDetector {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let last = Mutex::new((clock.wall(), clock.monotonic()));
        WakeDetector { clock, last }
    }

    /// True once per sleep: the first call after the machine woke.
    pub fn woke(&self) -> bool {
        let (wall, monotonic) = (self.clock.wall(), self.clock.monotonic());
        let mut last = self.last.lock().unwrap();
        let wall_moved = wall.duration_since(last.0).unwrap_or_default();
        let awake = monotonic.saturating_duration_since(last.1);
        *last = (wall, monotonic);
        wall_moved.saturating_sub(awake) > SLEEP_GAP
    }

    pub fn wall(&self) -> SystemTime {
        self.clock.wall()
    }
}
