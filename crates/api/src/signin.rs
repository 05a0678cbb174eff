//! The person's side of signing in, in the browser: the sign-in page, the round trip to
//! an upstream provider (or the dev form), and the code sent back to the desktop.
//!
//! The browser carries the sign-in in a short-lived HttpOnly, SameSite=Lax cookie set
//! by `/oauth/authorize`. Nothing goes on from a mere page load: the sign-in page says
//! which app gets the sign-in and at which address, and the person's choice of a way
//! to sign in is a POST carrying the page's anti-CSRF token (RFC 8252 §8.6). The
//! provider's answer must come back to the same browser (the cookie) with the `state`
//! we sent (a value only that sign-in knows): together they stop a stranger from
//! completing a sign-in in someone else's browser.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use oauth2::RedirectUrl;
use superset_auth_db::{normalize_email, NewAccount, NewUser};

use crate::oauth_error::ErrorCode;
use crate::pages::{self, Consent, DevForm, ProviderButton};
use crate::params::Params;
use crate::pending::{self, PendingError, SignIn, SIGN_IN_TTL};
use crate::provider::ProviderId;
use crate::registered_client::{constant_time_eq, redirect_to_client, DESKTOP_CLIENT_NAME};
use crate::server::AppState;
use crate::upstream::{Identity, UpstreamError};

const COOKIE_NAME: &str = "superset_sign_in";

/// `auth.accounts.provider_id` of identities made up in the dev form.
const DEV_PROVIDER: &str = "dev";

/// The sign-in page: where the sign-in will go, the configured providers and the dev
/// form when enabled, each a form carrying this sign-in's anti-CSRF token.
pub fn page(app: &AppState, status: StatusCode, sign_in: &SignIn, dev: Option<DevForm>) -> Response {
    let providers: Vec<ProviderButton> = app
        .upstreams
        .configured()
        .into_iter()
        .map(|id| ProviderButton {
            action: app.public_url(&format!("/signin/{}", id.as_str())),
            label: app.upstreams.label(id),
        })
        .collect();
    let dev = app.config.dev_login.then(|| {
        dev.unwrap_or(DevForm { action: String::new(), name: String::new(), email: String::new(), error: None })
    });
    let dev = dev.map(|form| DevForm { action: app.public_url("/signin/dev"), ..form });
    let consent = Consent {
        // The one registered client (`/oauth/authorize` refuses any other).
        app: DESKTOP_CLIENT_NAME,
        redirect_uri: &sign_in.request.redirect_uri,
        csrf_token: &sign_in.csrf_token,
    };
    pages::sign_in(status, &consent, &providers, dev.as_ref())
}

/// `GET /signin/{provider}` (and `GET /signin/dev`): starts nothing. A sign-in goes on
/// only from the sign-in page's forms, so that a page elsewhere which opened
/// `/oauth/authorize` with its own redirect cannot walk the browser on to a code.
pub async fn use_the_page() -> Response {
    pages::post_only(
        "Sign-in continues only from the sign-in page's buttons. Return to the app and sign in from there.",
    )
}

