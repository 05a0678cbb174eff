//! Signing a simulated user in through the real auth server, as the desktop and a
//! browser do (OAuth authorization code + PKCE, the development sign-in form), and
//! revoking the session as the desktop's sign-out does. All of the auth server's
//! page flow the soak depends on is in [`sign_in`].

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use reqwest::{Client, StatusCode};
use sha2::{Digest, Sha256};
use url::Url;

const CLIENT_ID: &str = "superset-desktop";
/// Where the code is sent: a loopback port nobody listens on, since the soak reads
/// the code from the redirect itself (RFC 8252 allows any port).
const REDIRECT_URI: &str = "http://127.0.0.1:49152/callback";
const ATTEMPTS: u32 = 10;

/// A new session token for the user with this email (created on first sign-in).
/// `from` is the loopback address the user's requests come from, which the auth
/// server learns through HAProxy's X-Forwarded-For.
pub async fn sign_in(auth: &Url, from: IpAddr, email: &str) -> anyhow::Result<String> {
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        match sign_in_once(auth, from, email).await {
            Ok(token) => return Ok(token),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt.min(4))).await;
    }
    Err(last.expect("at least one attempt")).context(format!("signing {email} in"))
}

async fn sign_in_once(auth: &Url, from: IpAddr, email: &str) -> anyhow::Result<String> {
    let browser = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from)
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut verifier = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut verifier);
    let verifier = URL_SAFE_NO_PAD.encode(verifier);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = uuid::Uuid::new_v4().to_string();

    let mut authorize = auth.join("/oauth/authorize")?;
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
        ("state", &state),
    ]);
    let page = browser.get(authorize).send().await?;
    if page.status() != StatusCode::OK {
        bail!("the sign-in page answered {}", page.status());
    }
    let csrf_token = csrf_token(&page.text().await?).context("no anti-CSRF token on the sign-in page")?;
    let form =
        [("csrf_token", csrf_token.as_str()), ("name", email.split('@').next().unwrap_or(email)), ("email", email)];
    let answer = browser.post(auth.join("/signin/dev")?).form(&form).send().await?;
    if answer.status() != StatusCode::SEE_OTHER {
        bail!("the dev sign-in answered {}", answer.status());
    }
    let location = answer.headers().get("location").context("a redirect without Location")?.to_str()?;
    let location = Url::parse(location)?;
    let code = location.query_pairs().find(|(k, _)| k == "code").context("no code in the redirect")?.1.into_owned();

    let token = browser
        .post(auth.join("/oauth/token")?)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    if token.status() != StatusCode::OK {
        bail!("the token request answered {}", token.status());
    }
    let body: serde_json::Value = token.json().await?;
    body["access_token"].as_str().map(str::to_owned).context("no access_token in the token answer")
}

/// The value of the sign-in page's hidden `csrf_token` input, which its forms send back
/// (the person's consent).
fn csrf_token(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker)? + marker.len();
    Some(html[at..at + html[at..].find('"')?].to_owned())
}

/// `POST /oauth/revoke` (RFC 7009), as the desktop's sign-out sends it.
pub async fn revoke(auth: &Url, token: &str) -> anyhow::Result<()> {
    let answer = Client::new()
        .post(auth.join("/oauth/revoke")?)
        .form(&[("token", token), ("client_id", CLIENT_ID)])
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    if answer.status() != StatusCode::OK {
        bail!("the revocation answered {}", answer.status());
    }
    Ok(())
}
