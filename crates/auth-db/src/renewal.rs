//! Sliding expiry, as better-auth does it: a session in use is renewed, at most once per
//! `update_age`, to `expires_in` from the request that renewed it; one left unused
//! expires `expires_in` after its last renewal. The renewal is one conditional `UPDATE`,
//! so of many requests (on many instances) arriving together exactly one writes.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// better-auth's `session.expiresIn` and `session.updateAge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Renewal {
    /// How long a session lives after its creation or last renewal.
    pub expires_in: Duration,
    /// How long after its last renewal a session in use is renewed again.
    pub update_age: Duration,
}

impl Default for Renewal {
    fn default() -> Self {
        Renewal { expires_in: crate::DEFAULT_SESSION_TTL, update_age: DEFAULT_UPDATE_AGE }
    }
}

/// better-auth's default `updateAge`: one day.
pub const DEFAULT_UPDATE_AGE: Duration = Duration::from_secs(24 * 60 * 60);

impl Renewal {
    /// Whether a session last renewed at `renewed_at` is due for renewal now: the
    /// cheap check, made on the row just read, that decides whether to write at all.
    pub fn is_due(&self, renewed_at: DateTime<Utc>) -> bool {
        (Utc::now() - renewed_at).to_std().is_ok_and(|age| age >= self.update_age)
    }

    pub(crate) fn expires_in_ms(&self) -> i64 {
        i64::try_from(self.expires_in.as_millis()).unwrap_or(i64::MAX / 2)
    }

    pub(crate) fn update_age_ms(&self) -> i64 {
        i64::try_from(self.update_age.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_once_update_age_has_passed() {
        let renewal = Renewal { expires_in: Duration::from_secs(60), update_age: Duration::from_secs(10) };
        assert!(!renewal.is_due(Utc::now()));
        assert!(!renewal.is_due(Utc::now() - chrono::Duration::seconds(9)));
        assert!(renewal.is_due(Utc::now() - chrono::Duration::seconds(10)));
        // A clock that ran backwards is not a reason to write.
        assert!(!renewal.is_due(Utc::now() + chrono::Duration::seconds(30)));
    }
}
