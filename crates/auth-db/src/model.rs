use std::time::Duration;

use chrono::{DateTime, Utc};

/// A session that exists and has not expired: what an authenticated request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidSession {
    pub id: String,
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
    /// When it was created or last renewed (`updated_at`): what decides whether a
    /// request renews it (see [`Renewal`](crate::Renewal)).
    pub renewed_at: DateTime<Utc>,
}

/// A freshly issued session, the token included (it is shown to its holder once).
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What the issuer knows when it creates a session.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub user_id: String,
    pub ttl: Duration,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl NewSession {
    pub fn for_user(user_id: impl Into<String>) -> Self {
        NewSession { user_id: user_id.into(), ttl: crate::DEFAULT_SESSION_TTL, ip_address: None, user_agent: None }
    }
}

/// An identity as an upstream provider (or the dev sign-in) reports it.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
}

/// A valid session and the person it belongs to: what `/api/me` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUser {
    pub user: User,
    pub expires_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
}

/// One of a person's live sessions, as the devices list shows it: what signed in and
/// from where, never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub session_id: String,
    /// The `User-Agent` the client sent when it signed in.
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was last renewed: last use, to within the renewal's `update_age`.
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An identity at an upstream provider (GitHub, Google, an OIDC issuer, the dev
/// sign-in), keyed by `(provider_id, account_id)`, and the person it says it is.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub provider_id: String,
    pub account_id: String,
    pub user: NewUser,
}

/// A short-lived value kept between two requests of a sign-in (a row of
/// `auth.verifications`), so that any instance of the auth server can pick it up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub identifier: String,
    pub value: String,
    pub expires_at: DateTime<Utc>,
}
