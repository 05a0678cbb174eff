//! Which upstream provider a sign-in goes through: shared by the sign-in flow, the
//! provider clients (`upstream`) and what a sign-in in progress stores (`pending`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderId {
    Github,
    Google,
    Oidc,
}

impl ProviderId {
    /// The name in URLs and in `auth.accounts.provider_id` (better-auth's names).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderId::Github => "github",
            ProviderId::Google => "google",
            ProviderId::Oidc => "oidc",
        }
    }

    pub fn from_path(name: &str) -> Option<Self> {
        [ProviderId::Github, ProviderId::Google, ProviderId::Oidc].into_iter().find(|p| p.as_str() == name)
    }
}