/// `POST /signin/{provider}`: the person chose this provider on the sign-in page,
/// which is their consent to the sign-in the page described; sends them there.
pub async fn start(
    State(app): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = ProviderId::from_path(&provider).filter(|id| app.upstreams.is_configured(*id)) else {
        return pages::error(StatusCode::NOT_FOUND, None, "This sign-in method is not available on this server.");
    };
    let params = Params::parse(&body).unwrap_or_default();
    let (cookie, sign_in) = match consented(&app, &headers, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (url, leg) = match app.upstreams.authorize_url(id, &callback_url(&app, id)).await {
        Ok(found) => found,
        Err(e) => return upstream_failed(id, &e),
    };
    if let Err(e) = pending::save_sign_in(&app.db, &cookie, &SignIn { upstream: Some(leg), ..sign_in }).await {
        return unavailable(&e);
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response(),
        Err(_) => upstream_failed(id, &UpstreamError::Discovery("authorization URL is not a valid header".into())),
    }
}

/// `GET /signin/{provider}/callback`: the provider sends the browser back here.
pub async fn callback(
    State(app): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(params) = Params::parse(query.unwrap_or_default().as_bytes()) else {
        return pages::error(StatusCode::BAD_REQUEST, None, "The provider's answer repeats a parameter.");
    };
    let (cookie, sign_in) = match current(&app, &headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(leg) = sign_in.upstream.clone().filter(|leg| leg.provider.as_str() == provider) else {
        return pages::error(StatusCode::BAD_REQUEST, None, "This sign-in was not sent to that provider.");
    };
    // A mismatched state is someone else's answer: refuse it, and keep this sign-in
    // alive for the genuine one.
    if !params.get("state").is_some_and(|state| constant_time_eq(state, &leg.state)) {
        tracing::warn!(provider, "provider answer refused: state does not match this sign-in");
        return pages::error(
            StatusCode::BAD_REQUEST,
            None,
            "The answer from the sign-in provider does not belong to this sign-in (its state does not match).",
        );
    }
    // RFC 9207: an answer naming another issuer was meant for another provider (a
    // mix-up attack); like a wrong state, it is not this sign-in's answer.
    if let (Some(iss), Some(issuer)) = (params.get("iss"), app.upstreams.issuer(leg.provider)) {
        if iss != issuer {
            tracing::warn!(provider, "provider answer refused: it names another issuer");
            return pages::error(
                StatusCode::BAD_REQUEST,
                None,
                "The answer does not come from the sign-in provider this sign-in was sent to (its issuer differs).",
            );
        }
    }
    if let Some(error) = params.get("error") {
        tracing::info!(provider, error, "the provider reported that sign-in did not happen");
        return match pending::finish_sign_in(&app.db, &cookie).await {
            Ok(Some(sign_in)) => back_to_client_denied(&app, &sign_in, error),
            Ok(None) => expired(),
            Err(e) => unavailable(&e),
        };
    }
    let Some(code) = params.get("code") else {
        return pages::error(StatusCode::BAD_REQUEST, None, "The provider's answer has no code.");
    };
    let identity = match app.upstreams.identify(&leg, &callback_url(&app, leg.provider), code.to_owned()).await {
        Ok(identity) => identity,
        Err(e) => {
            // Fail closed: this sign-in is over; the person starts again from the app.
            let _ = pending::finish_sign_in(&app.db, &cookie).await;
            return upstream_failed(leg.provider, &e);
        }
    };
    let Identity { account_id, name, email, email_verified, image } = identity;
    let account = NewAccount {
        provider_id: leg.provider.as_str().to_owned(),
        account_id,
        user: NewUser { name, email, email_verified, image },
    };
    complete(&app, &cookie, &account).await
}

/// `POST /signin/dev`: the development form (name and email, no proof of either).
pub async fn dev(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !app.config.dev_login {
        return pages::error(StatusCode::NOT_FOUND, None, "Development sign-in is not enabled on this server.");
    }
    let params = Params::parse(&body).unwrap_or_default();
    let (cookie, sign_in) = match consented(&app, &headers, &params).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let name = params.get("name").unwrap_or_default().trim().to_owned();
    let email = normalize_email(params.get("email").unwrap_or_default());
    if let Err(problem) = check_dev_identity(&name, &email) {
        let form = DevForm { action: String::new(), name, email, error: Some(problem.to_owned()) };
        return page(&app, StatusCode::BAD_REQUEST, &sign_in, Some(form));
    }
    let account = NewAccount {
        provider_id: DEV_PROVIDER.to_owned(),
        account_id: email.clone(),
        // Whoever runs a dev server vouches for every address typed into it.
        user: NewUser { name, email, email_verified: true, image: None },
    };
    complete(&app, &cookie, &account).await
}

fn check_dev_identity(name: &str, email: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.chars().count() > 200 {
        return Err("Enter a name (at most 200 characters).");
    }
    let well_formed = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if !well_formed {
        return Err("Enter an email address such as ada@example.com.");
    }
    Ok(())
}

/// The person is known: issue a code for the desktop and send the browser there.
async fn complete(app: &AppState, cookie: &str, account: &NewAccount) -> Response {
    let user = match app.db.link_account(account).await {
        Ok(user) => user,
        Err(superset_auth_db::Error::UnverifiedEmailTaken) => {
            return pages::error(
                StatusCode::FORBIDDEN,
                Some(ErrorCode::AccessDenied.as_str()),
                "An account with this email address already exists, and the provider has not verified that the \
                 address is yours. Sign in the way you did before, or verify the address with the provider.",
            );
        }
        Err(e) => return unavailable(&PendingError::Database(e)),
    };
    let sign_in = match pending::finish_sign_in(&app.db, cookie).await {
        Ok(Some(sign_in)) => sign_in,
        Ok(None) => return expired(),
        Err(e) => return unavailable(&e),
    };
    let code = match pending::issue_code(&app.db, &sign_in.request, &user.id, app.config.code_ttl).await {
        Ok(code) => code,
        Err(e) => return unavailable(&e),
    };
    tracing::info!(user_id = %user.id, provider = %account.provider_id, "signed in; authorization code issued");
    let mut answer = vec![("code", code.as_str())];
    if let Some(state) = &sign_in.request.state {
        answer.push(("state", state));
    }
    let mut response = redirect_to_client(&sign_in.request.redirect_uri, &answer);
    response.headers_mut().append(SET_COOKIE, clear_cookie(app));
    response
}

fn back_to_client_denied(app: &AppState, sign_in: &SignIn, provider_error: &str) -> Response {
    let description = format!("the sign-in provider reported {provider_error}");
    let mut answer = vec![("error", ErrorCode::AccessDenied.as_str()), ("error_description", description.as_str())];
    if let Some(state) = &sign_in.request.state {
        answer.push(("state", state));
    }
    let mut response = redirect_to_client(&sign_in.request.redirect_uri, &answer);
    response.headers_mut().append(SET_COOKIE, clear_cookie(app));
    response
}

/// The sign-in this browser's cookie names, or the page to show instead.
async fn current(app: &AppState, headers: &HeaderMap) -> Result<(String, SignIn), Response> {
    let Some(cookie) = read_cookie(headers) else { return Err(expired()) };
    match pending::find_sign_in(&app.db, &cookie).await {
        Ok(Some(sign_in)) => Ok((cookie, sign_in)),
        Ok(None) => Err(expired()),
        Err(e) => Err(unavailable(&e)),
    }
}

/// The sign-in this browser's cookie names, if this POST comes from its sign-in page:
/// it carries the page's anti-CSRF token and, where the browser says where it comes
/// from, comes from this server's own pages.
async fn consented(app: &AppState, headers: &HeaderMap, params: &Params) -> Result<(String, SignIn), Response> {
    if let Some(origin) = foreign_origin(app, headers) {
        tracing::warn!(origin, "sign-in form refused: posted from another site");
        return Err(forged());
    }
    let (cookie, sign_in) = current(app, headers).await?;
    let token = params.get("csrf_token").unwrap_or_default();
    if sign_in.csrf_token.is_empty() || !constant_time_eq(token, &sign_in.csrf_token) {
        tracing::warn!("sign-in form refused: its anti-CSRF token does not match this sign-in");
        return Err(forged());
    }
    Ok((cookie, sign_in))
}

/// Where a POST says it comes from, when that is not this server's own page:
/// `Sec-Fetch-Site` other than `same-origin`, or an `Origin` other than the public
/// URL's. Browsers send at least one of them; a request with neither is judged by its
/// token alone.
fn foreign_origin(app: &AppState, headers: &HeaderMap) -> Option<String> {
    let header = |name| headers.get(name).map(|v| v.to_str().unwrap_or("(unreadable)").to_owned());
    if let Some(site) = header("sec-fetch-site").filter(|site| site != "same-origin") {
        return Some(format!("Sec-Fetch-Site: {site}"));
    }
    header(ORIGIN.as_str()).filter(|origin| *origin != app.public_origin())
}

fn forged() -> Response {
    pages::error(
        StatusCode::FORBIDDEN,
        Some(ErrorCode::AccessDenied.as_str()),
        "This request did not come from the sign-in page it belongs to, so nothing was done. \
         Return to the app and start signing in again.",
    )
}

fn callback_url(app: &AppState, id: ProviderId) -> RedirectUrl {
    RedirectUrl::new(app.public_url(&format!("/signin/{}/callback", id.as_str()))).expect("public URL is a valid URL")
}

pub fn set_cookie(app: &AppState, value: &str) -> HeaderValue {
    cookie_header(app, value, SIGN_IN_TTL.as_secs())
}

fn clear_cookie(app: &AppState) -> HeaderValue {
    cookie_header(app, "", 0)
}

fn cookie_header(app: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if app.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"))
        .expect("cookie values are base64url")
}

fn read_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE_NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

fn expired() -> Response {
    pages::error(
        StatusCode::BAD_REQUEST,
        None,
        "This sign-in has expired, was already used, or was started in another browser.",
    )
}

fn upstream_failed(id: ProviderId, e: &UpstreamError) -> Response {
    tracing::warn!(provider = id.as_str(), error = %e, "upstream sign-in failed");
    match e {
        UpstreamError::Unreachable(_) | UpstreamError::Discovery(_) => pages::error(
            StatusCode::BAD_GATEWAY,
            None,
            "The sign-in provider could not be reached. Try again in a moment.",
        ),
        _ => pages::error(
            StatusCode::BAD_REQUEST,
            Some(ErrorCode::AccessDenied.as_str()),
            "The sign-in provider's answer could not be verified, so you were not signed in.",
        ),
    }
}

pub fn unavailable(e: &PendingError) -> Response {
    tracing::error!(error = %e, "sign-in storage failed");
    pages::error(
        StatusCode::SERVICE_UNAVAILABLE,
        Some(ErrorCode::TemporarilyUnavailable.as_str()),
        "Signing in is temporarily unavailable. Try again in a moment.",
    )
}
