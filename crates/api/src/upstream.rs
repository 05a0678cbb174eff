//! Signing people in at an upstream provider: GitHub (OAuth 2.0 plus its REST API),
//! Google and any OpenID Connect issuer (discovery, ID-token validation with nonce).
//! Each provider sends the browser away with an authorization URL and turns the code
//! it comes back with into an [`Identity`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{AccessTokenHash, IssuerUrl, Nonce, TokenResponse as _};
use serde::Deserialize;
use url::Url;

use crate::config::{ClientCredentials, Providers};
use crate::pending::UpstreamLeg;
use crate::provider::ProviderId;

/// How long discovered provider metadata (endpoints, signing keys) is reused.
const METADATA_TTL: Duration = Duration::from_secs(10 * 60);

/// How long any one call to a provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GITHUB_AUTHORIZE_URL: &str = "https://github.com/login/oauth/authorize";
const GITHUB_TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
const GITHUB_API: &str = "https://api.github.com";

/// Who the provider says signed in.
#[derive(Clone, Debug)]
pub struct Identity {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the provider: {0}")]
    Unreachable(String),
    #[error("OpenID Connect discovery failed: {0}")]
    Discovery(String),
    #[error("the provider refused the code: {0}")]
    Exchange(String),
    #[error("the provider answered without an ID token")]
    NoIdToken,
    #[error("the ID token is not valid: {0}")]
    InvalidIdToken(String),
    #[error("reading the user's profile failed: {0}")]
    Profile(String),
    #[error("the provider did not share an email address")]
    NoEmail,
}

/// The configured providers and the HTTP client that talks to them.
pub struct Upstreams {
    http: reqwest::Client,
    github: Option<ClientCredentials>,
    google: Option<Oidc>,
    oidc: Option<Oidc>,
}

impl Upstreams {
    pub fn new(providers: &Providers) -> Self {
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer steer our requests (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("superset-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS backend initialises");
        Upstreams {
            http,
            github: providers.github.clone(),
            google: providers.google.clone().map(|c| Oidc::new(GOOGLE_ISSUER.to_owned(), c)),
            oidc: providers.oidc.clone().map(|(issuer, c)| Oidc::new(issuer, c)),
        }
    }

    /// The configured providers, in the order the sign-in page lists them.
    pub fn configured(&self) -> Vec<ProviderId> {
        let mut ids = Vec::new();
        if self.github.is_some() {
            ids.push(ProviderId::Github);
        }
        if self.google.is_some() {
            ids.push(ProviderId::Google);
        }
        if self.oidc.is_some() {
            ids.push(ProviderId::Oidc);
        }
        ids
    }

    /// How the sign-in page names a provider.
    pub fn label(&self, id: ProviderId) -> String {
        match id {
            ProviderId::Github => "GitHub".to_owned(),
            ProviderId::Google => "Google".to_owned(),
            ProviderId::Oidc => self
                .oidc
                .as_ref()
                .and_then(|o| Url::parse(&o.issuer).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| "single sign-on".to_owned()),
        }
    }

    /// The issuer an OpenID Connect provider names itself with, for the `iss` check on
    /// its answers (RFC 9207).
    pub fn issuer(&self, id: ProviderId) -> Option<&str> {
        self.oidc_for(id).map(|o| o.issuer.as_str())
    }

    pub fn is_configured(&self, id: ProviderId) -> bool {
        self.configured().contains(&id)
    }

    /// Where to send the browser, and what will check its return.
    pub async fn authorize_url(
        &self,
        id: ProviderId,
        redirect: &RedirectUrl,
    ) -> Result<(Url, UpstreamLeg), UpstreamError> {
        match (id, &self.github, self.oidc_for(id)) {
            (ProviderId::Github, Some(github), _) => Ok(github_authorize_url(github, redirect)),
            (_, _, Some(oidc)) => oidc.authorize_url(&self.http, id, redirect).await,
            _ => Err(UpstreamError::Discovery(format!("{} is not configured", id.as_str()))),
        }
    }

    /// Exchanges the code the browser came back with and reads who signed in.
    pub async fn identify(
        &self,
        leg: &UpstreamLeg,
        redirect: &RedirectUrl,
        code: String,
    ) -> Result<Identity, UpstreamError> {
        match (leg.provider, &self.github, self.oidc_for(leg.provider)) {
            (ProviderId::Github, Some(github), _) => github_identify(&self.http, github, leg, redirect, code).await,
            (_, _, Some(oidc)) => oidc.identify(&self.http, leg, redirect, code).await,
            _ => Err(UpstreamError::Discovery(format!("{} is not configured", leg.provider.as_str()))),
        }
    }

    fn oidc_for(&self, id: ProviderId) -> Option<&Oidc> {
        match id {
            ProviderId::Google => self.google.as_ref(),
            ProviderId::Oidc => self.oidc.as_ref(),
            ProviderId::Github => None,
        }
    }
}

/// An OpenID Connect provider found through discovery.
struct Oidc {
    issuer: String,
    credentials: ClientCredentials,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

impl Oidc {
    fn new(issuer: String, credentials: ClientCredentials) -> Self {
        Oidc { issuer, credentials, metadata: Mutex::new(None) }
    }

