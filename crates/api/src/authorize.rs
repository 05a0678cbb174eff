//! `GET /oauth/authorize`: the desktop's request, checked, becomes a sign-in in this
//! browser (a cookie), and the person sees the sign-in page. Anyone can send it, so it
//! is limited per client address (a rate, and a number of sign-ins in progress) and in
//! total before anything is stored.
//!
//! Errors follow RFC 6749 §4.1.2.1: while the client or its redirect URI is in doubt,
//! the person is shown an error page and never redirected (an open redirector would
//! let anyone bounce browsers through this server); after that, errors go back to the
//! client as `redirect_uri?error=...&state=...`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::oauth_error::ErrorCode;
use crate::params::{Params, Repeated};
use crate::pending::{self, AuthorizationRequest};
use crate::rate_limit::OverQuota;
use crate::registered_client::{check_redirect_uri, is_known_client, is_valid_challenge, redirect_to_client};
use crate::server::AppState;
use crate::{pages, signin};
use superset_edge::address::client_address;

pub async fn authorize(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // Anyone can call this, and each call stores a row: the limits come first.
    let client = client_address(peer.ip(), &headers, &app.config.trusted_proxies);
    if let Err(wait) = app.authorize_limiter.check(client) {
        tracing::warn!(ip = %client, "authorization requests rate-limited");
        return pages::too_many(wait, "Too many sign-ins were started from your network. Wait a minute and try again.");
    }
    let request = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => check(&params),
        Err(Repeated(name)) => Err(Refusal::Show(format!("The parameter {name} was given more than once."), false)),
    };
    let request = match request {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    if let Err(over) = app.pending_quota.admit(client) {
        let (wait, message) = match over {
            OverQuota::Address(wait) => {
                tracing::warn!(ip = %client, "too many sign-ins in progress from one address");
                (
                    wait,
                    "Too many sign-ins are in progress from your network. Finish one, or try again in a few minutes.",
                )
            }
            OverQuota::Total(wait) => {
                tracing::warn!("too many sign-ins in progress on this server");
                (wait, "This server has too many sign-ins in progress. Try again in a few minutes.")
            }
        };
        return pages::too_many(wait, message);
    }
    match pending::start_sign_in(&app.db, request).await {
        Ok((cookie, sign_in)) => {
            let mut response = signin::page(&app, StatusCode::OK, &sign_in, None);
            response.headers_mut().append(axum::http::header::SET_COOKIE, signin::set_cookie(&app, &cookie));
            response
        }
        Err(e) => signin::unavailable(&e),
    }
}

/// Why an authorization request is refused, and where the answer goes.
enum Refusal {
    /// On a page; `true` when the client is unknown (`invalid_client`).
    Show(String, bool),
    /// Back to the client's (checked) redirect URI.
    Redirect { redirect_uri: String, state: Option<String>, code: ErrorCode, description: String },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Show(message, unknown_client) => {
                let code = if unknown_client { ErrorCode::InvalidClient } else { ErrorCode::InvalidRequest };
                pages::error(StatusCode::BAD_REQUEST, Some(code.as_str()), &message)
            }
            Refusal::Redirect { redirect_uri, state, code, description } => {
                let mut answer = vec![("error", code.as_str()), ("error_description", description.as_str())];
                if let Some(state) = &state {
                    answer.push(("state", state));
                }
                redirect_to_client(&redirect_uri, &answer)
            }
        }
    }
}

fn check(params: &Params) -> Result<AuthorizationRequest, Refusal> {
    let client_id =
        params.get("client_id").ok_or_else(|| Refusal::Show("The request has no client_id.".into(), false))?;
    if !is_known_client(client_id) {
        return Err(Refusal::Show(format!("The application \u{201c}{client_id}\u{201d} is not known here."), true));
    }
    let redirect_uri =
        params.get("redirect_uri").ok_or_else(|| Refusal::Show("The request has no redirect_uri.".into(), false))?;
    check_redirect_uri(redirect_uri).map_err(|why| Refusal::Show(format!("{why}."), false))?;
    let state = params.get("state").map(str::to_owned);
    let back = |code, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.clone(),
        code,
        description: description.to_owned(),
    };
    if params.get("response_type") != Some("code") {
        return Err(back(ErrorCode::UnsupportedResponseType, "response_type must be code"));
    }
    let challenge = params.get("code_challenge").ok_or_else(|| {
        back(ErrorCode::InvalidRequest, "PKCE is required: send code_challenge with code_challenge_method=S256")
    })?;
    // RFC 7636 §4.3: an absent method means `plain`, which is refused like an explicit one.
    if params.get("code_challenge_method") != Some("S256") {
        return Err(back(ErrorCode::InvalidRequest, "code_challenge_method must be S256; plain is not accepted"));
    }
    if !is_valid_challenge(challenge) {
        return Err(back(
            ErrorCode::InvalidRequest,
            "code_challenge must be the 43-character base64url SHA-256 of the verifier",
        ));
    }
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        code_challenge: challenge.to_owned(),
        state,
    })
}
