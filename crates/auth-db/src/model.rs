use std::time::Duration;

use chrono::{DateTime, Utc};

/// A session that exists and has not expired: what an authenticated request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidSession {
    pub user_id: String,
    pub expires_at: DateTime<Utc>,
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
        NewSession {
            user_id: user_id.into(),
            ttl: crate::DEFAULT_SESSION_TTL,
            ip_address: None,
            user_agent: None,
        }
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