    /// Discovers lazily, so the server starts while a provider is down, and again every
    /// few minutes, so rotated signing keys are picked up.
    async fn client(
        &self,
        http: &reqwest::Client,
        redirect: &RedirectUrl,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        UpstreamError,
    > {
        let cached = self.metadata.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let metadata = match cached {
            Some((at, metadata)) if at.elapsed() < METADATA_TTL => metadata,
            _ => {
                let issuer =
                    IssuerUrl::new(self.issuer.clone()).map_err(|e| UpstreamError::Discovery(e.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, http)
                    .await
                    .map_err(|e| UpstreamError::Discovery(error_chain(&e)))?;
                *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), metadata.clone()));
                metadata
            }
        };
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.credentials.client_id.clone()),
            Some(ClientSecret::new(self.credentials.client_secret.expose().to_owned())),
        )
        .set_redirect_uri(redirect.clone()))
    }

    async fn authorize_url(
        &self,
        http: &reqwest::Client,
        provider: ProviderId,
        redirect: &RedirectUrl,
    ) -> Result<(Url, UpstreamLeg), UpstreamError> {
        let client = self.client(http, redirect).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let leg = UpstreamLeg {
            provider,
            state: state.into_secret(),
            nonce: Some(nonce.secret().clone()),
            pkce_verifier: verifier.into_secret(),
        };
        Ok((url, leg))
    }

    async fn identify(
        &self,
        http: &reqwest::Client,
        leg: &UpstreamLeg,
        redirect: &RedirectUrl,
        code: String,
    ) -> Result<Identity, UpstreamError> {
        let client = self.client(http, redirect).await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| UpstreamError::Discovery(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(leg.pkce_verifier.clone()))
            .request_async(http)
            .await
            .map_err(|e| UpstreamError::Exchange(error_chain(&e)))?;
        let id_token = token.id_token().ok_or(UpstreamError::NoIdToken)?;
        let verifier = client.id_token_verifier();
        let nonce = Nonce::new(leg.nonce.clone().unwrap_or_default());
        let claims = id_token.claims(&verifier, &nonce).map_err(|e| UpstreamError::InvalidIdToken(e.to_string()))?;
        if let Some(expected) = claims.access_token_hash() {
            let invalid = |e: &dyn std::fmt::Display| UpstreamError::InvalidIdToken(e.to_string());
            let alg = id_token.signing_alg().map_err(|e| invalid(&e))?;
            let key = id_token.signing_key(&verifier).map_err(|e| invalid(&e))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key).map_err(|e| invalid(&e))?;
            if actual != *expected {
                return Err(UpstreamError::InvalidIdToken("at_hash does not match the access token".to_owned()));
            }
        }
        let subject = claims.subject().clone();
        let mut identity = Identity {
            account_id: subject.to_string(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()).unwrap_or_default(),
            email: claims.email().map(|e| e.to_string()).unwrap_or_default(),
            email_verified: claims.email_verified().unwrap_or(false),
            image: claims.picture().and_then(|p| p.get(None)).map(|p| p.to_string()),
        };
        // Strict providers keep profile claims out of the ID token of a code flow and
        // serve them from the userinfo endpoint instead.
        if identity.email.is_empty() {
            let info: CoreUserInfoClaims = client
                .user_info(token.access_token().clone(), Some(subject))
                .map_err(|e| UpstreamError::Profile(e.to_string()))?
                .request_async(http)
                .await
                .map_err(|e| UpstreamError::Profile(error_chain(&e)))?;
            identity.email = info.email().map(|e| e.to_string()).unwrap_or_default();
            identity.email_verified = info.email_verified().unwrap_or(false);
            if identity.name.is_empty() {
                identity.name = info.name().and_then(|n| n.get(None)).map(|n| n.to_string()).unwrap_or_default();
            }
            if identity.image.is_none() {
                identity.image = info.picture().and_then(|p| p.get(None)).map(|p| p.to_string());
            }
        }
        complete(identity)
    }
}

