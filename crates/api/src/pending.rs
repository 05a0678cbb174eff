//! What a sign-in keeps between requests: the desktop's authorization request while the
//! person signs in (keyed by the browser's cookie), and the authorization codes issued
//! for it. Both live in `auth.verifications`, so any instance of the server can pick
//! them up, and only under the SHA-256 of the secret that names them: a database
//! reader learns no cookie and no code.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use superset_auth_db::{generate_token, token_digest, AuthDb, Verification};

use crate::provider::ProviderId;

/// How long a person has to sign in once the desktop sent them here. The desktop
/// gives up after five minutes.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(10 * 60);

/// How long a redeemed code is remembered, so that replaying it revokes the session
/// it produced (RFC 6749 §4.1.2) instead of just failing.
const REDEEMED_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The desktop's authorization request, checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub state: Option<String>,
}

/// A sign-in in progress in one browser.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignIn {
    pub request: AuthorizationRequest,
    /// Shown in the sign-in page's forms and required back with each of them: a page
    /// elsewhere that got this browser to start a sign-in cannot read it, so it cannot
    /// make the browser go on. Empty in rows written before it existed, which is never
    /// accepted.
    #[serde(default)]
    pub csrf_token: String,
    /// Set once the person picked a provider and was sent there.
    pub upstream: Option<UpstreamLeg>,
}

/// What checks the provider's answer: the `state` and `nonce` sent to it, and the
/// PKCE verifier for our own code exchange with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UpstreamLeg {
    pub provider: ProviderId,
    pub state: String,
    pub nonce: Option<String>,
    pub pkce_verifier: String,
}

/// An issued authorization code and what it is bound to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IssuedCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub user_id: String,
}

/// What presenting a code at the token endpoint finds.
#[derive(Debug)]
pub enum Redemption {
    Valid(IssuedCode),
    Expired,
    /// Already exchanged, for this session.
    Replayed {
        session_id: String,
    },
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error(transparent)]
    Database(#[from] superset_auth_db::Error),
    #[error("a stored sign-in value is not readable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Starts a sign-in; returns the cookie value naming it, and the sign-in. Expired
/// leftovers are swept by a background task (`server`), off the request path.
pub async fn start_sign_in(db: &AuthDb, request: AuthorizationRequest) -> Result<(String, SignIn), PendingError> {
    let cookie = generate_token();
    let sign_in = SignIn { request, csrf_token: generate_token(), upstream: None };
    save_sign_in(db, &cookie, &sign_in).await?;
    Ok((cookie, sign_in))
}

pub async fn save_sign_in(db: &AuthDb, cookie: &str, sign_in: &SignIn) -> Result<(), PendingError> {
    put(db, &sign_in_key(cookie), sign_in, SIGN_IN_TTL).await
}

/// The unexpired sign-in a cookie names.
pub async fn find_sign_in(db: &AuthDb, cookie: &str) -> Result<Option<SignIn>, PendingError> {
    match db.find_verification(&sign_in_key(cookie)).await? {
        Some(v) => Ok(Some(serde_json::from_str(&v.value)?)),
        None => Ok(None),
    }
}

/// Ends a sign-in; `None` if it expired or another request ended it first.
pub async fn finish_sign_in(db: &AuthDb, cookie: &str) -> Result<Option<SignIn>, PendingError> {
    match db.take_verification(&sign_in_key(cookie)).await? {
        Some(v) if v.expires_at > Utc::now() => Ok(Some(serde_json::from_str(&v.value)?)),
        _ => Ok(None),
    }
}

/// Issues a single-use code for `user_id`, bound to the request it answers.
pub async fn issue_code(
    db: &AuthDb,
    request: &AuthorizationRequest,
    user_id: &str,
    ttl: Duration,
) -> Result<String, PendingError> {
    let code = generate_token();
    let issued = IssuedCode {
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        user_id: user_id.to_owned(),
    };
    put(db, &code_key(&code), &issued, ttl).await?;
    Ok(code)
}

/// Consumes a code: whatever the outcome, it cannot be exchanged again.
pub async fn redeem_code(db: &AuthDb, code: &str) -> Result<Redemption, PendingError> {
    if let Some(v) = db.take_verification(&code_key(code)).await? {
        if v.expires_at <= Utc::now() {
            return Ok(Redemption::Expired);
        }
        return Ok(Redemption::Valid(serde_json::from_str(&v.value)?));
    }
    match db.find_verification(&redeemed_key(code)).await? {
        Some(v) => Ok(Redemption::Replayed { session_id: v.value }),
        None => Ok(Redemption::Unknown),
    }
}

/// Remembers which session a code produced.
pub async fn mark_redeemed(db: &AuthDb, code: &str, session_id: &str) -> Result<(), PendingError> {
    let v =
        Verification { identifier: redeemed_key(code), value: session_id.to_owned(), expires_at: expiry(REDEEMED_TTL) };
    Ok(db.put_verification(&v).await?)
}

async fn put<T: Serialize>(db: &AuthDb, identifier: &str, value: &T, ttl: Duration) -> Result<(), PendingError> {
    let v = Verification {
        identifier: identifier.to_owned(),
        value: serde_json::to_string(value)?,
        expires_at: expiry(ttl),
    };
    Ok(db.put_verification(&v).await?)
}

fn expiry(ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| Utc::now().checked_add_signed(ttl))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// Prefixed so they cannot collide with what better-auth keeps in the same table.
fn sign_in_key(cookie: &str) -> String {
    format!("superset:sign-in:{}", hex(cookie))
}

fn code_key(code: &str) -> String {
    format!("superset:code:{}", hex(code))
}

fn redeemed_key(code: &str) -> String {
    format!("superset:redeemed-code:{}", hex(code))
}

fn hex(secret: &str) -> String {
    hex::encode(token_digest(secret))
}
