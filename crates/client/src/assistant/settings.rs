//! Which assistant a user chose, and the API keys it needs.
//!
//! The choice (provider, model, base URL) is no secret: `assistant.json` in the
//! Superset home. Keys are: they go to the OS keyring (service `superset`), or, where
//! none is reachable, to a file readable by the user only, as the token store does.
//! They are never written to a session, a log or the settings file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use super::anthropic::{self, Anthropic};
use super::echo::{self, Echo};
use super::openai::{self, OpenAi};
use super::Provider;
use crate::token_store::atomic_file;
use crate::token_store::KEYRING_SERVICE;

const SETTINGS_FILE: &str = "assistant.json";
const KEYS_DIR: &str = "api-keys";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ProviderKind {
    #[default]
    Echo,
    Anthropic,
    Openai,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [ProviderKind::Echo, ProviderKind::Anthropic, ProviderKind::Openai];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Echo => "echo",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Openai => "openai",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        Self::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The model used when the settings name none.
    pub fn default_model(self) -> &'static str {
        match self {
            ProviderKind::Echo => echo::MODEL,
            ProviderKind::Anthropic => anthropic::DEFAULT_MODEL,
            ProviderKind::Openai => openai::DEFAULT_MODEL,
        }
    }

    /// The API root used when the settings name none; the echo assistant has none.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Echo => None,
            ProviderKind::Anthropic => Some(anthropic::DEFAULT_BASE_URL),
            ProviderKind::Openai => Some(openai::DEFAULT_BASE_URL),
        }
    }

    /// Whether replies need a key (local OpenAI-compatible servers take none).
    pub fn needs_key(self) -> bool {
        self == ProviderKind::Anthropic
    }

    /// The base URL to call: `base_url`, else the default, checked to be http(s).
    /// The base URL to join API paths to, ending in `/` however it was typed: without
    /// it, `http://localhost:11434/v1` would join `models` as `/models`, not `/v1/models`.
    pub fn base_url(self, base_url: Option<&str>) -> Result<Url, SettingsError> {
        let url = base_url.or(self.default_base_url()).unwrap_or_default();
        let mut parsed = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| SettingsError::BadBaseUrl(url.to_owned()))?;
        if !parsed.path().ends_with('/') {
            parsed.set_path(&format!("{}/", parsed.path()));
        }
        Ok(parsed)
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key. It prints as `***`, and its memory is wiped when dropped.
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(Zeroizing::new(key.into().trim().to_owned()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, to tell keys apart on screen; none for a key so short
    /// that four characters would give much of it away.
    pub fn ending(&self) -> Option<String> {
        let chars: Vec<char> = self.0.chars().collect();
        (chars.len() >= 16).then(|| chars[chars.len() - 4..].iter().collect())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("no API key for {0}: set one with `superset config set-key {0}`")]
    NoKey(ProviderKind),
    #[error("the base URL {0:?} is not an http(s) URL")]
    BadBaseUrl(String),
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The user's choice of assistant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    #[serde(default)]
    pub provider: ProviderKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl Settings {
    /// The saved settings; the defaults (echo) when there are none or they are
    /// unreadable (with a warning), so the app always has an assistant.
    pub fn load(home: &Path) -> Settings {
        let path = home.join(SETTINGS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "unreadable assistant settings; using the defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    pub fn save(&self, home: &Path) -> Result<(), SettingsError> {
        let path = home.join(SETTINGS_FILE);
        let bytes = serde_json::to_vec_pretty(self).expect("settings serialize");
        atomic_file::private_dir(home)
            .and_then(|()| atomic_file::write(&path, &bytes))
            .map_err(|source| SettingsError::Io { path, source })
    }

    /// The provider these settings describe, with its key from `keys`.
    pub fn provider(&self, keys: &ApiKeys) -> Result<Box<dyn Provider>, SettingsError> {
        let kind = self.provider;
        let model = self.model.as_deref().unwrap_or(kind.default_model());
        Ok(match kind {
            ProviderKind::Echo => Box::new(Echo::default()),
            ProviderKind::Anthropic => {
                let key = keys.get(kind).ok_or(SettingsError::NoKey(kind))?;
                Box::new(Anthropic::new(kind.base_url(self.base_url.as_deref())?, key, model))
            }
            ProviderKind::Openai => {
                Box::new(OpenAi::new(kind.base_url(self.base_url.as_deref())?, keys.get(kind), model))
            }
        })
    }
}

/// Where a key was put.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPlace {
    Keyring,
    /// No keyring answered: kept in this file, mode 0600.
    File(PathBuf),
}

/// API keys of the user whose Superset home this is. Keyring calls block (D-Bus on
/// Linux): async callers run them off the runtime.
pub struct ApiKeys {
    home: PathBuf,
}

impl ApiKeys {
    pub fn new(home: impl Into<PathBuf>) -> Self {
        ApiKeys { home: home.into() }
    }

    pub fn get(&self, kind: ProviderKind) -> Option<ApiKey> {
        self.find(kind).map(|(key, _)| key)
    }

    /// The key and where it is kept: the keyring first, then the file.
    pub fn find(&self, kind: ProviderKind) -> Option<(ApiKey, KeyPlace)> {
        let in_file = || self.read_file(kind).map(|key| (key, KeyPlace::File(self.file(kind))));
        match self.entry(kind).and_then(|e| e.get_password()) {
            Ok(key) => Some((ApiKey::new(key), KeyPlace::Keyring)),
            Err(keyring::Error::NoEntry) => in_file(),
            Err(e) => {
                tracing::debug!(error = %e, "keyring unreachable; looking for the key file");
                in_file()
            }
        }
    }

    pub fn set(&self, kind: ProviderKind, key: &ApiKey) -> Result<KeyPlace, SettingsError> {
        match self.entry(kind).and_then(|e| e.set_password(key.expose())) {
            Ok(()) => {
                self.remove_file(kind)?;
                Ok(KeyPlace::Keyring)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no OS keyring reachable: keeping the API key in a file only you can read");
                let path = self.file(kind);
                atomic_file::private_dir(&self.home.join(KEYS_DIR))
                    .and_then(|()| atomic_file::write(&path, key.expose().as_bytes()))
                    .map_err(|source| SettingsError::Io { path: path.clone(), source })?;
                Ok(KeyPlace::File(path))
            }
        }
    }

    pub fn delete(&self, kind: ProviderKind) -> Result<(), SettingsError> {
        if let Ok(entry) = self.entry(kind) {
            let _ = entry.delete_credential();
        }
        self.remove_file(kind)
    }

    /// One keyring entry per home and provider, so profiles never share keys.
    fn entry(&self, kind: ProviderKind) -> keyring::Result<keyring::Entry> {
        let home = std::path::absolute(&self.home).unwrap_or_else(|_| self.home.clone());
        keyring::Entry::new(KEYRING_SERVICE, &format!("api-key:{kind}:{}", home.display()))
    }

    fn file(&self, kind: ProviderKind) -> PathBuf {
        self.home.join(KEYS_DIR).join(kind.as_str())
    }

    fn read_file(&self, kind: ProviderKind) -> Option<ApiKey> {
        let key = Zeroizing::new(std::fs::read_to_string(self.file(kind)).ok()?);
        Some(ApiKey::new(key.as_str())).filter(|k| !k.expose().is_empty())
    }

    fn remove_file(&self, kind: ProviderKind) -> Result<(), SettingsError> {
        let path = self.file(kind);
        atomic_file::remove(&path).map_err(|source| SettingsError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_joins_paths_below_it_with_or_without_its_last_slash() {
        for typed in ["http://localhost:11434/v1", "http://localhost:11434/v1/"] {
            let base = ProviderKind::Openai.base_url(Some(typed)).unwrap();
            assert_eq!(base.join("models").unwrap().as_str(), "http://localhost:11434/v1/models", "{typed}");
        }
        let anthropic = ProviderKind::Anthropic.base_url(None).unwrap();
        assert_eq!(anthropic.join("v1/messages").unwrap().as_str(), "https://api.anthropic.com/v1/messages");
        assert!(ProviderKind::Openai.base_url(Some("ftp://x/v1")).is_err());
    }

    #[test]
    fn keys_never_print() {
        let key = ApiKey::new("sk-secret-123");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        assert!(!format!("{:?}", Some(key)).contains("secret"));
    }

    #[test]
    fn settings_round_trip_and_default_to_echo() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(Settings::load(home.path()), Settings::default());
        let settings = Settings {
            provider: ProviderKind::Openai,
            model: Some("llama3".into()),
            base_url: Some("http://127.0.0.1:11434/v1".into()),
        };
        settings.save(home.path()).unwrap();
        assert_eq!(Settings::load(home.path()), settings);
        std::fs::write(home.path().join(SETTINGS_FILE), b"{garbage").unwrap();
        assert_eq!(Settings::load(home.path()).provider, ProviderKind::Echo);
    }

    #[test]
    fn anthropic_without_a_key_says_how_to_set_one() {
        let home = tempfile::tempdir().unwrap();
        let settings = Settings { provider: ProviderKind::Anthropic, ..Settings::default() };
        let error = settings.provider(&ApiKeys::new(home.path())).err().unwrap();
        assert!(error.to_string().contains("superset config set-key anthropic"), "{error}");
    }
}