fn github_client(
    github: &ClientCredentials,
    redirect: &RedirectUrl,
) -> BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(github.client_id.clone()))
        .set_client_secret(ClientSecret::new(github.client_secret.expose().to_owned()))
        .set_auth_uri(AuthUrl::new(GITHUB_AUTHORIZE_URL.to_owned()).expect("constant URL"))
        .set_token_uri(TokenUrl::new(GITHUB_TOKEN_URL.to_owned()).expect("constant URL"))
        .set_redirect_uri(redirect.clone())
}

fn github_authorize_url(github: &ClientCredentials, redirect: &RedirectUrl) -> (Url, UpstreamLeg) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = github_client(github, redirect)
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read:user".to_owned()))
        .add_scope(Scope::new("user:email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let leg = UpstreamLeg {
        provider: ProviderId::Github,
        state: state.into_secret(),
        nonce: None,
        pkce_verifier: verifier.into_secret(),
    };
    (url, leg)
}

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

async fn github_identify(
    http: &reqwest::Client,
    github: &ClientCredentials,
    leg: &UpstreamLeg,
    redirect: &RedirectUrl,
    code: String,
) -> Result<Identity, UpstreamError> {
    let token = github_client(github, redirect)
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(leg.pkce_verifier.clone()))
        .request_async(http)
        .await
        .map_err(|e| UpstreamError::Exchange(error_chain(&e)))?;
    let access = token.access_token().secret();
    let user: GithubUser = github_get(http, access, "/user").await?;
    let emails: Vec<GithubEmail> = github_get(http, access, "/user/emails").await?;
    let email = emails.iter().find(|e| e.primary && e.verified).or_else(|| emails.iter().find(|e| e.primary));
    complete(Identity {
        account_id: user.id.to_string(),
        name: user.name.filter(|n| !n.trim().is_empty()).unwrap_or(user.login),
        email: email.map(|e| e.email.clone()).unwrap_or_default(),
        email_verified: email.is_some_and(|e| e.verified),
        image: user.avatar_url,
    })
}

async fn github_get<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    access: &str,
    path: &str,
) -> Result<T, UpstreamError> {
    let response = http
        .get(format!("{GITHUB_API}{path}"))
        .bearer_auth(access)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .send()
        .await
        .map_err(|e| UpstreamError::Unreachable(error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(UpstreamError::Profile(format!("GET {path} answered {}", response.status())));
    }
    response.json().await.map_err(|e| UpstreamError::Profile(format!("GET {path}: {e}")))
}

/// An identity we can make a user of: an email (lowercased, as better-auth keeps
/// them) and a name (the email's local part if the provider gave none).
fn complete(mut identity: Identity) -> Result<Identity, UpstreamError> {
    identity.email = identity.email.trim().to_lowercase();
    if identity.email.is_empty() {
        return Err(UpstreamError::NoEmail);
    }
    if identity.name.trim().is_empty() {
        identity.name = identity.email.split('@').next().unwrap_or_default().to_owned();
    }
    Ok(identity)
}

/// An error and its causes on one line (reqwest and oauth2 keep the useful part in
/// the source chain). None of them carries a secret: request bodies are not included.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
