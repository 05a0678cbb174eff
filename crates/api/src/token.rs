//! `POST /oauth/token` (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.5) turns a code into a
//! session, and `POST /oauth/revoke` (RFC 7009) ends one.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use superset_auth_db::{lookup_part, NewSession};

use crate::oauth_error::{ErrorCode, OAuthError};
use crate::params::{Params, Repeated};
use crate::pending::{self, PendingError, Redemption};
use crate::registered_client::{is_known_client, is_valid_verifier, verifier_matches};
use crate::server::AppState;
use superset_edge::address::client_address;

/// Longest user agent kept with a session.
const MAX_USER_AGENT: usize = 512;

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

pub async fn token(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = client_address(peer.ip(), &headers, &app.config.trusted_proxies);
    if let Err(wait) = app.token_limiter.check(client) {
        tracing::warn!(ip = %client, "token requests rate-limited");
        return OAuthError::too_many_requests(wait.as_secs().max(1)).into_response();
    }
    match exchange(&app, client, &headers, &body).await {
        Ok(token) => {
            let headers =
                [(CACHE_CONTROL, HeaderValue::from_static("no-store")), (PRAGMA, HeaderValue::from_static("no-cache"))];
            (StatusCode::OK, headers, Json(token)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn exchange(
    app: &AppState,
    client: IpAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let params = form(headers, body)?;
    let grant_type = required(&params, "grant_type")?;
    if grant_type != "authorization_code" {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "only grant_type=authorization_code is supported",
        ));
    }
    let client_id = required(&params, "client_id")?;
    if !is_known_client(client_id) {
        return Err(OAuthError::new(ErrorCode::InvalidClient, "unknown client"));
    }
    let code = required(&params, "code")?;
    let redirect_uri = required(&params, "redirect_uri")?;
    let verifier = required(&params, "code_verifier")?;
    if !is_valid_verifier(verifier) {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }
    let issued = match pending::redeem_code(&app.db, code).await.map_err(storage_failed)? {
        Redemption::Valid(issued) => issued,
        Redemption::Expired => return Err(invalid_grant("the authorization code has expired")),
        Redemption::Unknown => return Err(invalid_grant("the authorization code is not valid")),
        Redemption::Replayed { session_id } => {
            // Someone holds a copy of a spent code: the session it bought is suspect.
            let revoked = app.db.delete_session_by_id(&session_id).await.map_err(|e| storage_failed(e.into()))?;
            tracing::warn!(revoked, "an authorization code was presented twice; its session is revoked");
            return Err(invalid_grant("the authorization code was already used"));
        }
    };
    if issued.client_id != client_id {
        return Err(invalid_grant("the authorization code was issued to another client"));
    }
    if issued.redirect_uri != redirect_uri {
        return Err(invalid_grant("redirect_uri differs from the one in the authorization request"));
    }
    if !verifier_matches(verifier, &issued.code_challenge) {
        return Err(invalid_grant("code_verifier does not match the code_challenge"));
    }
    let new = NewSession {
        user_id: issued.user_id,
        ttl: app.config.session_ttl,
        ip_address: Some(client.to_string()),
        user_agent: user_agent(headers),
    };
    let session = app.db.create_session(&new).await.map_err(|e| storage_failed(e.into()))?;
    pending::mark_redeemed(&app.db, code, &session.id).await.map_err(storage_failed)?;
    tracing::info!(user_id = %session.user_id, session_id = %session.id, "session issued");
    Ok(TokenResponse {
        access_token: session.token,
        token_type: "Bearer",
        expires_in: app.config.session_ttl.as_secs(),
    })
}

/// `POST /oauth/revoke`: deletes the session, and answers 200 whether or not the token
/// named one (RFC 7009 §2.2), so the endpoint tells nobody which tokens exist. The
/// client_id may be left out: whoever holds a token may end it.
pub async fn revoke(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let params = form(&headers, &body)?;
        let token = required(&params, "token")?;
        if params.get("client_id").is_some_and(|id| !is_known_client(id)) {
            return Err(OAuthError::new(ErrorCode::InvalidClient, "unknown client"));
        }
        let existed = app.db.delete_session(lookup_part(token)).await.map_err(|e| storage_failed(e.into()))?;
        tracing::info!(existed, "revocation request");
        Ok(())
    }
    .await;
    match result {
        Ok(()) => (StatusCode::OK, [(CACHE_CONTROL, HeaderValue::from_static("no-store"))]).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The request's form parameters; OAuth requests are form-encoded (RFC 6749 §4.1.3).
fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "the body must be application/x-www-form-urlencoded"));
    }
    Params::parse(body).map_err(|Repeated(name)| {
        OAuthError::new(ErrorCode::InvalidRequest, format!("the parameter {name} was given more than once"))
    })
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, OAuthError> {
    params.get(name).ok_or_else(|| OAuthError::new(ErrorCode::InvalidRequest, format!("{name} is required")))
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

fn storage_failed(e: PendingError) -> OAuthError {
    tracing::error!(error = %e, "auth database failed during a token request");
    match e {
        PendingError::Database(e) if e.is_unavailable() => OAuthError::unavailable(),
        _ => OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: ErrorCode::ServerError,
            description: "the server could not complete the request".to_owned(),
            retry_after: None,
        },
    }
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    let agent = headers.get(USER_AGENT)?.to_str().ok()?;
    Some(agent.chars().take(MAX_USER_AGENT).collect())
}
